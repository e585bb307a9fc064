"""The running service's shared objects, passed explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evsite.config.models import ServiceSettings, SiteConfig
from evsite.control.clock import Clock
from evsite.control.events import Event, EventBus, EventKind
from evsite.control.live import LiveState

if TYPE_CHECKING:
    from evsite.adapters.storage.db import Database
    from evsite.adapters.storage.site_repo import SiteRepository


@dataclass(slots=True)
class SiteHolder:
    """The site configuration in force; replaced atomically after every write."""

    config: SiteConfig
    version: int = 1

    def replace(self, config: SiteConfig, bus: EventBus, clock: Clock) -> None:
        """Swap in a validated config and announce the change."""
        self.config = config
        self.version += 1
        bus.publish(
            Event(EventKind.CONFIG_CHANGED, clock.now(), data={"version": self.version})
        )


@dataclass(slots=True)
class Services:
    """Everything a component needs; each subsystem adds its own field."""

    settings: ServiceSettings
    data_dir: Path
    db: Database
    sites: SiteRepository
    site: SiteHolder
    bus: EventBus
    live: LiveState
    clock: Clock
    token: str
    components: dict[str, object] = field(default_factory=dict)
