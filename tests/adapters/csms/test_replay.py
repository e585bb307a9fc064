"""Offline replays, duplicate message ids and restarts never double count."""

from __future__ import annotations

from typing import Any

from evsite.control.events import EventKind

from .conftest import BOOT16, make_services, now_iso, start_server


def mv(tx: int, at: str, wh: int) -> dict[str, Any]:
    return {"connectorId": 1, "transactionId": tx, "meterValue": [
        {"timestamp": at, "sampledValue": [{"value": str(wh)}]}]}  # fmt: skip


async def test_duplicate_message_id_gets_same_answer(server, connect):
    cp = await connect(server.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso()}
    first = await cp.call_frame("StartTransaction", start, message_id="dup-1")
    again = await cp.call_frame("StartTransaction", start, message_id="dup-1")
    assert again == first
    assert await server.rows("SELECT COUNT(*) AS n FROM ocpp_sessions") == [{"n": 1}]
    assert len(server.kinds(EventKind.SESSION_STARTED)) == 1
    # Same id but another payload is a different message (id counters restart
    # after a reboot on some chargers): it is processed, not replayed.
    other = dict(start, connectorId=2)
    third = await cp.call_frame("StartTransaction", other, message_id="dup-1")
    assert third[2]["transactionId"] != first[2]["transactionId"]


async def test_offline_queue_replayed_after_reconnect(server, connect):
    cp = await connect(server.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    start_at = now_iso(-3600)
    t1, t2, t3, t4 = (now_iso(s) for s in (-3000, -2400, -1800, -1200))
    tx = (await cp.call("StartTransaction", {
        "connectorId": 1, "idTag": "T", "meterStart": 1_000, "timestamp": start_at,
    }))["transactionId"]  # fmt: skip
    await cp.call("MeterValues", mv(tx, t1, 2_000))
    await cp.close()
    # Offline: the charger queued these and now replays them after reconnect,
    # including one the CSMS had already stored before the link dropped.
    cp = await connect(server.url("CP16"))
    queued = [
        ("MeterValues", mv(tx, t1, 2_000)),  # already stored
        ("MeterValues", mv(tx, t2, 3_000)),
        ("MeterValues", mv(tx, t3, 4_000)),
        ("StopTransaction", {"transactionId": tx, "meterStop": 4_500,
                             "timestamp": t4}),
    ]  # fmt: skip
    for action, payload in queued:
        await cp.call(action, payload)
    # A second replay of the whole queue (the charger lost our replies).
    for action, payload in queued:
        await cp.call(action, payload)
    (session,) = await server.rows("SELECT * FROM ocpp_sessions")
    assert session["energy_wh"] == 3_500
    values = await server.rows("SELECT energy_wh FROM ocpp_meter_values ORDER BY at")
    assert [v["energy_wh"] for v in values] == [2_000, 3_000, 4_000]
    assert len(server.kinds(EventKind.SESSION_STOPPED)) == 1
    # A replayed StartTransaction (same tag, connector, timestamp) keeps its id.
    again = await cp.call("StartTransaction", {
        "connectorId": 1, "idTag": "T", "meterStart": 1_000, "timestamp": start_at,
    })  # fmt: skip
    assert again["transactionId"] == tx
    assert await server.rows("SELECT COUNT(*) AS n FROM ocpp_sessions") == [{"n": 1}]


async def test_older_replayed_values_do_not_rewind_live_state(server, connect):
    cp = await connect(server.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    tx = (await cp.call("StartTransaction", {
        "connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso(-100),
    }))["transactionId"]  # fmt: skip
    await cp.call("MeterValues", mv(tx, now_iso(-10), 900))
    await cp.call("MeterValues", mv(tx, now_iso(-50), 500))  # late, older
    connector = server.services.live.chargers["CP16"].connectors[1]
    assert connector.meter_wh == 900
    assert connector.session_energy_wh == 900
    (row,) = await server.rows("SELECT last_meter_wh FROM ocpp_sessions")
    assert row["last_meter_wh"] == 900


async def test_restart_keeps_sessions_and_replies(tmp_path, connect):
    services = await make_services(tmp_path)
    srv = await start_server(services)
    cp = await connect(srv.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso()}
    first = await cp.call_frame("StartTransaction", start, message_id="r-1")
    await cp.close()
    await srv.central.stop()
    await services.db.close()

    services = await make_services(tmp_path)
    srv = await start_server(services)
    try:
        cp = await connect(srv.url("CP16"))
        # No new BootNotification: a reconnect is accepted as is.
        assert "currentTime" in await cp.call("Heartbeat", {})
        replay = await cp.call_frame("StartTransaction", start, message_id="r-1")
        assert replay == first
        connector = services.live.chargers["CP16"].connectors[1]
        assert connector.transaction_id == str(first[2]["transactionId"])
        nxt = await cp.call("StartTransaction", {
            "connectorId": 2, "idTag": "U", "meterStart": 0, "timestamp": now_iso(),
        })  # fmt: skip
        assert nxt["transactionId"] == first[2]["transactionId"] + 1
        rows = await srv.rows("SELECT session_number FROM ocpp_sessions ORDER BY id")
        assert [r["session_number"] for r in rows] == [1, 2]
    finally:
        await srv.central.stop()
        await services.db.close()


async def test_prune_drops_old_reply_records(server, connect):
    cp = await connect(server.url("CP16"))
    start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now_iso()}
    await cp.call_frame("StartTransaction", start, message_id="p-1")
    assert len(await server.rows("SELECT * FROM ocpp_messages")) == 1
    await server.services.db.write(
        [("UPDATE ocpp_messages SET received_at = '2000-01-01T00:00:00.000Z'", ())]
    )
    await server.central.prune()
    assert await server.rows("SELECT * FROM ocpp_messages") == []
