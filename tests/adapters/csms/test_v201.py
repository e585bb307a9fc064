"""Every OCPP 2.0.1 message from a charging station, over a real WebSocket."""

from __future__ import annotations

import json
from typing import Any

from evsite.control.events import EventKind
from evsite.control.live import ChargerLink, ConnectorStatus
from evsite.web.api import create_app

from .conftest import BOOT201, now_iso

AUTH = {"Authorization": "Bearer t"}

V201 = ("ocpp2.0.1",)


async def booted(server: Any, connect: Any, charger_id: str = "CP201") -> Any:
    cp = await connect(server.url(charger_id), protocols=V201)
    assert cp.protocol == "ocpp2.0.1"
    result = await cp.call("BootNotification", BOOT201)
    assert result["status"] == "Accepted"
    return cp


def energy(
    value_wh: float, at: str, context: str = "Sample.Periodic"
) -> dict[str, Any]:
    return {"timestamp": at, "sampledValue": [
        {"value": value_wh / 1000, "context": context,
         "measurand": "Energy.Active.Import.Register",
         "unitOfMeasure": {"unit": "kWh"}},
        {"value": 16.0, "measurand": "Current.Import", "phase": "L2",
         "context": context},
    ]}  # fmt: skip


def tx_event(
    event_type: str, seq: int, tx_id: str = "TX-1", **extra: Any
) -> dict[str, Any]:
    return {"eventType": event_type, "timestamp": now_iso(), "seqNo": seq,
            "triggerReason": extra.pop("trigger", "Authorized"),
            "transactionInfo": {"transactionId": tx_id, **extra.pop("info", {})},
            **extra}  # fmt: skip


async def test_boot_heartbeat_status(server, connect):
    cp = await booted(server, connect)
    state = server.services.live.chargers["CP201"]
    assert (state.vendor, state.model, state.ocpp_version) == (
        "Acme",
        "Wall-2",
        "2.0.1",
    )
    assert state.link is ChargerLink.CONNECTED
    assert "currentTime" in await cp.call("Heartbeat", {})
    await cp.call(
        "StatusNotification",
        {"timestamp": now_iso(), "connectorStatus": "Occupied", "evseId": 2,
         "connectorId": 1},
    )  # fmt: skip
    assert state.connectors[2].status is ConnectorStatus.OCCUPIED
    assert await server.rows("SELECT connector_id, status FROM ocpp_status") == [
        {"connector_id": 2, "status": "occupied"}
    ]


async def test_authorize(server, connect):
    cp = await booted(server, connect)
    result = await cp.call(
        "Authorize", {"idToken": {"idToken": "AA11", "type": "ISO14443"}}
    )
    assert result["idTokenInfo"]["status"] == "Accepted"


async def test_transaction_lifecycle(server, connect):
    cp = await booted(server, connect)
    token = {"idToken": "AA11", "type": "ISO14443"}
    started = await cp.call(
        "TransactionEvent",
        tx_event("Started", 0, evse={"id": 1, "connectorId": 1}, idToken=token,
                 info={"chargingState": "Charging"},
                 meterValue=[energy(1_000, now_iso(), "Transaction.Begin")]),
    )  # fmt: skip
    assert started["idTokenInfo"]["status"] == "Accepted"
    (row,) = await server.rows("SELECT * FROM ocpp_sessions")
    assert (row["transaction_id"], row["session_number"], row["meter_start_wh"]) == (
        "TX-1", 1, 1_000,
    )  # fmt: skip
    connector = server.services.live.chargers["CP201"].connectors[1]
    assert connector.status is ConnectorStatus.CHARGING
    assert connector.current_a == {"L2": 16.0}
    await cp.call(
        "TransactionEvent",
        tx_event("Updated", 1, trigger="MeterValuePeriodic",
                 meterValue=[energy(2_500, now_iso())]),
    )  # fmt: skip
    assert connector.session_energy_wh == 1_500
    await cp.call(
        "TransactionEvent",
        tx_event("Ended", 2, trigger="EVDeparted",
                 info={"stoppedReason": "EVDisconnected"},
                 meterValue=[energy(3_000, now_iso(), "Transaction.End")]),
    )  # fmt: skip
    (row,) = await server.rows("SELECT * FROM ocpp_sessions")
    assert row["energy_wh"] == 2_000
    assert row["stop_reason"] == "EVDisconnected"
    count = await server.rows("SELECT COUNT(*) AS n FROM ocpp_meter_values")
    assert count == [{"n": 3}]
    assert len(server.kinds(EventKind.SESSION_STARTED, "CP201")) == 1
    assert len(server.kinds(EventKind.SESSION_STOPPED, "CP201")) == 1


