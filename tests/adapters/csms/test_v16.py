"""Every OCPP 1.6 message from a charger, over a real WebSocket and SQLite."""

from __future__ import annotations

from typing import Any

from evsite.control.events import EventKind
from evsite.control.live import ChargerLink, ConnectorStatus

from .conftest import BOOT16, now_iso


async def booted(server: Any, connect: Any, charger_id: str = "CP16") -> Any:
    cp = await connect(server.url(charger_id))
    result = await cp.call("BootNotification", BOOT16)
    assert result["status"] == "Accepted"
    return cp


async def test_boot_heartbeat_and_status(server, connect):
    cp = await booted(server, connect)
    state = server.services.live.chargers["CP16"]
    assert state.link is ChargerLink.CONNECTED
    assert (state.vendor, state.model, state.serial, state.firmware) == (
        "Acme", "Wall-1", "SN1", "1.2.3",
    )  # fmt: skip
    assert server.kinds(EventKind.CHARGER_BOOTED, "CP16")
    beat = await cp.call("Heartbeat", {})
    assert beat["currentTime"].endswith("Z")
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Preparing",
         "timestamp": now_iso()},
    )  # fmt: skip
    assert state.connectors[1].status is ConnectorStatus.PREPARING
    rows = await server.rows("SELECT status, error_code FROM ocpp_status")
    assert rows == [{"status": "preparing", "error_code": "NoError"}]
    (boot_row,) = await server.rows(
        "SELECT vendor, model, ocpp_version FROM ocpp_chargers WHERE charger_id='CP16'"
    )
    assert boot_row == {"vendor": "Acme", "model": "Wall-1", "ocpp_version": "1.6"}


async def test_fault_raises_and_clears_alarm(server, connect):
    cp = await booted(server, connect)
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted",
         "vendorErrorCode": "202-EF"},
    )  # fmt: skip
    (alarm,) = server.kinds(EventKind.ALARM, "CP16")
    assert alarm.data["alarm"] == "GroundFailure"
    assert alarm.data["vendor_error_code"] == "202-EF"
    await cp.call(
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    )
    assert server.kinds(EventKind.ALARM_CLEARED, "CP16")


async def test_full_session_persisted_and_numbered(server, connect):
    cp = await booted(server, connect)
    auth = await cp.call("Authorize", {"idTag": "TAG1"})
    assert auth["idTagInfo"]["status"] == "Accepted"  # open scope fallback
    start = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 10_000,
         "timestamp": now_iso(-60)},
    )  # fmt: skip
    tx = start["transactionId"]
    # Persisted before the reply: the row exists the moment we have the answer.
    (row,) = await server.rows("SELECT * FROM ocpp_sessions")
    assert (row["id"], row["session_number"], row["start_kind"]) == (tx, 1, "local")
    await cp.call(
        "MeterValues",
        {"connectorId": 1, "transactionId": tx, "meterValue": [
            {"timestamp": now_iso(-30), "sampledValue": [
                {"value": "10.5", "measurand": "Energy.Active.Import.Register",
                 "unit": "kWh"},
                {"value": "15.9", "measurand": "Current.Import", "phase": "L1",
                 "unit": "A"},
                {"value": "3600", "measurand": "Power.Active.Import", "unit": "W"},
            ]}]},
    )  # fmt: skip
    connector = server.services.live.chargers["CP16"].connectors[1]
    assert connector.meter_wh == 10_500
    assert connector.current_a == {"L1": 15.9}
    assert connector.session_energy_wh == 500
    stop = await cp.call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 12_000, "timestamp": now_iso(),
         "idTag": "TAG1", "reason": "EVDisconnected"},
    )  # fmt: skip
    assert stop["idTagInfo"]["status"] == "Accepted"
    (row,) = await server.rows("SELECT * FROM ocpp_sessions")
    assert row["energy_wh"] == 2000
    assert row["stop_reason"] == "EVDisconnected"
    assert connector.transaction_id is None
    stopped = server.kinds(EventKind.SESSION_STOPPED, "CP16")
    assert stopped[-1].data["energy_wh"] == 2000
    second = await cp.call(
        "StartTransaction",
        {"connectorId": 2, "idTag": "TAG2", "meterStart": 0, "timestamp": now_iso()},
    )
    (row2,) = await server.rows(
        "SELECT session_number FROM ocpp_sessions WHERE id = ?",
        (second["transactionId"],),
    )
    assert row2["session_number"] == 2


