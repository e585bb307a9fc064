"""MQTT topic names under ``<base_topic>/<site_id>/`` (pure; SPEC §11.3, §12.1).

Every topic evsite publishes or listens to is built here, so the publisher,
the discovery payloads, the docs and the blueprints cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from evsite.config.models import MqttSettings

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


class CommandKind(StrEnum):
    """What a ``…/set`` topic asks for."""

    CHARGER_ENABLE = "charger_enable"
    CONNECTOR_LIMIT = "connector_limit"
    CHARGE_NOW = "charge_now"
    SHED_LEVEL = "shed_level"
    WAITLIST_JOIN = "waitlist_join"
    WAITLIST_LEAVE = "waitlist_leave"


@dataclass(frozen=True, slots=True)
class CommandTopic:
    """A parsed command topic: what it asks for, and for which charger/connector."""

    kind: CommandKind
    charger_id: str | None = None
    connector_id: str | None = None


def object_id(*parts: str) -> str:
    """A discovery-safe id (``[A-Za-z0-9_-]``) joined from ``parts`` with ``_``."""
    return "_".join(_UNSAFE_ID.sub("_", part) for part in parts)


@dataclass(frozen=True, slots=True)
class Topics:
    """All topics of one site."""

    base: str
    discovery_prefix: str = "homeassistant"

    @classmethod
    def for_site(cls, settings: MqttSettings, site_id: str) -> Topics:
        """Topics for ``site_id`` under the configured base topic and prefix."""
        base = f"{settings.base_topic.strip('/')}/{site_id}"
        return cls(base=base, discovery_prefix=settings.discovery_prefix.strip("/"))

    # -- published -------------------------------------------------------------

    @property
    def availability(self) -> str:
        """``online`` / ``offline`` (retained; ``offline`` is the last will)."""
        return f"{self.base}/availability"

    @property
    def site_state(self) -> str:
        """Retained JSON state of the whole site."""
        return f"{self.base}/site/state"

    @property
    def error(self) -> str:
        """Non-retained JSON answer to a rejected command."""
        return f"{self.base}/error"

    def panel_state(self, panel_id: str) -> str:
        """Retained JSON state of one panel."""
        return f"{self.base}/panels/{panel_id}/state"

    def charger_state(self, charger_id: str) -> str:
        """Retained JSON state of one charger."""
        return f"{self.base}/chargers/{charger_id}/state"

    def connector_state(self, charger_id: str, connector_id: int) -> str:
        """Retained JSON state of one connector."""
        return f"{self.base}/chargers/{charger_id}/connectors/{connector_id}/state"

    def event(self, kind: str) -> str:
        """Non-retained QoS 1 event of one kind (e.g. ``waitlist_turn``)."""
        return f"{self.base}/events/{kind}"

    # -- commands --------------------------------------------------------------

    def charger_enable_set(self, charger_id: str) -> str:
        """Enable (``ON``) or disable (``OFF``) a charger."""
        return f"{self.base}/chargers/{charger_id}/enabled/set"

    def connector_limit_set(self, charger_id: str, connector_id: int) -> str:
        """Operator current cap for a connector, in A."""
        return f"{self.base}/chargers/{charger_id}/connectors/{connector_id}/limit/set"

    def charge_now_set(self, charger_id: str, connector_id: int) -> str:
        """Charge now (bypass the delay window) for a connector's session."""
        connector = f"{self.base}/chargers/{charger_id}/connectors/{connector_id}"
        return f"{connector}/charge_now/set"

    @property
    def shed_level_set(self) -> str:
        """External shed level for the site."""
        return f"{self.base}/site/shed_level/set"

    @property
    def waitlist_join_set(self) -> str:
        """Put a driver in a charger's or a group's queue."""
        return f"{self.base}/waitlist/join/set"

    @property
    def waitlist_leave_set(self) -> str:
        """Take a driver out of their queue."""
        return f"{self.base}/waitlist/leave/set"

    @property
    def command_filters(self) -> tuple[str, ...]:
        """Subscription filters covering every command topic (and nothing else)."""
        b = self.base
        return (
            f"{b}/chargers/+/enabled/set",
            f"{b}/chargers/+/connectors/+/+/set",
            f"{b}/site/+/set",
            f"{b}/waitlist/+/set",
        )

    # -- Home Assistant --------------------------------------------------------

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth/last-will topic (``online`` after HA starts)."""
        return f"{self.discovery_prefix}/status"

    def discovery_config(self, device_object_id: str) -> str:
        """Device-based discovery config topic."""
        return f"{self.discovery_prefix}/device/{device_object_id}/config"

    def parse_command(self, topic: str) -> CommandTopic | None:
        """Recognise a command topic; None when it is not one of ours."""
        prefix = self.base + "/"
        if not topic.startswith(prefix) or not topic.endswith("/set"):
            return None
        parts = topic[len(prefix) : -len("/set")].split("/")
        match parts:
            case ["chargers", charger_id, "enabled"]:
                return CommandTopic(CommandKind.CHARGER_ENABLE, charger_id)
            case ["chargers", charger_id, "connectors", connector_id, "limit"]:
                return CommandTopic(
                    CommandKind.CONNECTOR_LIMIT, charger_id, connector_id
                )
            case ["chargers", charger_id, "connectors", connector_id, "charge_now"]:
                return CommandTopic(CommandKind.CHARGE_NOW, charger_id, connector_id)
            case ["site", "shed_level"]:
                return CommandTopic(CommandKind.SHED_LEVEL)
            case ["waitlist", "join"]:
                return CommandTopic(CommandKind.WAITLIST_JOIN)
            case ["waitlist", "leave"]:
                return CommandTopic(CommandKind.WAITLIST_LEAVE)
        return None
