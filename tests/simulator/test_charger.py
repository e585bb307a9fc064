"""SimCharger against the throwaway central system, both OCPP versions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from ocpp.v16 import call as c16
from ocpp.v201 import call as c201

from evsite.control.clock import ManualClock
from evsite.errors import ChargerError
from evsite.simulator.charger import SimCharger
from evsite.simulator.ev import Ev

VERSIONS = ["1.6", "2.0.1"]


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition (no fixed sleeps)."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - polling, bounded by the timeout
            await asyncio.sleep(0.01)


@pytest.fixture
async def make(csms: Any, clock: ManualClock) -> AsyncIterator[Callable[..., Any]]:
    made: list[SimCharger] = []

    async def factory(version: str, cp_id: str = "CP1", **kw: Any) -> SimCharger:
        kw.setdefault("clock", clock)
        sim = SimCharger(cp_id, csms.url, version, **kw)
        made.append(sim)
        await sim.connect()
        return sim

    yield factory
    for sim in made:
        await sim.close()


def tx_profile(
    version: str,
    purpose: str,
    limit: float,
    *,
    unit: str = "A",
    tx_id: str | None = None,
    level: int = 0,
    evse: int = 1,
) -> Any:
    if version == "1.6":
        profile: dict[str, Any] = {
            "charging_profile_id": 10 + level,
            "stack_level": level,
            "charging_profile_purpose": purpose,
            "charging_profile_kind": "Relative",
            "charging_schedule": {
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        }
        if tx_id is not None:
            profile["transaction_id"] = int(tx_id)
        return c16.SetChargingProfile(connector_id=evse, cs_charging_profiles=profile)
    profile = {
        "id": 10 + level,
        "stack_level": level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": unit,
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            }
        ],
    }
    if tx_id is not None:
        profile["transaction_id"] = tx_id
    return c201.SetChargingProfile(evse_id=evse, charging_profile=profile)


def currents(csms: Any, version: str) -> list[float]:
    """Every Current.Import value the central system received."""
    action = "MeterValues" if version == "1.6" else "TransactionEvent"
    out = []
    for msg in csms.messages("CP1", action):
        for mv in msg.get("meter_value") or []:
            for sv in mv["sampled_value"]:
                if sv.get("measurand") == "Current.Import":
                    out.append(float(sv["value"]))
    return out


@pytest.mark.parametrize("version", VERSIONS)
async def test_session_messages_in_order(
    make: Any, csms: Any, clock: ManualClock, version: str
) -> None:
    sim = await make(version)
    await sim.plug_in(1, Ev(max_current_a=16))
    assert await sim.tap(1, "TAG1")
    clock.advance(60)
    await sim.send_meter_values()
    await sim.unplug(1)
    await sim.flush()
    actions = [a for a in csms.actions("CP1") if a != "StatusNotification"]
    if version == "1.6":
        assert actions == [
            "BootNotification",
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "StopTransaction",
        ]
        stop = csms.messages("CP1", "StopTransaction")[0]
        assert stop["reason"] == "EVDisconnected"
        assert stop["meter_stop"] == 184  # 230 V × 16 A × 3 × 60 s
        statuses = [m["status"] for m in csms.messages("CP1", "StatusNotification")]
        assert statuses == ["Available", "Preparing", "Charging", "Available"]
    else:
        events = csms.messages("CP1", "TransactionEvent")
        kinds = [(e["event_type"], e["trigger_reason"]) for e in events]
        assert kinds[0] == ("Started", "CablePluggedIn")
        assert ("Updated", "Authorized") in kinds
        assert ("Updated", "MeterValuePeriodic") in kinds
        assert kinds[-1] == ("Ended", "EVCommunicationLost")
        assert [e["seq_no"] for e in events] == list(range(len(events)))
        assert events[-1]["transaction_info"]["stopped_reason"] == "EVDisconnected"
        assert len({e["transaction_info"]["transaction_id"] for e in events}) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_limits_the_draw(
    make: Any, csms: Any, clock: ManualClock, version: str
) -> None:
    sim = await make(version)
    cp = await csms.wait_for("CP1")
    await sim.plug_in(1, Ev(max_current_a=32))
    await sim.tap(1, "TAG1")
    assert sim.current_draw(1) == 32
    res = await cp.call(tx_profile(version, "TxDefaultProfile", 10, evse=0))
    assert res.status == "Accepted"
    assert sim.effective_limit(1) == 10
    assert sim.current_draw(1) <= 10
    clock.advance(30)
    await sim.send_meter_values()
    await sim.flush()
    assert currents(csms, version)[-3:] == [10.0, 10.0, 10.0]
    tx_id = sim.connector(1).tx.tx_id
    res = await cp.call(tx_profile(version, "TxProfile", 8, tx_id=tx_id, level=1))
    assert res.status == "Accepted"
    assert sim.current_draw(1) == 8
    clear = (
        c16.ClearChargingProfile()
        if version == "1.6"
        else c201.ClearChargingProfile(charging_profile_criteria={})
    )
    assert (await cp.call(clear)).status == "Accepted"
    assert sim.effective_limit(1) is None
    assert sim.current_draw(1) == 32


@pytest.mark.parametrize("version", VERSIONS)
async def test_power_only_charger_takes_watts(
    make: Any, csms: Any, version: str
) -> None:
    sim = await make(version, rate_unit="Power")
    cp = await csms.wait_for("CP1")
    await sim.plug_in(1, Ev(max_current_a=32, phases=3))
    await sim.tap(1, "TAG1")
    amps = await cp.call(tx_profile(version, "TxDefaultProfile", 10, evse=0))
    assert amps.status == "Rejected"
    watts = await cp.call(
        tx_profile(version, "TxDefaultProfile", 6900, unit="W", evse=0)
    )
    assert watts.status == "Accepted"
    assert sim.current_draw(1) == pytest.approx(10.0)
    if version == "1.6":
        conf = await cp.call(
            c16.GetConfiguration(key=["ChargingScheduleAllowedChargingRateUnit"])
        )
        assert conf.configuration_key[0]["value"] == "Power"
        comp = await cp.call(
            c16.GetCompositeSchedule(
                connector_id=1, duration=600, charging_rate_unit="W"
            )
        )
        assert comp.charging_schedule["charging_schedule_period"][0]["limit"] == 6900
    else:
        got = await cp.call(
            c201.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "RateUnit"},
                    }
                ]
            )
        )
        assert got.get_variable_result[0]["attribute_value"] == "W"
        comp = await cp.call(c201.GetCompositeSchedule(duration=600, evse_id=1))
        assert comp.schedule["charging_schedule_period"][0]["limit"] == 10.0


@pytest.mark.parametrize("version", VERSIONS)
async def test_battery_fills_and_stops(
    make: Any, csms: Any, clock: ManualClock, version: str
) -> None:
    sim = await make(version)
    ev = Ev(max_current_a=16, phases=3, capacity_wh=2000, soc_wh=1000)
    await sim.plug_in(1, ev)
    await sim.tap(1, "TAG1")
    clock.advance(600)  # 11 kW for 10 min would be 1.84 kWh; only 1 kWh fits
    await sim.send_meter_values()
    assert ev.full
    assert sim.current_draw(1) == 0
    assert sim.connector(1).energy_wh == pytest.approx(1000)
    clock.advance(600)
    await sim.send_meter_values()
    assert sim.connector(1).energy_wh == pytest.approx(1000)
    await sim.flush()
    if version == "1.6":
        statuses = [m["status"] for m in csms.messages("CP1", "StatusNotification")]
        assert statuses[-1] == "SuspendedEV"
    else:
        states = [
            e["transaction_info"]["charging_state"]
            for e in csms.messages("CP1", "TransactionEvent")
        ]
        assert states[-1] == "SuspendedEV"


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("version", VERSIONS)
async def test_offline_queue_replays_in_order_with_original_times(
    make: Any, csms: Any, clock: ManualClock, version: str
) -> None:
    sim = await make(version)
    cp = await csms.wait_for("CP1")
    send_list = (
        c16.SendLocalList(
            list_version=1,
            update_type="Full",
            local_authorization_list=[
                {"id_tag": "LOCAL1", "id_tag_info": {"status": "Accepted"}}
            ],
        )
        if version == "1.6"
        else c201.SendLocalList(
            version_number=1,
            update_type="Full",
            local_authorization_list=[
                {
                    "id_token": {"id_token": "LOCAL1", "type": "ISO14443"},
                    "id_token_info": {"status": "Accepted"},
                }
            ],
        )
    )
    assert (await cp.call(send_list)).status == "Accepted"
    version_call = (
        c16.GetLocalListVersion() if version == "1.6" else c201.GetLocalListVersion()
    )
    got = await cp.call(version_call)
    assert (got.list_version if version == "1.6" else got.version_number) == 1
    before = len(csms.log)
    await sim.go_offline()
    await sim.plug_in(1, Ev(max_current_a=16))
    assert not await sim.tap(1, "STRANGER")  # unknown while offline: refused
    offline_start = clock.now()
    assert await sim.tap(1, "LOCAL1")  # in the local list: accepted offline
    for _ in range(3):
        clock.advance(60)
        await sim.send_meter_values()
    await sim.unplug(1)
    assert sim.outbox_size > 0
    assert len(csms.log) == before
    clock.advance(3600)
    await sim.go_online(boot=False)
    await sim.flush()
    replay = [(a, kw) for c, a, kw in csms.log[before:] if c == "CP1"]
    assert all(a != "BootNotification" for a, _ in replay)
    assert all(a != "Authorize" for a, _ in replay)
    if version == "1.6":
        tx = [(a, kw) for a, kw in replay if a != "StatusNotification"]
        assert [a for a, _ in tx] == ["StartTransaction"] + ["MeterValues"] * 3 + [
            "StopTransaction"
        ]
        assert _stamp(tx[0][1]["timestamp"]) == offline_start
        stamps = [_stamp(kw["meter_value"][0]["timestamp"]) for _, kw in tx[1:4]]
        assert stamps == sorted(stamps)
        assert stamps[-1] < clock.now()
        ids = {kw["transaction_id"] for _, kw in tx[1:]}
        assert len(ids) == 1
        assert ids.pop() > 0
    else:
        events = [kw for a, kw in replay if a == "TransactionEvent"]
        assert events[0]["event_type"] == "Started"
        assert events[-1]["event_type"] == "Ended"
        assert all(e["offline"] for e in events)
        assert [e["seq_no"] for e in events] == list(range(len(events)))
        stamps = [_stamp(e["timestamp"]) for e in events]
        assert stamps == sorted(stamps)
        assert stamps[-1] < clock.now()


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_start_stop_and_commands(
    make: Any, csms: Any, version: str
) -> None:
    sim = await make(version)
    cp = await csms.wait_for("CP1")
    await sim.plug_in(1, Ev())
    if version == "1.6":
        res = await cp.call(c16.RemoteStartTransaction(id_tag="REMOTE", connector_id=1))
    else:
        res = await cp.call(
            c201.RequestStartTransaction(
                id_token={"id_token": "REMOTE", "type": "Central"},
                remote_start_id=7,
                evse_id=1,
            )
        )
    assert res.status == "Accepted"
    await until(lambda: sim.current_draw(1) > 0)
    await sim.flush()
    tx_id = sim.connector(1).tx.tx_id
    assert tx_id is not None
    if version == "1.6":
        res = await cp.call(c16.RemoteStopTransaction(transaction_id=int(tx_id)))
    else:
        res = await cp.call(c201.RequestStopTransaction(transaction_id=tx_id))
    assert res.status == "Accepted"
    await until(lambda: sim.current_draw(1) == 0)
    trig = (
        c16.TriggerMessage(requested_message="Heartbeat")
        if version == "1.6"
        else c201.TriggerMessage(requested_message="Heartbeat")
    )
    assert (await cp.call(trig)).status == "Accepted"
    avail = (
        c16.ChangeAvailability(connector_id=1, type="Inoperative")
        if version == "1.6"
        else c201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
    )
    assert (await cp.call(avail)).status == "Accepted"
    await until(lambda: sim.connector(1).status == "Unavailable")
    boots = sim.boots
    reset = c16.Reset(type="Soft") if version == "1.6" else c201.Reset(type="Immediate")
    assert (await cp.call(reset)).status == "Accepted"
    await until(lambda: sim.boots == boots + 1 and sim.online)


@pytest.mark.parametrize("version", VERSIONS)
async def test_reservation_holds_connector_for_its_tag(
    make: Any, csms: Any, version: str
) -> None:
    sim = await make(version)
    cp = await csms.wait_for("CP1")
    reserve = (
        c16.ReserveNow(
            connector_id=1,
            expiry_date="2030-01-01T00:00:00Z",
            id_tag="MINE",
            reservation_id=5,
        )
        if version == "1.6"
        else c201.ReserveNow(
            id=5,
            expiry_date_time="2030-01-01T00:00:00Z",
            id_token={"id_token": "MINE", "type": "ISO14443"},
            evse_id=1,
        )
    )
    assert (await cp.call(reserve)).status == "Accepted"
    await until(lambda: sim.connector(1).status == "Reserved")
    await sim.plug_in(1, Ev())
    assert not await sim.tap(1, "OTHER")
    assert await sim.tap(1, "MINE")
    cancel = (
        c16.CancelReservation(reservation_id=5)
        if version == "1.6"
        else c201.CancelReservation(reservation_id=5)
    )
    assert (await cp.call(cancel)).status == "Rejected"  # used by the session


async def test_basic_auth_profile_1(baseline: Any) -> None:
    server = baseline.Baseline(passwords={"CP9": "a-long-secret-password"})
    port = await server.start()
    url = f"ws://127.0.0.1:{port}/ocpp"
    bad = SimCharger("CP9", url, "1.6", password="wrong", auto_reconnect=False)
    with pytest.raises(ChargerError, match="cannot connect"):
        await bad.connect()
    good = SimCharger("CP9", url, "2.0.1", password="a-long-secret-password")
    await good.connect()
    assert good.online
    assert good.boot_status == "Accepted"
    await good.close()
    await bad.close()
    await server.stop()


async def test_unexpected_disconnect_reconnects_and_replays(
    csms: Any, clock: ManualClock
) -> None:
    sim = SimCharger("CP1", csms.url, "1.6", clock=clock)
    await sim.connect()
    await sim.plug_in(1, Ev())
    await sim.tap(1, "TAG1")
    await sim.flush()
    cp = await csms.wait_for("CP1")
    await cp._connection.close()  # the server drops the socket
    await until(lambda: not sim.online or sim.boots == 1)
    await until(lambda: sim.online)
    await sim.send_meter_values()
    await sim.flush()
    assert csms.actions("CP1").count("BootNotification") == 1
    assert csms.actions("CP1")[-1] == "MeterValues"
    await sim.close()
