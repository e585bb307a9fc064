"""The pure half of the OCPP adapter: payload <-> domain."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evsite.adapters.csms.profiles import (
    load_voltage,
    profile_limit,
    rate_unit_from_16,
    rate_unit_from_201,
)
from evsite.adapters.csms.translate import (
    PayloadError,
    charger_time,
    meter_reading,
    session_energy,
    status_16,
    status_201,
)
from evsite.control.live import ConnectorStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_charger_time_trusts_past_clamps_future_and_unset_clocks():
    past = "2026-11-22T08:00:00Z"
    assert charger_time(past, "t", NOW) == (
        datetime(2026, 11, 22, 8, tzinfo=UTC),
        False,
    )
    assert charger_time("2027-01-01T00:00:00Z", "t", NOW) == (NOW, True)
    assert charger_time("1970-01-01T00:00:00Z", "t", NOW) == (NOW, True)
    naive, suspect = charger_time("2026-11-22T11:00:00", "t", NOW)
    assert naive.tzinfo is not None
    assert not suspect
    with pytest.raises(PayloadError) as err:
        charger_time("222222017-10-27T19:10:11Z", "timestamp", NOW)
    assert err.value.field == "timestamp"


def test_meter_reading_units_phases_and_multiplier():
    reading = meter_reading(
        {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [
            {"value": "12.5", "unit": "kWh"},  # default measurand: energy register
            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "16", "measurand": "Current.Import", "phase": "L1-N"},
            {"value": "15", "measurand": "Current.Import", "phase": "L2"},
            {"value": "1", "measurand": "Current.Import", "phase": "N"},
            {"value": "80", "measurand": "SoC", "unit": "Percent"},
        ]},
        "tx1", NOW,
    )  # fmt: skip
    assert reading.energy_wh == 12_500
    assert reading.power_w == 7_200
    assert reading.current_a == {"L1": 16.0, "L2": 15.0}
    assert reading.soc == 80
    v201 = meter_reading(
        {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [
            {"value": 3.5, "unit_of_measure": {"unit": "Wh", "multiplier": 3}}]},
        "tx1", NOW,
    )  # fmt: skip
    assert v201.energy_wh == 3_500
    per_phase = meter_reading(
        {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [
            {"value": "100", "phase": "L1"}, {"value": "200", "phase": "L2"}]},
        "", NOW,
    )  # fmt: skip
    assert per_phase.energy_wh == 300


def test_meter_reading_rejects_non_numbers_and_digests_replays():
    with pytest.raises(PayloadError):
        meter_reading(
            {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [{"value": "abc"}]},
            "", NOW,
        )  # fmt: skip
    value = {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [{"value": "1"}]}
    assert (
        meter_reading(value, "a", NOW).digest == meter_reading(value, "a", NOW).digest
    )
    assert (
        meter_reading(value, "a", NOW).digest != meter_reading(value, "b", NOW).digest
    )


def test_status_maps():
    assert status_16("SuspendedEVSE") is ConnectorStatus.SUSPENDED_EVSE
    assert status_16("Bogus") is ConnectorStatus.UNKNOWN
    assert status_201("Occupied") is ConnectorStatus.OCCUPIED


def test_rate_units_and_limits():
    assert rate_unit_from_16("Current,Power") == "A"
    assert rate_unit_from_16("Power") == "W"
    assert rate_unit_from_16("") is None
    assert rate_unit_from_201("W") == "W"
    assert profile_limit(16.04, "A", 230, 1) == 16.0
    assert profile_limit(16, "W", 230, 1) == 3680
    assert profile_limit(16, "W", 230, 3) == 11040
    assert profile_limit(16, "W", 400, 3) == 11085  # 400 V line-to-line


@pytest.mark.parametrize(
    ("panel_v", "panel_lines", "load_lines", "volts"),
    [
        (208, 3, 2, 208),  # a 208 V charger across two lines of 208Y/120 V
        (208, 2, 2, 208),  # ... on a 1-phase panel fed by a line pair
        (208, 2, 1, 120.1),  # a 120 V charger on one line of that panel
        (400, 3, 1, 230.9),  # line-to-neutral of a 400 V board
        (240, 1, 1, 240),  # a split-phase service counts as one line
        (400, 3, 3, 400),  # 3-phase: profile_limit takes it per phase
    ],
)
def test_load_voltage(panel_v, panel_lines, load_lines, volts):
    assert load_voltage(panel_v, panel_lines, load_lines) == pytest.approx(
        volts, abs=0.05
    )


@given(
    start=st.floats(0, 1e9),
    stop=st.none() | st.floats(0, 1e9),
    last=st.none() | st.floats(0, 1e9),
)
def test_session_energy_is_never_negative(start, stop, last):
    energy, decreased = session_energy(start, stop, last)
    assert energy is None or energy >= 0
    if stop is not None and stop >= start:
        assert energy == pytest.approx(stop - start)
        assert not decreased
    if stop is not None and stop < start:
        assert decreased


def test_session_energy_unknown_start():
    assert session_energy(None, 5.0, 5.0) == (None, False)


def test_meter_reading_refuses_overflowing_values():
    for sample in (
        {"value": 1e308, "unit_of_measure": {"unit": "kWh"}},
        {"value": 1.0, "unit_of_measure": {"unit": "Wh", "multiplier": 400}},
    ):
        with pytest.raises(PayloadError):
            meter_reading(
                {"timestamp": "2026-11-22T11:00:00Z", "sampled_value": [sample]},
                "", NOW,
            )  # fmt: skip
