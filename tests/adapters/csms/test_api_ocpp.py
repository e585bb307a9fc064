"""REST routes of the central system against a real CentralSystem and chargers."""

from __future__ import annotations

from typing import Any

import pytest

from evsite.web import api_ocpp
from evsite.web.api import create_app

from .conftest import BOOT16, PASSWORD, basic, make_services, now_iso, start_server

AUTH = {"Authorization": "Bearer t"}


@pytest.fixture
async def api(server, aiohttp_client):
    app = create_app(server.services, [api_ocpp.register])
    return await aiohttp_client(app)


async def test_sessions_newest_first(server, api, connect):
    cp = await connect(server.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    first = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "A", "meterStart": 100, "timestamp": now_iso(-60)},
    )
    await cp.call(
        "StopTransaction",
        {
            "transactionId": first["transactionId"],
            "meterStop": 1100,
            "timestamp": now_iso(-30),
            "reason": "Local",
        },
    )
    await cp.call(
        "StartTransaction",
        {"connectorId": 2, "idTag": "B", "meterStart": 0, "timestamp": now_iso()},
    )
    resp = await api.get("/api/v1/sessions", headers=AUTH)
    assert resp.status == 200
    rows = await resp.json()
    assert [r["id_tag"] for r in rows] == ["B", "A"]
    done = rows[1]
    for key in (
        "charger_id",
        "connector_id",
        "id_tag",
        "start",
        "stop",
        "energy_wh",
        "session_number",
        "stop_reason",
    ):
        assert key in done
    assert (done["charger_id"], done["energy_wh"], done["stop_reason"]) == (
        "CP16",
        1000,
        "Local",
    )
    resp = await api.get("/api/v1/sessions?limit=1", headers=AUTH)
    assert len(await resp.json()) == 1
    resp = await api.get("/api/v1/sessions?limit=0", headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["error"]["problems"][0]["path"] == "limit"
    assert (await api.get("/api/v1/sessions")).status == 401


async def test_status_and_installed(server, api, connect):
    cp = await connect(server.url("CP16"))
    await cp.call("BootNotification", BOOT16)
    await cp.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                         "status": "Available"})  # fmt: skip
    await cp.call("MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": now_iso(), "sampledValue": [{"value": "123"}]}]})  # fmt: skip
    resp = await api.get("/api/v1/chargers/CP16/status", headers=AUTH)
    body = await resp.json()
    assert body["link"] == "connected"
    assert (body["vendor"], body["model"], body["firmware"]) == (
        "Acme",
        "Wall-1",
        "1.2.3",
    )
    assert body["connectors"][0]["status"] == "available"
    assert body["meter_values"][0]["energy_wh"] == 123
    assert body["connection"]["ocpp_version"] == "1.6"
    resp = await api.get("/api/v1/chargers/CP16/installed", headers=AUTH)
    assert await resp.json() == {
        "charger_id": "CP16",
        "profiles": [],
        "reservations": [],
        "local_list_version": None,
    }
    resp = await api.get("/api/v1/chargers/NOPE/status", headers=AUTH)
    assert resp.status == 404


async def test_commands(server, api, connect):
    cp = await connect(server.url("CP16"))
    cp.handlers["Reset"] = lambda a, p: {"status": "Accepted"}
    cp.handlers["SetChargingProfile"] = lambda a, p: {"status": "Accepted"}
    resp = await api.post(
        "/api/v1/chargers/CP16/commands/reset", json={"hard": True}, headers=AUTH
    )
    assert resp.status == 200
    assert (await resp.json())["result"]["status"] == "Accepted"
    assert cp.received_calls[-1][3] == {"type": "Hard"}
    resp = await api.post(
        "/api/v1/chargers/CP16/commands/set-charging-profile",
        json={"connector_id": 1, "limit_a": 10, "purpose": "tx_default"},
        headers=AUTH,
    )
    assert (await resp.json())["result"] is True
    resp = await api.get("/api/v1/chargers/CP16/installed", headers=AUTH)
    assert (await resp.json())["profiles"][0]["limit_value"] == 10
    # Validation names the field; unknown commands are 404; offline is 502.
    resp = await api.post(
        "/api/v1/chargers/CP16/commands/unlock",
        json={"connector_id": "x"},
        headers=AUTH,
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["problems"][0]["path"] == "connector_id"
    resp = await api.post("/api/v1/chargers/CP16/commands/fly", json={}, headers=AUTH)
    assert resp.status == 404
    resp = await api.post(
        "/api/v1/chargers/OTHER/commands/reset", json={}, headers=AUTH
    )
    assert resp.status == 502
    assert (await resp.json())["error"]["code"] == "charger_error"


async def test_password_and_pending(tmp_path, aiohttp_client, session, connect):
    services = await make_services(tmp_path, allow_unknown_chargers=True)
    srv = await start_server(services)
    try:
        api = await aiohttp_client(create_app(services, [api_ocpp.register]))
        resp = await api.put(
            "/api/v1/chargers/CP16/password", json={"password": "short"}, headers=AUTH
        )
        assert resp.status == 400
        resp = await api.put(
            "/api/v1/chargers/CP16/password", json={"password": PASSWORD}, headers=AUTH
        )
        assert resp.status == 204
        cp = await connect(srv.url("CP16"), headers=basic("CP16", PASSWORD))
        assert (await cp.call("BootNotification", BOOT16))["status"] == "Accepted"
        newbie = await connect(srv.url("NEW-1"))
        assert (await newbie.call("BootNotification", BOOT16))["status"] == "Pending"
        pending: list[dict[str, Any]] = await (
            await api.get("/api/v1/ocpp/pending", headers=AUTH)
        ).json()
        assert [p["charger_id"] for p in pending] == ["NEW-1"]
        newbie.handlers["TriggerMessage"] = lambda a, p: {"status": "Accepted"}
        resp = await api.post("/api/v1/ocpp/pending/NEW-1/adopt", json={}, headers=AUTH)
        assert resp.status == 200
        assert await (await api.get("/api/v1/ocpp/pending", headers=AUTH)).json() == []
        resp = await api.post("/api/v1/ocpp/pending/NEW-1/adopt", json={}, headers=AUTH)
        assert resp.status == 404
    finally:
        await srv.central.stop()
        await services.db.close()


async def test_unavailable_without_central(tmp_path, aiohttp_client):
    services = await make_services(tmp_path)
    try:
        api = await aiohttp_client(create_app(services, [api_ocpp.register]))
        resp = await api.get("/api/v1/sessions", headers=AUTH)
        assert resp.status == 503
    finally:
        await services.db.close()
