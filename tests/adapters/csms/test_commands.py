"""Commands: one call in flight, failure on disconnect, A vs W, installed view."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evsite.config.load import parse_site
from evsite.config.models import SiteConfig
from evsite.control.ports import IdTagStatus, LocalListEntry, ProfilePurpose
from evsite.errors import ChargerError, ConfigError

from .conftest import (
    BOOT16,
    BOOT201,
    SITE,
    make_services,
    now_iso,
    start_server,
    wait_for,
)

V201 = ("ocpp2.0.1",)


def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


def config_16(unit: str, profiles: str = "Core,SmartCharging,Reservation"):
    def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"configurationKey": [
            {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True,
             "value": unit},
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": profiles},
        ]}  # fmt: skip

    return handler


def variables_201(unit: str):
    def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in payload["getVariableData"]:
            name = item["variable"]["name"]
            value = unit if name == "RateUnit" else "true"
            results.append(
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": value,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return {"getVariableResult": results}  # fmt: skip

    return handler


async def boot_with(server, connect, charger_id: str, *, version: str, unit: str):
    protocols = ("ocpp1.6",) if version == "1.6" else V201
    cp = await connect(server.url(charger_id), protocols=protocols)
    cp.handlers["GetConfiguration"] = config_16(unit)
    cp.handlers["GetVariables"] = variables_201(unit)
    for action in (
        "SetChargingProfile",
        "ClearChargingProfile",
        "ReserveNow",
        "CancelReservation",
        "SendLocalList",
        "RemoteStartTransaction",
        "RequestStartTransaction",
        "ChangeAvailability",
    ):
        cp.handlers[action] = accept  # fmt: skip
    await cp.call("BootNotification", BOOT16 if version == "1.6" else BOOT201)
    conn = server.central.connections[charger_id]
    await wait_for(lambda: conn.rate_unit is not None)
    return cp


@pytest.mark.parametrize(
    ("version", "unit", "wire_unit", "limit"),
    [
        ("1.6", "Current", "A", 16.0),
        # 3-phase charger on a 400 V (line-to-line) panel: 16 A × 230.9 V × 3.
        ("1.6", "Power", "W", 11085.0),
        ("2.0.1", "A", "A", 16.0),
        ("2.0.1", "W", "W", 11085.0),
    ],
)
async def test_profile_units(  # noqa: PLR0917
    server, connect, version, unit, wire_unit, limit
):
    cp = await boot_with(server, connect, "CP16", version=version, unit=unit)
    commands = server.central.commands
    accepted = await commands.set_limit("CP16", 1, 16, ProfilePurpose.TX_DEFAULT)
    assert accepted
    call = cp.received_calls[-1]
    assert call[2] == "SetChargingProfile"
    profile = call[3]["csChargingProfiles" if version == "1.6" else "chargingProfile"]
    schedule = profile["chargingSchedule"]
    if version == "2.0.1":
        schedule = schedule[0]
    assert schedule["chargingRateUnit"] == wire_unit
    assert schedule["chargingSchedulePeriod"][0]["limit"] == limit
    installed = await server.central.admin.installed("CP16")
    (row,) = installed["profiles"]
    assert (row["purpose"], row["unit"], row["limit_value"]) == (
        "tx_default",
        wire_unit,
        limit,
    )
    assert commands.supports("CP16", "smart_charging")
    assert commands.supports("CP16", "reservation")


def site_208(connection: str) -> SiteConfig:
    """The test site on a 208Y/120 V service; CP16 is 1-phase on ``connection``."""
    data = json.loads(json.dumps(SITE))
    data["site"]["main_service"]["voltage"] = 208
    data["panels"][0]["voltage"] = 208
    data["panels"][1]["voltage"] = 120  # the sub-panel on L1: line-to-neutral
    data["chargers"][0].update(phases=1, phase_connection=connection)
    return parse_site(data).config


@pytest.mark.parametrize(
    ("connection", "watts"),
    [
        # Line-to-line: 16 A at 208 V, on one (OCPP) phase.
        ("L1-L2", 3328.0),
        # One line of the 208 V board: 16 A at 120.1 V, not at 208 V.
        ("L3", 1921.0),
    ],
)
async def test_1_phase_profile_in_w_uses_the_voltage_the_charger_sees(
    server, connect, connection, watts
):
    services = server.services
    services.site.replace(site_208(connection), services.bus, services.clock)
    cp = await boot_with(server, connect, "CP16", version="1.6", unit="Power")
    assert await server.central.commands.set_limit(
        "CP16", 1, 16, ProfilePurpose.TX_DEFAULT
    )
    schedule = cp.received_calls[-1][3]["csChargingProfiles"]["chargingSchedule"]
    period = schedule["chargingSchedulePeriod"][0]
    assert (period["limit"], period["numberPhases"]) == (watts, 1)


async def test_tx_profile_needs_transaction(server, connect):
    cp = await boot_with(server, connect, "CP16", version="1.6", unit="Current")
    with pytest.raises(ChargerError):
        await server.central.commands.set_limit("CP16", 1, 10, ProfilePurpose.TX)
    tx = (await cp.call("StartTransaction", {
        "connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso(),
    }))["transactionId"]  # fmt: skip
    assert await server.central.commands.set_limit("CP16", 1, 10, ProfilePurpose.TX)
    profile = cp.received_calls[-1][3]["csChargingProfiles"]
    assert profile["transactionId"] == tx
    assert profile["chargingProfilePurpose"] == "TxProfile"


async def test_one_call_in_flight_and_order(server, connect):
    cp = await connect(server.url("CP16"))
    release = asyncio.Event()
    seen: list[str] = []

    async def slow(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(payload["key"])
        await release.wait()
        return {"status": "Accepted"}

    cp.handlers["ChangeConfiguration"] = slow
    ops = server.central.commands
    tasks = [
        asyncio.create_task(ops.change_configuration("CP16", f"K{i}", "v"))
        for i in range(3)
    ]
    await wait_for(lambda: len(seen) == 1)
    # The charger still gets its heartbeat answered while a call is in flight.
    assert "currentTime" in await cp.call("Heartbeat", {})
    assert seen == ["K0"]
    assert server.central.connections["CP16"].queue.pending == 3
    release.set()
    results = await asyncio.gather(*tasks)
    assert seen == ["K0", "K1", "K2"]
    assert [r["status"] for r in results] == ["Accepted"] * 3


async def test_disconnect_fails_queued_calls(server, connect):
    cp = await connect(server.url("CP16"))
    never = asyncio.Event()

    async def hang(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        await never.wait()
        return {}

    cp.handlers["Reset"] = hang
    tasks = [
        asyncio.create_task(server.central.commands.reset("CP16")) for _ in range(3)
    ]
    await wait_for(lambda: len(cp.received_calls) == 1)
    await cp.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert all(isinstance(r, ChargerError) for r in results), results
    with pytest.raises(ChargerError, match="not connected"):
        await server.central.commands.reset("CP16")


async def test_call_timeout_and_call_error(tmp_path, connect):
    services = await make_services(tmp_path)
    srv = await start_server(services, call_timeout_s=0.2)
    try:
        cp = await connect(srv.url("CP16"))

        async def hang(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            await asyncio.Event().wait()
            return {}

        cp.handlers["UnlockConnector"] = hang
        with pytest.raises(ChargerError, match="no answer within"):
            await srv.central.commands.unlock("CP16", 1)
        with pytest.raises(ChargerError, match="CallError NotSupported"):
            await srv.central.commands.reset("CP16")  # RawCharger: no handler
        assert "currentTime" in await cp.call("Heartbeat", {})
    finally:
        await srv.central.stop()
        await services.db.close()


COMMANDS = [
    # method, kwargs, 1.6 action, 2.0.1 action, reply
    ("reset", {"hard": True}, "Reset", "Reset", {"status": "Accepted"}),
    ("unlock", {"connector_id": 1}, "UnlockConnector", "UnlockConnector",
     {"status": "Unlocked"}),
    ("trigger_message", {"message": "StatusNotification", "connector_id": 1},
     "TriggerMessage", "TriggerMessage", {"status": "Accepted"}),
    ("get_composite_schedule", {"connector_id": 1, "duration_s": 600},
     "GetCompositeSchedule", "GetCompositeSchedule", {"status": "Rejected"}),
    ("data_transfer", {"vendor_id": "com.acme", "data": "hi"}, "DataTransfer",
     "DataTransfer", {"status": "Accepted"}),
    ("set_display_message", {"line1": "Welcome", "line2": "Charging 7-19h"},
     "DataTransfer", "SetDisplayMessage", {"status": "Accepted"}),
    ("get_logs", {"location": "https://logs.example/upload"}, "GetDiagnostics",
     "GetLog", {"status": "Accepted", "filename": "x.log"}),
    ("clear_charging_profile", {"purpose": ProfilePurpose.TX_DEFAULT},
     "ClearChargingProfile", "ClearChargingProfile", {"status": "Accepted"}),
]  # fmt: skip


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(("method", "kwargs", "a16", "a201", "reply"), COMMANDS)
async def test_operator_commands(  # noqa: PLR0917
    server, connect, version, method, kwargs, a16, a201, reply
):
    protocols = ("ocpp1.6",) if version == "1.6" else V201
    cp = await connect(server.url("CP16"), protocols=protocols)
    action = a16 if version == "1.6" else a201
    if version == "1.6" and action == "GetDiagnostics":
        reply = {"fileName": "x.log"}
    cp.handlers[action] = lambda a, p: reply
    result = await getattr(server.central.commands, method)("CP16", **kwargs)
    assert cp.received_calls[-1][2] == action
    if "status" in reply:
        assert result["status"] == reply["status"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_configuration_get_and_change(server, connect, version):
    protocols = ("ocpp1.6",) if version == "1.6" else V201
    cp = await connect(server.url("CP16"), protocols=protocols)
    cp.handlers["GetConfiguration"] = config_16("Current")
    cp.handlers["GetVariables"] = variables_201("A")
    cp.handlers["ChangeConfiguration"] = accept
    cp.handlers["SetVariables"] = lambda a, p: {"setVariableResult": [
        {"attributeStatus": "Accepted", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "HeartbeatInterval"}}]}  # fmt: skip
    ops = server.central.commands
    if version == "1.6":
        got = await ops.get_configuration("CP16", ["SupportedFeatureProfiles"])
        assert "SupportedFeatureProfiles" in got["values"]
        changed = await ops.change_configuration("CP16", "HeartbeatInterval", "120")
    else:
        got = await ops.get_configuration("CP16", ["SmartChargingCtrlr.RateUnit"])
        assert got["values"]["SmartChargingCtrlr.RateUnit"] == "A"
        changed = await ops.change_configuration(
            "CP16", "OCPPCommCtrlr.HeartbeatInterval", "120"
        )
        with pytest.raises(ConfigError):
            await ops.get_configuration("CP16", ["NoDot"])
    assert changed["status"] == "Accepted"


async def test_display_message_rules(server, connect):
    await connect(server.url("CP16"))
    with pytest.raises(ConfigError) as err:
        await server.central.commands.set_display_message("CP16", "x" * 16, "a|b")
    assert {p.path for p in err.value.problems} == {"line1", "line2"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_reservations_local_list_and_installed_view(server, connect, version):
    unit = "A" if version != "1.6" else "Current"
    cp = await boot_with(server, connect, "CP16", version=version, unit=unit)
    cp.handlers["GetLocalListVersion"] = lambda a, p: (
        {"listVersion": 7} if version == "1.6" else {"versionNumber": 7}
    )
    ops = server.central.commands
    expiry = datetime.now(UTC) + timedelta(minutes=15)
    assert await ops.reserve_now("CP16", 1, 42, "TAG", expiry) == "Accepted"
    entries = [LocalListEntry("TAG", IdTagStatus.ACCEPTED, expiry=expiry)]
    assert await ops.send_local_list("CP16", 5, entries, full=True) == "Accepted"
    installed = await server.central.admin.installed("CP16")
    assert installed["local_list_version"] == 5
    assert [r["reservation_id"] for r in installed["reservations"]] == [42]
    assert await ops.get_local_list_version("CP16") == 7
    assert await ops.cancel_reservation("CP16", 42) == "Accepted"
    assert (await server.central.admin.installed("CP16"))["reservations"] == []
    assert await ops.change_availability("CP16", 0, operative=False) == "Accepted"


async def test_remote_start_numbering_16(server, connect):
    cp = await boot_with(server, connect, "CP16", version="1.6", unit="Current")
    assert (
        await server.central.commands.remote_start("CP16", 1, "APP-USER") == "Accepted"
    )
    start = await cp.call("StartTransaction", {
        "connectorId": 1, "idTag": "APP-USER", "meterStart": 0, "timestamp": now_iso(),
    })  # fmt: skip
    assert start["idTagInfo"]["status"] == "Accepted"
    local = await cp.call("StartTransaction", {
        "connectorId": 2, "idTag": "RFID", "meterStart": 0, "timestamp": now_iso(),
    })  # fmt: skip
    rows = await server.rows(
        "SELECT id, session_number, start_kind FROM ocpp_sessions ORDER BY id"
    )
    assert [(r["session_number"], r["start_kind"]) for r in rows] == [
        (1_000_000_000, "remote"), (1, "local"),
    ]  # fmt: skip
    assert rows[1]["id"] == local["transactionId"]
    cp.handlers["RemoteStopTransaction"] = accept
    tx = str(start["transactionId"])
    assert await server.central.commands.remote_stop("CP16", tx) == "Accepted"
    assert cp.received_calls[-1][3] == {"transactionId": int(tx)}


async def test_remote_start_numbering_201(server, connect):
    cp = await boot_with(server, connect, "CP201", version="2.0.1", unit="A")
    cp.handlers["RequestStopTransaction"] = accept
    assert await server.central.commands.remote_start("CP201", 1, "APP") == "Accepted"
    request = cp.received_calls[-1][3]
    await cp.call("TransactionEvent", {
        "eventType": "Started", "timestamp": now_iso(), "seqNo": 0,
        "triggerReason": "RemoteStart", "evse": {"id": 1},
        "idToken": {"idToken": "APP", "type": "Central"},
        "transactionInfo": {"transactionId": "R1",
                            "remoteStartId": request["remoteStartId"]},
    })  # fmt: skip
    (row,) = await server.rows("SELECT session_number, start_kind FROM ocpp_sessions")
    assert row == {"session_number": 1_000_000_000, "start_kind": "remote"}
    assert await server.central.commands.remote_stop("CP201", "R1") == "Accepted"


async def test_fractional_amps_pass_16_schema_and_ids_are_short(server, connect):
    cp = await boot_with(server, connect, "CP16", version="1.6", unit="Current")
    commands = server.central.commands
    assert await commands.set_limit("CP16", 1, 16.3, ProfilePurpose.TX_DEFAULT)
    call = cp.received_calls[-1]
    period = call[3]["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
    assert period[0]["limit"] == 16.3
    assert len(call[1]) <= 36
    assert call[1] != cp.received_calls[-2][1]
