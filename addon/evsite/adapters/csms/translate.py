"""Pure payload <-> domain mapping for OCPP 1.6 and 2.0.1 (no I/O, no clock).

Payloads are the snake_case dicts the ``ocpp`` package hands to handlers and
accepts for calls. Timestamps from chargers are not trusted blindly: see
:func:`charger_time`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import FormatViolationError

from evsite.adapters.csms.domain import MeterReading
from evsite.control.live import ConnectorStatus
from evsite.control.ports import AuthResult, IdTagStatus

# A charger clock more than this far ahead of ours is wrong, not early.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# OCPP did not exist before this; earlier timestamps are an unset RTC.
EARLIEST_PLAUSIBLE = datetime(2010, 1, 1, tzinfo=UTC)

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
SOC = "SoC"

_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0}


class PayloadError(FormatViolationError):  # type: ignore[misc]
    """A field passed the JSON schema but makes no sense: a FormatViolation."""

    def __init__(self, field: str, message: str) -> None:
        """Name the field in the CallError details."""
        self.field = field
        super().__init__(
            description=f"{field}: {message}",
            details={"cause": f"{field}: {message}", "field": field},
        )


def parse_time(value: Any, field: str) -> datetime:
    """An OCPP ``dateTime`` as an aware UTC datetime (naive means UTC)."""
    if not isinstance(value, str) or len(value) > 40:
        raise PayloadError(field, "expected an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise PayloadError(field, f"'{value}' is not an ISO 8601 date-time") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def charger_time(value: Any, field: str, now: datetime) -> tuple[datetime, bool]:
    """A charger's timestamp, clamped to ``now`` when implausible.

    Returns the time to use and whether the charger's clock looked wrong (in the
    future, or before 2010: an unset real-time clock). Old timestamps are fine:
    a charger replays messages it queued while offline.
    """
    parsed = parse_time(value, field)
    if parsed > now + MAX_CLOCK_AHEAD or parsed < EARLIEST_PLAUSIBLE:
        return now, True
    return parsed, False


def iso(value: datetime) -> str:
    """The ISO 8601 UTC form evsite stores and sends (fixed width: sorts as text)."""
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


# Statuses

_STATUS_16 = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.PREPARING,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
    "Finishing": ConnectorStatus.FINISHING,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}
_STATUS_201 = {
    "Available": ConnectorStatus.AVAILABLE,
    "Occupied": ConnectorStatus.OCCUPIED,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}
# 2.0.1 TransactionEvent chargingState; Idle says nothing about the plug.
_CHARGING_STATE_201 = {
    "Charging": ConnectorStatus.CHARGING,
    "EVConnected": ConnectorStatus.PREPARING,
    "SuspendedEV": ConnectorStatus.SUSPENDED_EV,
    "SuspendedEVSE": ConnectorStatus.SUSPENDED_EVSE,
}


def status_16(value: str) -> ConnectorStatus:
    """OCPP 1.6 ChargePointStatus to the domain status."""
    return _STATUS_16.get(value, ConnectorStatus.UNKNOWN)


def status_201(value: str) -> ConnectorStatus:
    """OCPP 2.0.1 ConnectorStatusEnumType to the domain status."""
    return _STATUS_201.get(value, ConnectorStatus.UNKNOWN)


def charging_state_201(value: str | None) -> ConnectorStatus | None:
    """OCPP 2.0.1 ChargingStateEnumType to a status, or None (Idle/absent)."""
    return _CHARGING_STATE_201.get(value) if value else None


# Meter values


def _number(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise PayloadError(field, f"'{value}' is not a number") from err
    if not math.isfinite(number):
        raise PayloadError(field, f"'{value}' is not a finite number")
    return number


def _scaled(value: float, multiplier: int, scale: float, field: str) -> float:
    """``value`` × 10^multiplier × unit scale, refused when not finite."""
    try:
        result = value * 10.0**multiplier * scale
    except OverflowError as err:
        raise PayloadError(field, "value out of range") from err
    if not math.isfinite(result):
        raise PayloadError(field, "value out of range")
    return result


def _unit(sample: Mapping[str, Any]) -> tuple[str | None, int]:
    """Unit and power-of-ten multiplier (1.6 ``unit``; 2.0.1 ``unit_of_measure``)."""
    uom = sample.get("unit_of_measure")
    if isinstance(uom, Mapping):
        return uom.get("unit"), int(uom.get("multiplier", 0))
    return sample.get("unit"), 0


def _phase_key(phase: Any) -> str:
    """``L1``, ``L1-N`` -> ``L1``; no phase -> ``L1`` (single-phase meters)."""
    if isinstance(phase, str) and phase[:2] in ("L1", "L2", "L3"):
        return phase[:2]
    return "L1"


def meter_reading(
    meter_value: Mapping[str, Any], tx_key: str, now: datetime
) -> MeterReading:
    """Reduce one MeterValue (1.6 or 2.0.1) to energy, power, currents and SoC."""
    at, _ = charger_time(meter_value.get("timestamp"), "meterValue.timestamp", now)
    samples = meter_value.get("sampled_value") or []
    acc = _Samples()
    for index, sample in enumerate(samples):
        if sample.get("format") != "SignedData":  # opaque signed blob: kept raw
            acc.add(sample, f"meterValue.sampledValue[{index}]")
    blob = json.dumps(
        [tx_key, meter_value.get("timestamp"), samples],
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return MeterReading(
        at=at,
        energy_wh=acc.energy(),
        power_w=acc.power,
        current_a=acc.currents,
        soc=acc.soc,
        context=acc.context,
        sampled=tuple(dict(s) for s in samples),
        digest=hashlib.sha256(blob.encode()).hexdigest()[:32],
    )


class _Samples:
    """What the sampled values of one MeterValue say, by measurand."""

    def __init__(self) -> None:
        self.energy_total: float | None = None
        self.energy_phases: dict[str, float] = {}
        self.power: float | None = None
        self.currents: dict[str, float] = {}
        self.soc: float | None = None
        self.context: str | None = None

    def add(self, sample: Mapping[str, Any], field: str) -> None:
        measurand = sample.get("measurand", ENERGY)  # OCPP's default measurand
        self.context = sample.get("context", self.context)
        unit, multiplier = _unit(sample)
        value = _scaled(
            _number(sample.get("value"), f"{field}.value"),
            multiplier,
            _SCALE.get(unit or "", 1.0),
            f"{field}.value",
        )
        phase = sample.get("phase")
        if measurand == ENERGY and sample.get("location", "Outlet") != "EV":
            if phase is None:
                self.energy_total = value
            else:
                self.energy_phases[_phase_key(phase)] = value
        elif measurand == POWER and phase is None:
            self.power = value
        elif measurand == CURRENT and phase != "N":
            self.currents[_phase_key(phase)] = value
        elif measurand == SOC:
            self.soc = value

    def energy(self) -> float | None:
        """The register total, or the sum of per-phase registers."""
        if self.energy_total is None and self.energy_phases:
            return sum(self.energy_phases.values())
        return self.energy_total


def energy_at_context(readings: Sequence[MeterReading], context: str) -> float | None:
    """The energy register of the reading with ``context`` (e.g. Transaction.End)."""
    for reading in readings:
        if reading.context == context and reading.energy_wh is not None:
            return reading.energy_wh
    return None


def session_energy(
    start_wh: float | None, stop_wh: float | None, last_wh: float | None
) -> tuple[float | None, bool]:
    """Energy of a session and whether the meter went backwards.

    A stop value below the start is never stored as negative energy (a reset
    or replaced meter, OCPP.Core#33): the last plausible register reading is
    used instead, and the session is flagged.
    """
    if start_wh is None:
        return None, False
    end = stop_wh if stop_wh is not None else last_wh
    if end is None:
        return None, False
    if end >= start_wh:
        return end - start_wh, False
    fallback = last_wh if last_wh is not None and last_wh >= start_wh else start_wh
    return fallback - start_wh, True


def payload_digest(payload: Any) -> str:
    """A stable digest of a payload (idempotency key with the message id)."""
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# Authorization

_STATUS_201_AUTH = {
    IdTagStatus.ACCEPTED: "Accepted",
    IdTagStatus.BLOCKED: "Blocked",
    IdTagStatus.EXPIRED: "Expired",
    IdTagStatus.INVALID: "Invalid",
    IdTagStatus.CONCURRENT_TX: "ConcurrentTx",
}


def id_tag_info_16(result: AuthResult) -> dict[str, Any]:
    """An AuthResult as an OCPP 1.6 ``idTagInfo`` (snake_case)."""
    info: dict[str, Any] = {"status": result.status.value}
    if result.expiry is not None:
        info["expiry_date"] = iso(result.expiry)
    if result.parent_id_tag is not None:
        info["parent_id_tag"] = result.parent_id_tag
    return info


def id_token_info_201(result: AuthResult) -> dict[str, Any]:
    """An AuthResult as an OCPP 2.0.1 ``idTokenInfo`` (snake_case)."""
    info: dict[str, Any] = {"status": _STATUS_201_AUTH[result.status]}
    if result.expiry is not None:
        info["cache_expiry_date_time"] = iso(result.expiry)
    if result.parent_id_tag is not None:
        info["group_id_token"] = {"id_token": result.parent_id_tag, "type": "Central"}
    return info