async def test_transaction_started_before_authorization(server, connect):
    cp = await booted(server, connect)
    await cp.call(
        "TransactionEvent",
        tx_event("Started", 0, trigger="CablePluggedIn", evse={"id": 2},
                 info={"chargingState": "EVConnected"}),
    )  # fmt: skip
    await cp.call(
        "TransactionEvent",
        tx_event("Updated", 1, idToken={"idToken": "LATE", "type": "ISO14443"}),
    )
    (row,) = await server.rows("SELECT id_tag, connector_id FROM ocpp_sessions")
    assert row == {"id_tag": "LATE", "connector_id": 2}


async def test_duplicate_transaction_events_count_once(server, connect):
    cp = await booted(server, connect)
    start = tx_event("Started", 0, evse={"id": 1}, meterValue=[energy(0, now_iso())])
    update = tx_event("Updated", 1, meterValue=[energy(700, now_iso())])
    for payload in (start, start, update, update):
        # Fresh message ids: a charger resending after a lost reply.
        await cp.call("TransactionEvent", payload)
    assert await server.rows("SELECT COUNT(*) AS n FROM ocpp_sessions") == [{"n": 1}]
    assert await server.rows("SELECT COUNT(*) AS n FROM ocpp_meter_values") == [
        {"n": 2}
    ]
    assert len(server.kinds(EventKind.SESSION_STARTED, "CP201")) == 1


async def test_notifications(server, connect):
    cp = await booted(server, connect)
    now = now_iso()
    assert (
        await cp.call(
            "FirmwareStatusNotification", {"status": "Downloading", "requestId": 1}
        )
        == {}
    )
    assert (
        await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": 2})
        == {}
    )
    assert (
        await cp.call(
            "SecurityEventNotification",
            {"type": "StartupOfTheDevice", "timestamp": now},
        )
        == {}
    )
    assert (
        await cp.call(
            "NotifyEvent",
            {
                "generatedAt": now,
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": now,
                        "trigger": "Delta",
                        "actualValue": "true",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Problem"},
                    }
                ],
            },
        )
        == {}
    )
    assert (
        await cp.call(
            "NotifyReport",
            {
                "requestId": 5,
                "generatedAt": now,
                "seqNo": 0,
                "reportData": [
                    {
                        "component": {"name": "SmartChargingCtrlr"},
                        "variable": {"name": "RateUnit"},
                        "variableAttribute": [{"value": "A"}],
                    }
                ],
            },
        )
        == {}
    )
    assert (await cp.call("DataTransfer", {"vendorId": "x"}))["status"] == (
        "UnknownVendorId"
    )
    kinds = [r["kind"] for r in await server.rows("SELECT kind FROM ocpp_events")]
    assert kinds == ["boot", "firmware_status", "log_status", "security_event",
                     "notify_event", "notify_report", "data_transfer"]  # fmt: skip
    alarms = [e.data["alarm"] for e in server.kinds(EventKind.ALARM, "CP201")]
    assert alarms == ["event:EVSE.Problem"]


async def test_meter_values_outside_transaction(server, connect):
    cp = await booted(server, connect)
    await cp.call(
        "MeterValues", {"evseId": 1, "meterValue": [energy(42_000, now_iso())]}
    )
    assert server.services.live.chargers["CP201"].connectors[1].meter_wh == 42_000
    (row,) = await server.rows("SELECT session_id, energy_wh FROM ocpp_meter_values")
    assert row == {"session_id": None, "energy_wh": 42_000}


