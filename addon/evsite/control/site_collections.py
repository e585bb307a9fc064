"""The id-keyed collections of a site (panels, chargers, groups, delay windows).

Each :class:`Collection` says where its entities live in a :class:`SiteConfig`
and in the normalised site dict, how to persist one, and what depends on one,
so :class:`evsite.control.site_service.SiteService` handles them all alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.build import charger_dict, delay_window_dict, panel_dict
from evsite.config.models import Charger, DelayWindow, DriverGroup, Panel, SiteConfig


class HasId(Protocol):
    """Any site entity: it has an id."""

    @property
    def id(self) -> str:
        """The entity's id."""
        ...


T = TypeVar("T", bound=HasId)


def _no_dependents(config: SiteConfig, entity_id: str) -> str:
    return ""


def _keep(body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    return dict(body)


@dataclass(frozen=True, slots=True)
class Collection(Generic[T]):
    """Where one kind of entity lives and how it is stored."""

    key: str
    kind: str
    items: Callable[[SiteConfig], tuple[T, ...]]
    to_dict: Callable[[T], dict[str, Any]]
    upsert: Callable[[SiteRepository, T], Awaitable[None]]
    delete: Callable[[SiteRepository, str], Awaitable[None]]
    dependents: Callable[[SiteConfig, str], str] = _no_dependents
    clean_input: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]] = (
        _keep
    )

    def id_of(self, item: T) -> str:
        """The entity's id."""
        return item.id

    def find(self, config: SiteConfig, entity_id: str) -> T | None:
        """The entity with this id in ``config``, if any."""
        return next((i for i in self.items(config) if i.id == entity_id), None)


def _quoted(ids: list[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids)


def _panel_dependents(config: SiteConfig, panel_id: str) -> str:
    panels = [p.id for p in config.panels if p.parent == panel_id]
    chargers = [c.id for c in config.chargers if c.parent == panel_id]
    parts = []
    if panels:
        parts.append(f"child panels {_quoted(panels)}")
    if chargers:
        parts.append(f"chargers {_quoted(chargers)}")
    return " and ".join(parts)


def _group_dependents(config: SiteConfig, group_id: str) -> str:
    chargers = [c.id for c in config.chargers if group_id in c.driver_groups]
    return f"chargers {_quoted(chargers)}" if chargers else ""


# Fields a client may send back from a GET that are not part of the input.
CHARGER_READ_ONLY = ("live", "has_password")


def _charger_input(
    body: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """Drop read-only fields; keep the stored password hash unless one is sent."""
    cleaned = {k: v for k, v in body.items() if k not in CHARGER_READ_ONLY}
    if current is not None and "password_hash" not in cleaned:
        # Responses never show the hash, so a GET-edit-PUT must not erase it.
        cleaned["password_hash"] = current.get("password_hash")
    return cleaned


def group_dict(group: DriverGroup) -> dict[str, Any]:
    """The normalised dict of a driver group."""
    return {"id": group.id, "name": group.name, "description": group.description}


PANELS: Collection[Panel] = Collection(
    key="panels",
    kind="panel",
    items=lambda c: c.panels,
    to_dict=panel_dict,
    upsert=lambda repo, p: repo.upsert_panel(p),
    delete=lambda repo, i: repo.delete_panel(i),
    dependents=_panel_dependents,
)
CHARGERS: Collection[Charger] = Collection(
    key="chargers",
    kind="charger",
    items=lambda c: c.chargers,
    to_dict=charger_dict,
    upsert=lambda repo, c: repo.upsert_charger(c),
    delete=lambda repo, i: repo.delete_charger(i),
    clean_input=_charger_input,
)
DRIVER_GROUPS: Collection[DriverGroup] = Collection(
    key="driver_groups",
    kind="driver group",
    items=lambda c: c.driver_groups,
    to_dict=group_dict,
    upsert=lambda repo, g: repo.upsert_driver_group(g),
    delete=lambda repo, i: repo.delete_driver_group(i),
    dependents=_group_dependents,
)
DELAY_WINDOWS: Collection[DelayWindow] = Collection(
    key="delay_windows",
    kind="delay window",
    items=lambda c: c.delay_windows,
    to_dict=delay_window_dict,
    upsert=lambda repo, w: repo.upsert_delay_window(w),
    delete=lambda repo, i: repo.delete_delay_window(i),
)
