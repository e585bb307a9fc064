"""A charger's own load shed: OCPP 2.0.1 external charging limits (pure).

A charging station reports a limit set on it by someone other than the CSMS
with ``NotifyChargingLimit`` (OCPP 2.0.1 K12) and its end with
``ClearedChargingLimit`` (K13). ``chargingLimitSource`` says who set it:
``EMS`` (a local energy management system), ``SO`` (the system operator, a
grid signal), ``Other``, or ``CSO`` (the charging station operator, which for
evsite's chargers is evsite itself). EMS, SO and Other are the charger's own
load shed (the seeds' "Load Shed Port 1: Yes"); CSO limits are evsite's own
profiles and are logged only. ``evseId`` absent (or 0) means the whole
station.

OCPP 1.6 has no such message; a 1.6 charger's load shed is not known to
evsite (see docs/ocpp.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Sources that mean "limited by somebody else": the charger's own load shed.
SHED_SOURCES = frozenset({"EMS", "SO", "Other"})


@dataclass(frozen=True, slots=True)
class ChargingLimitReport:
    """A NotifyChargingLimit (``cleared=False``) or ClearedChargingLimit."""

    source: str
    evse_id: int | None  # None: the whole station
    at: datetime
    cleared: bool = False
    grid_critical: bool | None = None
    limit: float | None = None  # first period of the schedule, when sent
    unit: str | None = None  # its chargingRateUnit (A or W)

    @property
    def load_shed(self) -> bool:
        """The limit is the charger's own load shed (not evsite's profile)."""
        return self.source in SHED_SOURCES

    def ports(self, known: Iterable[int]) -> list[int]:
        """The connectors it applies to: one EVSE, or all ``known`` ones."""
        if self.evse_id:
            return [self.evse_id]
        return sorted(p for p in known if p != 0)

    def as_dict(self) -> dict[str, Any]:
        """The event-log form."""
        return {
            "source": self.source,
            "evse_id": self.evse_id,
            "cleared": self.cleared,
            "load_shed": self.load_shed,
            "grid_critical": self.grid_critical,
            "limit": self.limit,
            "unit": self.unit,
        }


def notify_charging_limit(
    charging_limit: Mapping[str, Any],
    evse_id: int | None,
    charging_schedule: list[Mapping[str, Any]] | None,
    at: datetime,
) -> ChargingLimitReport:
    """The domain form of a NotifyChargingLimit request (schema-validated)."""
    limit: float | None = None
    unit: str | None = None
    if charging_schedule:
        first = charging_schedule[0]
        periods = first.get("charging_schedule_period") or []
        if periods:
            limit = float(periods[0]["limit"])
        unit = first.get("charging_rate_unit")
    return ChargingLimitReport(
        source=str(charging_limit["charging_limit_source"]),
        evse_id=evse_id,
        at=at,
        grid_critical=charging_limit.get("is_grid_critical"),
        limit=limit,
        unit=unit,
    )


def cleared_charging_limit(
    source: str, evse_id: int | None, at: datetime
) -> ChargingLimitReport:
    """The domain form of a ClearedChargingLimit request."""
    return ChargingLimitReport(source=source, evse_id=evse_id, at=at, cleared=True)
