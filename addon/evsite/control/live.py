"""Live state of the site: what chargers, connectors and meters report now.

The OCPP adapter writes it, the control loop reads it to build allocation
snapshots, MQTT and the web layer publish it. It is in-memory only; what must
survive a restart (sessions, meter values) is persisted by the adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ConnectorStatus(StrEnum):
    """Connector status normalised across OCPP 1.6 and 2.0.1."""

    AVAILABLE = "available"
    PREPARING = "preparing"
    CHARGING = "charging"
    SUSPENDED_EV = "suspended_ev"
    SUSPENDED_EVSE = "suspended_evse"
    FINISHING = "finishing"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"

    @property
    def plugged_in(self) -> bool:
        """An EV is connected to the port."""
        return self in _PLUGGED


_PLUGGED = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
        ConnectorStatus.OCCUPIED,
    }
)


class ChargerLink(StrEnum):
    """Connection state of a charger to evsite (SPEC §6)."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNREACHABLE = "unreachable"
    PENDING = "pending"


@dataclass(slots=True)
class ConnectorState:
    """What one connector reports, and what evsite has decided for it."""

    connector_id: int
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    error_code: str | None = None
    vendor_error_code: str | None = None
    transaction_id: str | None = None
    session_id: int | None = None
    id_tag: str | None = None
    session_started_at: datetime | None = None
    session_energy_wh: float = 0.0
    meter_wh: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)
    power_w: float | None = None
    last_meter_at: datetime | None = None
    limit_a: float | None = None
    reason: str | None = None
    charge_now: bool = False
    delayed_until: datetime | None = None
    # The charger's own load shed (OCPP 2.0.1 NotifyChargingLimit from an EMS
    # or the grid operator): source -> since. Not evsite's shedding, which is
    # the reason ``load_shed`` on evsite's limit.
    load_shed_sources: dict[str, datetime] = field(default_factory=dict)

    @property
    def load_shed(self) -> bool:
        """The charger reports that something other than evsite limits this port."""
        return bool(self.load_shed_sources)

    @property
    def load_shed_source(self) -> str | None:
        """Who set the newest limit in force (EMS, SO, Other), else None."""
        if not self.load_shed_sources:
            return None
        return max(self.load_shed_sources.items(), key=lambda kv: kv[1])[0]

    @property
    def load_shed_since(self) -> datetime | None:
        """Since when the port has been load shed (the earliest limit in force)."""
        return min(self.load_shed_sources.values(), default=None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "connector_id": self.connector_id,
            "status": self.status.value,
            "error_code": self.error_code,
            "vendor_error_code": self.vendor_error_code,
            "transaction_id": self.transaction_id,
            "session_id": self.session_id,
            "id_tag": self.id_tag,
            "session_started_at": _iso(self.session_started_at),
            "session_energy_wh": self.session_energy_wh,
            "meter_wh": self.meter_wh,
            "current_a": dict(self.current_a),
            "drawn_a": max(self.current_a.values(), default=0.0),
            "power_w": self.power_w,
            "last_meter_at": _iso(self.last_meter_at),
            "limit_a": self.limit_a,
            "reason": self.reason,
            "charge_now": self.charge_now,
            "delayed_until": _iso(self.delayed_until),
            "load_shed": self.load_shed,
            "load_shed_source": self.load_shed_source,
            "load_shed_since": _iso(self.load_shed_since),
        }


@dataclass(slots=True)
class ChargerState:
    """What one charger reports."""

    charger_id: str
    link: ChargerLink = ChargerLink.DISCONNECTED
    ocpp_version: str | None = None
    last_seen: datetime | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    controllable: bool = True
    maintenance: bool = False
    connectors: dict[int, ConnectorState] = field(default_factory=dict)

    def connector(self, connector_id: int) -> ConnectorState:
        """The connector's state, created on first use."""
        state = self.connectors.get(connector_id)
        if state is None:
            state = self.connectors[connector_id] = ConnectorState(connector_id)
        return state

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "charger_id": self.charger_id,
            "link": self.link.value,
            "ocpp_version": self.ocpp_version,
            "last_seen": _iso(self.last_seen),
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "controllable": self.controllable,
            "maintenance": self.maintenance,
            "connectors": [
                c.as_dict() for _, c in sorted(self.connectors.items())
            ],
        }


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One panel-meter reading: amps per phase (``"L1"``..), taken at ``at``."""

    at: datetime
    current_a: dict[str, float]
    power_w: float | None = None


class LiveState:
    """All live state, with change listeners (no I/O)."""

    def __init__(self) -> None:
        """Start empty."""
        self.chargers: dict[str, ChargerState] = {}
        self.meters: dict[str, MeterSample] = {}
        self._listeners: list[Callable[[str, str], None]] = []

    def charger(self, charger_id: str) -> ChargerState:
        """The charger's state, created on first use."""
        state = self.chargers.get(charger_id)
        if state is None:
            state = self.chargers[charger_id] = ChargerState(charger_id)
        return state

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        """Call ``listener(kind, id)`` after a change; kind is charger or panel."""
        self._listeners.append(listener)

    def changed(self, kind: str, entity_id: str) -> None:
        """Tell listeners that an entity changed (writers call this)."""
        for listener in list(self._listeners):
            listener(kind, entity_id)

    def record_meter(self, panel_id: str, sample: MeterSample) -> None:
        """Store a panel meter sample and notify."""
        self.meters[panel_id] = sample
        self.changed("panel", panel_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