async def test_stop_meter_below_start_is_flagged_not_negative(server, connect):
    cp = await booted(server, connect)
    tx = (await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 5_000, "timestamp": now_iso()},
    ))["transactionId"]  # fmt: skip
    await cp.call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 100, "timestamp": now_iso()},
    )
    (row,) = await server.rows("SELECT energy_wh, flags FROM ocpp_sessions")
    assert row["energy_wh"] == 0
    assert "meter_decreased" in row["flags"]


async def test_start_on_busy_connector_replaces_old_session(server, connect):
    cp = await booted(server, connect)
    first = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": now_iso(-10)},
    )
    await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "B", "meterStart": 50, "timestamp": now_iso()},
    )
    rows = await server.rows(
        "SELECT id, stop_reason, flags FROM ocpp_sessions ORDER BY id"
    )
    assert rows[0]["id"] == first["transactionId"]
    assert rows[0]["stop_reason"] == "Replaced"
    assert "replaced" in rows[0]["flags"]
    assert rows[1]["stop_reason"] is None


async def test_notifications_are_logged(server, connect):
    cp = await booted(server, connect)
    assert await cp.call("FirmwareStatusNotification", {"status": "Installing"}) == {}
    assert await cp.call("DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
    assert await cp.call(
        "SecurityEventNotification",
        {"type": "TamperDetectionActivated", "timestamp": now_iso()},
    ) == {}  # fmt: skip
    assert await cp.call(
        "LogStatusNotification", {"status": "Uploading", "requestId": 3}
    ) == {}  # fmt: skip
    result = await cp.call("DataTransfer", {"vendorId": "com.acme", "data": "x"})
    assert result["status"] == "UnknownVendorId"
    kinds = [r["kind"] for r in await server.rows("SELECT kind FROM ocpp_events")]
    assert kinds == [
        "boot", "firmware_status", "diagnostics_status", "security_event",
        "log_status", "data_transfer",
    ]  # fmt: skip
    (row,) = await server.rows(
        "SELECT firmware_status, diagnostics_status FROM ocpp_chargers"
    )
    assert row == {"firmware_status": "Installing", "diagnostics_status": "Uploading"}
    alarms = [e.data["alarm"] for e in server.kinds(EventKind.ALARM, "CP16")]
    assert alarms == ["security:TamperDetectionActivated"]


async def test_authorize_on_non_open_charger_is_invalid_without_authorizer(
    server, connect
):
    cp = await booted(server, connect, "PRIV")
    result = await cp.call("Authorize", {"idTag": "ANY"})
    assert result["idTagInfo"]["status"] == "Invalid"
    (event,) = server.kinds(EventKind.AUTHORIZATION, "PRIV")
    assert event.data["rule"] == "fallback:no_authorizer"


async def test_registered_authorizer_decides(server, connect):
    from evsite.control.ports import AuthResult, IdTagStatus

    calls = []

    class Blocker:
        async def authorize(self, charger_id, connector_id, id_tag, purpose):
            calls.append((charger_id, id_tag, purpose.value))
            return AuthResult(IdTagStatus.BLOCKED, "test")

    server.services.components["authorizer"] = Blocker()
    cp = await booted(server, connect)
    result = await cp.call("Authorize", {"idTag": "X"})
    assert result["idTagInfo"]["status"] == "Blocked"
    assert calls == [("CP16", "X", "authorize")]


async def test_disconnect_updates_link(server, connect):
    cp = await booted(server, connect)
    await cp.close()
    state = server.services.live.chargers["CP16"]

    from .conftest import wait_for

    await wait_for(lambda: state.link is ChargerLink.DISCONNECTED)
    assert server.kinds(EventKind.CHARGER_DISCONNECTED, "CP16")


async def test_charger_level_status_and_meter_are_not_ports(server, connect):
    cp = await booted(server, connect)
    await cp.call(
        "StatusNotification",
        {"connectorId": 0, "errorCode": "PowerMeterFailure", "status": "Faulted"},
    )
    await cp.call("MeterValues", {"connectorId": 0, "meterValue": [
        {"timestamp": now_iso(), "sampledValue": [{"value": "99"}]}]})  # fmt: skip
    assert 0 not in server.services.live.chargers["CP16"].connectors
    (alarm,) = server.kinds(EventKind.ALARM, "CP16")
    assert (alarm.connector_id, alarm.data["alarm"]) == (0, "PowerMeterFailure")
    stored = await server.rows("SELECT connector_id, status FROM ocpp_status")
    assert stored == [{"connector_id": 0, "status": "faulted"}]
    await cp.call(
        "StatusNotification",
        {"connectorId": 0, "errorCode": "NoError", "status": "Available"},
    )
    assert server.kinds(EventKind.ALARM_CLEARED, "CP16")
