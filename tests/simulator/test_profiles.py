"""Pure profile stacking, unit conversion and the EV model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsite.simulator import profiles as prof
from evsite.simulator.ev import ConnectorState, Ev, Transaction
from evsite.simulator.settings import Settings

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def p16(
    pid: int,
    purpose: str,
    limit: float,
    *,
    level: int = 0,
    unit: str = "A",
    kind: str = "Relative",
    start: datetime | None = None,
    duration: int | None = None,
    periods: list[tuple[int, float]] | None = None,
    connector: int = 0,
    **extra: Any,
) -> prof.Profile:
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": s, "limit": v} for s, v in (periods or [(0, limit)])
        ],
    }
    if start is not None:
        schedule["start_schedule"] = start.isoformat()
    if duration is not None:
        schedule["duration"] = duration
    return prof.from_v16(
        connector,
        {
            "charging_profile_id": pid,
            "stack_level": level,
            "charging_profile_purpose": purpose,
            "charging_profile_kind": kind,
            "charging_schedule": schedule,
            **extra,
        },
    )


def limit(
    profiles: tuple[prof.Profile, ...],
    *,
    tx: str | None = "1",
    phases: int = 3,
    at: datetime = NOW,
    tx_start: datetime = NOW,
) -> float | None:
    return prof.limit_amps(profiles, 1, tx, tx_start, at, phases)


def test_no_profile_means_no_limit() -> None:
    assert limit(()) is None


def test_tx_profile_overrides_default_and_max_caps() -> None:
    default = p16(1, "TxDefaultProfile", 16)
    tx = p16(2, "TxProfile", 20, connector=1)
    cap = p16(3, "ChargePointMaxProfile", 12)
    assert limit((default,)) == 16
    assert limit((default, tx)) == 20
    assert limit((default, tx, cap)) == 12
    assert limit((default, tx), tx=None) == 16  # no session: TxProfile not in force


def test_highest_stack_level_wins_and_connector_beats_zero() -> None:
    low = p16(1, "TxDefaultProfile", 16, level=0)
    high = p16(2, "TxDefaultProfile", 8, level=3)
    assert limit((low, high)) == 8
    general = p16(3, "TxDefaultProfile", 16, level=1)
    specific = p16(4, "TxDefaultProfile", 10, level=1, connector=1)
    assert limit((general, specific)) == 10


def test_watts_convert_with_phases() -> None:
    watts = p16(1, "TxDefaultProfile", 6900, unit="W")
    assert limit((watts,), phases=3) == pytest.approx(10.0)
    assert limit((watts,), phases=1) == pytest.approx(30.0)
    per_period = prof.from_v16(
        0,
        {
            "charging_profile_id": 2,
            "stack_level": 0,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": {
                "charging_rate_unit": "W",
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 2300, "number_phases": 1}
                ],
            },
        },
    )
    assert limit((per_period,), phases=3) == pytest.approx(10.0)


def test_periods_duration_and_absolute_expiry_fall_back() -> None:
    stepped = p16(
        1, "TxDefaultProfile", 0, level=1, periods=[(0, 6), (600, 16)], duration=1800
    )
    base = p16(2, "TxDefaultProfile", 32, level=0)
    both = (stepped, base)
    assert limit(both, at=NOW + timedelta(seconds=10)) == 6
    assert limit(both, at=NOW + timedelta(seconds=700)) == 16
    assert limit(both, at=NOW + timedelta(seconds=1900)) == 32
    absolute = p16(
        3,
        "TxDefaultProfile",
        10,
        level=2,
        kind="Absolute",
        start=NOW + timedelta(hours=1),
    )
    assert limit((absolute, base)) == 32
    assert limit((absolute, base), at=NOW + timedelta(hours=2)) == 10


def test_recurring_daily_repeats() -> None:
    night = p16(
        1,
        "TxDefaultProfile",
        0,
        kind="Recurring",
        recurrency_kind="Daily",
        start=NOW - timedelta(days=3),
        periods=[(0, 8), (3600, 16)],
    )
    assert limit((night,), at=NOW + timedelta(minutes=30)) == 8
    assert limit((night,), at=NOW + timedelta(hours=2)) == 16


def test_tx_profile_bound_to_other_transaction_is_ignored() -> None:
    other = p16(1, "TxProfile", 6, connector=1, transaction_id=99)
    assert limit((other,), tx="1") is None
    assert limit((other,), tx="99") == 6


def test_install_replaces_same_slot_and_clear_matches() -> None:
    a = p16(1, "TxDefaultProfile", 16)
    b = p16(2, "TxDefaultProfile", 10)  # same connector/purpose/level replaces a
    installed = prof.install(prof.install((), a), b)
    assert [p.id for p in installed] == [2]
    kept, removed = prof.clear(installed, purpose="TxProfile")
    assert not removed
    assert kept == installed
    kept, removed = prof.clear(installed, profile_id=2)
    assert removed
    assert kept == ()


def test_composite_lists_change_points() -> None:
    stepped = p16(1, "TxDefaultProfile", 0, periods=[(0, 6), (600, 16)])
    out = prof.composite((stepped,), 1, "1", NOW, NOW, 3600, 3, 32.0)
    assert out == [(0, 6.0), (600, 16.0)]
    assert prof.composite((), 1, None, None, NOW, 3600, 3, 32.0) == [(0, 32.0)]


def test_unknown_purpose_is_rejected() -> None:
    with pytest.raises(ValueError, match="purpose"):
        p16(1, "ChargingStationExternalConstraints", 10)


def _session(ev: Ev) -> ConnectorState:
    conn = ConnectorState(1, hardware_a=32.0, charger_phases=3, ev=ev)
    conn.tx = Transaction(1, "TAG", NOW, 0)
    return conn


def test_ev_draws_min_of_car_hardware_and_limit() -> None:
    conn = _session(Ev(max_current_a=16, phases=1))
    assert conn.wanted_a(None) == 16
    assert conn.wanted_a(10) == 10
    assert conn.wanted_a(5.9) == 0  # IEC 61851-1: below 6 A the car pauses
    assert conn.phases == 1


def test_battery_fills_then_stops_drawing() -> None:
    conn = _session(Ev(max_current_a=16, phases=3, capacity_wh=1000, soc_wh=900))
    conn.draw_a = conn.wanted_a(None)
    delivered = conn.advance(3600)
    assert delivered == pytest.approx(100)
    assert conn.ev is not None
    assert conn.ev.full
    assert conn.draw_a == 0
    assert conn.wanted_a(None) == 0
    assert conn.energy_wh == pytest.approx(100)


def test_settings_rate_unit_and_read_only() -> None:
    current = Settings.defaults(1, "Current", 60)
    power = Settings.defaults(1, "Power", 60)
    assert current.accepts_unit("A")
    assert not current.accepts_unit("W")
    assert power.accepts_unit("W")
    assert not power.accepts_unit("A")
    assert (
        current.change("ChargingScheduleAllowedChargingRateUnit", "Power") == "Rejected"
    )
    assert current.change("Nope", "1") == "NotSupported"
    assert current.change("MeterValueSampleInterval", "5") == "Accepted"


PROFILES = st.lists(
    st.tuples(
        st.sampled_from(["TxDefaultProfile", "ChargePointMaxProfile"]),
        st.integers(0, 3),  # stack level
        st.integers(0, 1),  # connector
        st.floats(0, 40, allow_nan=False).map(lambda v: round(v, 1)),
        st.sampled_from(["A", "W"]),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(raw=PROFILES, ev_max=st.floats(6, 80), phases=st.sampled_from([1, 3]))
def test_draw_never_exceeds_the_winning_profiles(
    raw: list[tuple[str, int, int, float, str]], ev_max: float, phases: int
) -> None:
    installed: tuple[prof.Profile, ...] = ()
    for n, (purpose, level, connector, value, unit) in enumerate(raw):
        if purpose == "ChargePointMaxProfile" and connector != 0:
            continue
        limit_value = value * 230 * phases if unit == "W" else value
        installed = prof.install(
            installed,
            p16(n, purpose, limit_value, level=level, unit=unit, connector=connector),
        )
    lim = limit(installed, phases=phases)

    def winner(purpose: str) -> float | None:
        mine = [p for p in installed if p.purpose == purpose]
        if not mine:
            return None
        best = max(mine, key=lambda p: (p.stack_level, p.connector))
        return prof.to_amps(best.periods[0].limit, best.unit, phases)

    expected = [
        v
        for v in (winner("TxDefaultProfile"), winner("ChargePointMaxProfile"))
        if v is not None
    ]
    assert lim == (pytest.approx(min(expected)) if expected else None)
    conn = _session(Ev(max_current_a=ev_max, phases=phases))
    drawn = conn.wanted_a(lim)
    assert drawn == 0 or drawn >= 6
    assert drawn <= ev_max + 1e-9
    if lim is not None:
        assert drawn <= lim + 1e-9
