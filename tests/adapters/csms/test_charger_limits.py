"""NotifyChargingLimit / ClearedChargingLimit -> the charger's own load shed (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evsite.adapters.csms.charger_limits import (
    cleared_charging_limit,
    notify_charging_limit,
)

AT = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "shed"),
    [("EMS", True), ("SO", True), ("Other", True), ("CSO", False)],
)
def test_only_limits_set_by_others_are_load_shed(source: str, shed: bool) -> None:
    report = notify_charging_limit({"charging_limit_source": source}, 1, None, AT)
    assert report.load_shed is shed


def test_the_schedules_first_period_is_kept() -> None:
    schedule = [
        {
            "id": 1,
            "charging_rate_unit": "W",
            "charging_schedule_period": [
                {"start_period": 0, "limit": 7400},
                {"start_period": 600, "limit": 11000},
            ],
        }
    ]
    report = notify_charging_limit(
        {"charging_limit_source": "SO", "is_grid_critical": True}, None, schedule, AT
    )
    assert (report.limit, report.unit, report.grid_critical) == (7400.0, "W", True)
    assert not report.cleared


@pytest.mark.parametrize(
    ("evse_id", "ports"), [(2, [2]), (None, [1, 2, 3]), (0, [1, 2, 3])]
)
def test_ports_one_evse_or_the_whole_station(
    evse_id: int | None, ports: list[int]
) -> None:
    report = cleared_charging_limit("EMS", evse_id, AT)
    assert report.cleared
    assert report.ports([0, 3, 1, 2]) == ports  # 0 is the station, not a port
