"""Version-neutral values the OCPP 1.6 and 2.0.1 adapters translate into.

A "connector" here is what evsite charges through: the 1.6 connectorId, or the
2.0.1 EVSE id (one EVSE charges one vehicle at a time). Energies are Wh,
powers W, currents A; times are aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from evsite.control.live import ConnectorStatus


class StartKind(StrEnum):
    """How a session was started; decides its number range (SPEC §3)."""

    LOCAL = "local"
    REMOTE = "remote"


# SPEC §3 / seed 003: remote starts are numbered from 1,000,000,000.
REMOTE_SESSION_BASE = 1_000_000_000


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself at boot."""

    vendor: str
    model: str
    serial: str | None = None
    firmware: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A connector (0 = the charger) status with its error, if any."""

    connector_id: int
    status: ConnectorStatus
    at: datetime
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None

    @property
    def fault(self) -> bool:
        """The report signals a fault worth an alarm."""
        return self.status is ConnectorStatus.FAULTED or (
            self.error_code is not None and self.error_code != "NoError"
        )


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One timestamped set of sampled values, reduced to what evsite uses."""

    at: datetime
    energy_wh: float | None = None
    power_w: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)
    soc: float | None = None
    context: str | None = None
    sampled: tuple[dict[str, object], ...] = ()
    digest: str = ""


@dataclass(frozen=True, slots=True)
class TxStart:
    """A transaction started on a connector."""

    connector_id: int
    at: datetime
    start_key: str
    id_tag: str | None = None
    meter_start_wh: float | None = None
    transaction_id: str | None = None
    reservation_id: int | None = None
    remote_start_id: int | None = None
    remote: bool = False


@dataclass(frozen=True, slots=True)
class TxStop:
    """A transaction stopped."""

    transaction_id: str
    at: datetime
    meter_stop_wh: float | None = None
    reason: str | None = None
    id_tag: str | None = None


@dataclass(slots=True)
class OpenSession:
    """A session evsite believes is running (in memory, mirrors the DB row)."""

    session_id: int
    charger_id: str
    connector_id: int
    transaction_id: str
    session_number: int
    started_at: datetime
    id_tag: str | None = None
    meter_start_wh: float | None = None
    last_meter_wh: float | None = None
    last_meter_at: datetime | None = None
    auth_status: str | None = None
