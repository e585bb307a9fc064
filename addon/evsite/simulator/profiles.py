"""Charging profiles as a simulated charger stores and applies them (pure).

Both OCPP versions are normalised onto one :class:`Profile`. The stacking rules
follow OCPP 1.6 §3.13.2 / 2.0.1 K01: per purpose the highest valid stack level
wins, a TxProfile overrides the TxDefaultProfile, and the charger maximum
profile caps the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

VOLTS = 230.0  # Nominal phase voltage used to convert W profiles into amps.


class Purpose(StrEnum):
    """Profile purpose (2.0.1's ChargingStationMaxProfile maps onto MAX)."""

    MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


_PURPOSES = {
    "ChargePointMaxProfile": Purpose.MAX,
    "ChargingStationMaxProfile": Purpose.MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


@dataclass(frozen=True, slots=True)
class Period:
    """One schedule period: from ``start_s`` on, at most ``limit`` in the unit."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """An installed charging profile, version-neutral."""

    id: int
    connector: int
    stack_level: int
    purpose: Purpose
    kind: str
    unit: str
    periods: tuple[Period, ...]
    start: datetime | None = None
    duration_s: int | None = None
    recurrency: str | None = None
    transaction_id: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def _when(value: Any) -> datetime | None:
    """Parse an OCPP timestamp (or keep a datetime); None stays None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _periods(raw: Iterable[Mapping[str, Any]]) -> tuple[Period, ...]:
    """Schedule periods sorted by start."""
    out = [
        Period(
            int(p["start_period"]),
            float(p["limit"]),
            int(p["number_phases"]) if p.get("number_phases") else None,
        )
        for p in raw
    ]
    return tuple(sorted(out, key=lambda p: p.start_s))


def _build(connector: int, p: Mapping[str, Any], sched: Mapping[str, Any]) -> Profile:
    """Common part of both versions' parsing."""
    purpose = _PURPOSES.get(str(p["charging_profile_purpose"]))
    if purpose is None:
        raise ValueError(f"unsupported purpose {p['charging_profile_purpose']}")
    tx = p.get("transaction_id")
    return Profile(
        id=int(p.get("charging_profile_id", p.get("id", 0))),
        connector=connector,
        stack_level=int(p["stack_level"]),
        purpose=purpose,
        kind=str(p["charging_profile_kind"]),
        unit=str(sched["charging_rate_unit"]),
        periods=_periods(sched["charging_schedule_period"]),
        start=_when(sched.get("start_schedule")),
        duration_s=int(sched["duration"]) if sched.get("duration") else None,
        recurrency=p.get("recurrency_kind"),
        transaction_id=None if tx is None else str(tx),
        valid_from=_when(p.get("valid_from")),
        valid_to=_when(p.get("valid_to")),
    )


def from_v16(connector_id: int, profile: Mapping[str, Any]) -> Profile:
    """Normalise a 1.6 ``csChargingProfiles`` (snake_case keys)."""
    return _build(connector_id, profile, profile["charging_schedule"])


def from_v201(evse_id: int, profile: Mapping[str, Any]) -> Profile:
    """Normalise a 2.0.1 ``chargingProfile``; the first schedule is used."""
    return _build(evse_id, profile, profile["charging_schedule"][0])


def install(profiles: tuple[Profile, ...], new: Profile) -> tuple[Profile, ...]:
    """Add ``new``, replacing one with its id or its connector+purpose+level."""
    kept = tuple(
        p
        for p in profiles
        if p.id != new.id
        and (p.connector, p.purpose, p.stack_level)
        != (new.connector, new.purpose, new.stack_level)
    )
    return (*kept, new)


def clear(
    profiles: tuple[Profile, ...],
    *,
    profile_id: int | None = None,
    connector: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> tuple[tuple[Profile, ...], bool]:
    """Remove matching profiles; returns the rest and whether any matched."""

    def matches(p: Profile) -> bool:
        if profile_id is not None:
            return p.id == profile_id
        return (
            (connector is None or p.connector == connector)
            and (purpose is None or _PURPOSES.get(purpose) == p.purpose)
            and (stack_level is None or p.stack_level == stack_level)
        )

    kept = tuple(p for p in profiles if not matches(p))
    return kept, len(kept) != len(profiles)


def end_transaction(
    profiles: tuple[Profile, ...], connector: int
) -> tuple[Profile, ...]:
    """TxProfiles end with their transaction (OCPP 1.6 §3.13.4)."""
    return tuple(
        p
        for p in profiles
        if not (p.purpose is Purpose.TX and p.connector == connector)
    )


def _start_of(p: Profile, now: datetime, tx_start: datetime | None) -> datetime | None:
    """When the schedule's period 0 begins, for the occurrence covering ``now``."""
    if p.kind == "Relative":
        return tx_start if tx_start is not None else now
    if p.kind == "Recurring" and p.start is not None:
        step = timedelta(days=7 if p.recurrency == "Weekly" else 1)
        if now < p.start:
            return p.start
        return p.start + step * ((now - p.start) // step)
    return p.start


def period_at(p: Profile, now: datetime, tx_start: datetime | None) -> Period | None:
    """The period of ``p`` in force at ``now``, or None when it does not apply."""
    if (p.valid_from and now < p.valid_from) or (p.valid_to and now >= p.valid_to):
        return None
    start = _start_of(p, now, tx_start)
    if start is None or now < start:
        return None
    elapsed = (now - start).total_seconds()
    if p.duration_s is not None and elapsed >= p.duration_s:
        return None
    current = None
    for period in p.periods:
        if period.start_s <= elapsed:
            current = period
    return current


def to_amps(limit: float, unit: str, phases: int, volts: float = VOLTS) -> float:
    """A per-phase current for a limit in A or W."""
    return limit if unit == "A" else limit / (volts * max(phases, 1))


def _best(
    candidates: Iterable[Profile], now: datetime, tx_start: datetime | None
) -> tuple[Profile, Period] | None:
    """Highest stack level with a period in force; connector-specific wins ties."""
    best: tuple[Profile, Period] | None = None
    for p in candidates:
        period = period_at(p, now, tx_start)
        if period is None:
            continue
        if best is None or (p.stack_level, p.connector) > (
            best[0].stack_level,
            best[0].connector,
        ):
            best = (p, period)
    return best


def limit_amps(  # noqa: PLR0917 - one argument per OCPP input
    profiles: tuple[Profile, ...],
    connector: int,
    tx_id: str | None,
    tx_start: datetime | None,
    now: datetime,
    phases: int,
) -> float | None:
    """Per-phase current allowed on ``connector`` now; None when unlimited."""

    def amps(hit: tuple[Profile, Period] | None) -> float | None:
        if hit is None:
            return None
        prof, period = hit
        return to_amps(period.limit, prof.unit, period.phases or phases)

    mine = [p for p in profiles if p.connector in (0, connector)]
    tx = None
    if tx_id is not None:
        tx = _best(
            (
                p
                for p in mine
                if p.purpose is Purpose.TX
                and p.connector == connector
                and p.transaction_id in (None, tx_id)
            ),
            now,
            tx_start,
        )
    own = amps(tx) if tx is not None else None
    if own is None:
        default = [p for p in mine if p.purpose is Purpose.TX_DEFAULT]
        own = amps(_best(default, now, tx_start))
    cap = amps(_best((p for p in mine if p.purpose is Purpose.MAX), now, tx_start))
    values = [v for v in (own, cap) if v is not None]
    return min(values) if values else None


def composite(  # noqa: PLR0917 - one argument per OCPP input
    profiles: tuple[Profile, ...],
    connector: int,
    tx_id: str | None,
    tx_start: datetime | None,
    now: datetime,
    duration_s: int,
    phases: int,
    hardware_a: float,
) -> list[tuple[int, float]]:
    """The composite schedule in amps: ``(offset_s, limit_a)`` change points."""
    edges = {0}
    for p in profiles:
        for probe in (now, now + timedelta(seconds=duration_s)):
            start = _start_of(p, probe, tx_start)
            if start is None:
                continue
            marks = [q.start_s for q in p.periods]
            if p.duration_s is not None:
                marks.append(p.duration_s)
            for mark in marks:
                offset = int((start - now).total_seconds()) + mark
                if 0 < offset < duration_s:
                    edges.add(offset)
    out: list[tuple[int, float]] = []
    for offset in sorted(edges):
        at = now + timedelta(seconds=offset)
        lim = limit_amps(profiles, connector, tx_id, tx_start, at, phases)
        value = round(min(hardware_a, lim) if lim is not None else hardware_a, 1)
        if not out or out[-1][1] != value:
            out.append((offset, value))
    return out


def replace_connector(p: Profile, connector: int) -> Profile:
    """The same profile on another connector (RemoteStart picks the connector)."""
    return replace(p, connector=connector)
