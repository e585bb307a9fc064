"""Less common flows and commands of the simulated charger."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from evsite.control.clock import ManualClock
from evsite.simulator.charger import SimCharger
from evsite.simulator.ev import Ev


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.01)


@pytest.fixture
async def sim16(csms: Any, clock: ManualClock) -> Any:
    sim = SimCharger("CP1", csms.url, "1.6", connectors=2, clock=clock)
    await sim.connect()
    yield sim
    await sim.close()


@pytest.fixture
async def sim201(csms: Any, clock: ManualClock) -> Any:
    sim = SimCharger("CP1", csms.url, "2.0.1", connectors=2, clock=clock)
    await sim.connect()
    yield sim
    await sim.close()


async def test_tap_before_plug_then_same_card_stops(
    sim16: SimCharger, csms: Any
) -> None:
    assert await sim16.tap(2, "EARLY")
    assert sim16.connector(2).tx is None  # waits for the cable
    await sim16.plug_in(2, Ev(max_current_a=10, phases=1))
    assert sim16.current_draw(2) == 10
    assert not await sim16.tap(2, "SOMEONE-ELSE")
    assert await sim16.tap(2, "EARLY")  # same card ends the session
    assert sim16.current_draw(2) == 0
    await sim16.flush()
    stop = csms.messages("CP1", "StopTransaction")[-1]
    assert stop["reason"] == "Local"
    statuses = [
        m["status"]
        for m in csms.messages("CP1", "StatusNotification")
        if m["connector_id"] == 2
    ]
    assert statuses[-1] == "Finishing"
    await sim16.unplug(2)
    await sim16.flush()
    assert csms.messages("CP1", "StatusNotification")[-1]["status"] == "Available"


async def test_refused_start_is_stopped_deauthorized(
    csms: Any, clock: ManualClock
) -> None:
    csms.blocked_tags = frozenset({"BAD"})
    sim = SimCharger("CP1", csms.url, "1.6", clock=clock)
    await sim.connect()
    sim.auth_cache["BAD"] = "Accepted"  # stale cache: offline start, refused later
    await sim.go_offline()
    await sim.plug_in(1, Ev())
    assert await sim.tap(1, "BAD")
    await sim.go_online()
    await sim.flush()
    await until(lambda: bool(csms.messages("CP1", "StopTransaction")))
    assert csms.messages("CP1", "StopTransaction")[0]["reason"] == "DeAuthorized"
    await sim.close()


async def test_configuration_and_triggers_16(sim16: SimCharger, csms: Any) -> None:
    cp = await csms.wait_for("CP1")
    conf = await cp.call(c16.GetConfiguration())
    keys = {k["key"]: k for k in conf.configuration_key}
    assert keys["ChargingScheduleAllowedChargingRateUnit"]["readonly"] is True
    assert keys["NumberOfConnectors"]["value"] == "2"
    unknown = await cp.call(c16.GetConfiguration(key=["Nope"]))
    assert unknown.unknown_key == ["Nope"]
    res = await cp.call(
        c16.ChangeConfiguration(key="MeterValueSampleInterval", value="15")
    )
    assert res.status == "Accepted"
    assert sim16.meter_interval == 15
    await sim16.plug_in(1, Ev())
    await sim16.tap(1, "T")
    before = len(csms.messages("CP1", "MeterValues"))
    for what in ("MeterValues", "StatusNotification", "BootNotification"):
        res = await cp.call(c16.TriggerMessage(requested_message=what, connector_id=1))
        assert res.status == "Accepted"
    await until(lambda: len(csms.messages("CP1", "BootNotification")) == 2)
    assert len(csms.messages("CP1", "MeterValues")) == before + 1
    nope = await cp.call(
        c16.TriggerMessage(requested_message="FirmwareStatusNotification")
    )
    assert nope.status == "NotImplemented"
    res = await cp.call(c16.UnlockConnector(connector_id=1))
    assert res.status == "Unlocked"
    await until(lambda: bool(csms.messages("CP1", "StopTransaction")))
    assert csms.messages("CP1", "StopTransaction")[0]["reason"] == "UnlockCommand"
    assert (await cp.call(c16.UnlockConnector(connector_id=9))).status == "NotSupported"


async def test_remote_start_with_profile_and_composite_16(
    sim16: SimCharger, csms: Any, clock: ManualClock
) -> None:
    cp = await csms.wait_for("CP1")
    await sim16.plug_in(1, Ev(max_current_a=32))
    profile = {
        "charging_profile_id": 3,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "charging_schedule": {
            "charging_rate_unit": "A",
            "charging_schedule_period": [
                {"start_period": 0, "limit": 12.0},
                {"start_period": 600, "limit": 20.0},
            ],
        },
    }
    res = await cp.call(
        c16.RemoteStartTransaction(id_tag="R", connector_id=1, charging_profile=profile)
    )
    assert res.status == "Accepted"
    await until(lambda: sim16.current_draw(1) > 0)
    assert sim16.current_draw(1) == 12
    comp = await cp.call(c16.GetCompositeSchedule(connector_id=1, duration=1200))
    periods = comp.charging_schedule["charging_schedule_period"]
    assert [(p["start_period"], p["limit"]) for p in periods] == [
        (0, 12.0),
        (600, 20.0),
    ]
    clock.advance(700)
    assert sim16.current_draw(1) == 20
    assert (
        await cp.call(c16.GetCompositeSchedule(connector_id=7, duration=60))
    ).status == "Rejected"
    # A TxProfile needs a session: the idle connector 2 refuses one.
    refused = await cp.call(
        c16.SetChargingProfile(
            connector_id=2, cs_charging_profiles={**profile, "charging_profile_id": 4}
        )
    )
    assert refused.status == "Rejected"
    cleared = await cp.call(c16.ClearChargingProfile(id=3))
    assert cleared.status == "Accepted"
    assert sim16.current_draw(1) == 32
    assert (await cp.call(c16.ClearChargingProfile(id=3))).status == "Unknown"


async def test_absolute_profile_and_availability_201(
    sim201: SimCharger, csms: Any, clock: ManualClock
) -> None:
    cp = await csms.wait_for("CP1")
    await sim201.plug_in(1, Ev(max_current_a=32))
    await sim201.tap(1, "T")
    start = (clock.now() + timedelta(minutes=10)).astimezone(UTC)
    res = await cp.call(
        c201.SetChargingProfile(
            evse_id=0,
            charging_profile={
                "id": 5,
                "stack_level": 1,
                "charging_profile_purpose": "ChargingStationMaxProfile",
                "charging_profile_kind": "Absolute",
                "charging_schedule": [
                    {
                        "id": 1,
                        "start_schedule": start.isoformat(),
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [
                            {"start_period": 0, "limit": 16.0}
                        ],
                    }
                ],
            },
        )
    )
    assert res.status == "Accepted"
    assert sim201.current_draw(1) == 32
    clock.advance(601)
    assert sim201.current_draw(1) == 16
    res = await cp.call(
        c201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
    )
    assert res.status == "Scheduled"  # charging: applies after the session
    res = await cp.call(
        c201.SetVariables(
            set_variable_data=[
                {
                    "attribute_value": "30",
                    "component": {"name": "SampledDataCtrlr"},
                    "variable": {"name": "TxUpdatedInterval"},
                },
                {
                    "attribute_value": "W",
                    "component": {"name": "SmartChargingCtrlr"},
                    "variable": {"name": "RateUnit"},
                },
                {
                    "attribute_value": "1",
                    "component": {"name": "Nope"},
                    "variable": {"name": "Nope"},
                },
            ]
        )
    )
    assert [r["attribute_status"] for r in res.set_variable_result] == [
        "Accepted",
        "Rejected",
        "UnknownVariable",
    ]
    assert sim201.meter_interval == 30
    await sim201.unplug(1)
    await until(lambda: sim201.connector(1).status == "Unavailable")
    res = await cp.call(c201.UnlockConnector(evse_id=1, connector_id=1))
    assert res.status == "Unlocked"
    res = await cp.call(
        c201.TriggerMessage(requested_message="StatusNotification", evse={"id": 2})
    )
    assert res.status == "Accepted"
    await until(
        lambda: any(
            m["evse_id"] == 2 for m in csms.messages("CP1", "StatusNotification")[3:]
        )
    )


async def test_periodic_meter_loop_uses_interval(csms: Any) -> None:
    sim = SimCharger("CP1", csms.url, "1.6", meter_interval=0.05)
    await sim.connect()
    await sim.plug_in(1, Ev())
    await sim.tap(1, "T")
    await until(lambda: len(csms.messages("CP1", "MeterValues")) >= 2)
    await sim.close()
    assert not sim.online
    stamps = [
        m["meter_value"][0]["timestamp"] for m in csms.messages("CP1", "MeterValues")
    ]
    parsed = [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps]
    assert parsed == sorted(parsed)