async def test_reservation_status_update(server, connect):
    cp = await booted(server, connect)
    assert await cp.call(
        "ReservationStatusUpdate",
        {"reservationId": 7, "reservationUpdateStatus": "Expired"},
    ) == {}  # fmt: skip
    (event,) = await server.rows(
        "SELECT data FROM ocpp_events WHERE kind = 'reservation_status'"
    )
    assert '"Expired"' in event["data"]


def _ports(server: Any) -> dict[int, tuple[bool, str | None]]:
    state = server.services.live.chargers["CP201"]
    ports = sorted(state.connectors.items())
    return {n: (c.load_shed, c.load_shed_source) for n, c in ports}


async def test_charging_limits_are_the_chargers_own_load_shed(
    server, connect, aiohttp_client
):
    cp = await booted(server, connect)
    api = await aiohttp_client(create_app(server.services))
    # An EMS limits EVSE 1: port 1 is load shed, port 2 is not.
    period = {"startPeriod": 0, "limit": 10.0}
    schedule = {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
    limit = {
        "chargingLimit": {"chargingLimitSource": "EMS"},
        "evseId": 1,
        "chargingSchedule": [schedule],
    }
    assert await cp.call("NotifyChargingLimit", limit) == {}
    # Persisted before the reply.
    (row,) = await server.rows(
        "SELECT kind, data FROM ocpp_events WHERE kind = 'notify_charging_limit'"
    )
    assert json.loads(row["data"]) == {
        "source": "EMS", "evse_id": 1, "cleared": False, "load_shed": True,
        "grid_critical": None, "limit": 10.0, "unit": "A",
    }  # fmt: skip
    assert _ports(server)[1] == (True, "EMS")
    assert not _ports(server).get(2, (False, None))[0]
    resp = await api.get("/api/v1/chargers/CP201", headers=AUTH)
    live = {c["connector_id"]: c for c in (await resp.json())["live"]["connectors"]}
    assert (live[1]["load_shed"], live[1]["load_shed_source"]) == (True, "EMS")
    assert live[1]["load_shed_since"] is not None
    assert live[1]["reason"] is None  # evsite's own shedding is another thing

    # The grid operator limits the whole station (no evseId): both ports.
    grid = {"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True}}
    assert await cp.call("NotifyChargingLimit", grid) == {}
    assert _ports(server) == {1: (True, "SO"), 2: (True, "SO")}
    # EMS cleared on EVSE 1: the SO limit still holds it.
    cleared = {"chargingLimitSource": "EMS", "evseId": 1}
    assert await cp.call("ClearedChargingLimit", cleared) == {}
    assert _ports(server) == {1: (True, "SO"), 2: (True, "SO")}
    assert await cp.call("ClearedChargingLimit", {"chargingLimitSource": "SO"}) == {}
    assert _ports(server) == {1: (False, None), 2: (False, None)}

    # CSO is evsite itself (its own profiles): logged, not a load shed.
    cso = {"chargingLimit": {"chargingLimitSource": "CSO"}, "evseId": 2}
    assert await cp.call("NotifyChargingLimit", cso) == {}
    assert _ports(server)[2] == (False, None)
    kinds = [
        r["kind"]
        for r in await server.rows(
            "SELECT kind FROM ocpp_events WHERE kind LIKE '%charging_limit'"
        )
    ]
    assert kinds == ["notify_charging_limit", "notify_charging_limit",
                     "cleared_charging_limit", "cleared_charging_limit",
                     "notify_charging_limit"]  # fmt: skip

    # A bad payload is refused by the schema, naming the field; nothing stored.
    answer = await cp.call_frame("NotifyChargingLimit", {"chargingLimit": {}})
    assert answer[2] == "ProtocolError"
    assert answer[4]["field"] == "chargingLimit"
    assert "chargingLimitSource" in answer[4]["cause"]
