"""MQTT commands against the whole app: real energy, OCPP and waitlist components."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from evsite.app import EvsiteApp
from evsite.config.load import parse_site
from evsite.config.models import MqttSettings, WebSettings, ZeroconfSettings
from evsite.context import Services
from tests.adapters.mqtt.support import Broker, Observer, site_data
from tests.conftest import wait_until

BASE = "evsite/site1"
Observe = Callable[..., Observer]


@pytest.fixture
async def app_services(tmp_path: Path, broker: Broker) -> AsyncIterator[Services]:
    """evsite running from a site file with MQTT pointed at the test broker."""
    loaded = parse_site(site_data())
    base = loaded.config.service
    settings = replace(
        base,
        mqtt=MqttSettings(enabled=True, port=broker.port),
        web=WebSettings(host="127.0.0.1", port=0),
        ocpp=replace(base.ocpp, host="127.0.0.1", port=0),
        zeroconf=ZeroconfSettings(enabled=False),
        api=replace(base.api, token="t" * 24),
    )
    app = EvsiteApp(loaded, settings, tmp_path / "data")
    services = await app.start()
    yield services
    await app.stop()


def _errors(obs: Observer) -> list[dict[str, object]]:
    return [json.loads(p) for p in obs.on(f"{BASE}/error")]


async def test_shed_level_over_mqtt_reaches_energy_management(
    app_services: Services, observe: Observe
) -> None:
    assert "mqtt" in app_services.components
    obs = observe()
    await wait_until(lambda: obs.last(f"{BASE}/availability") == b"online")
    site = f"{BASE}/site/state"
    obs.publish(f"{BASE}/site/shed_level/set", '{"percent": 40}')
    await wait_until(lambda: obs.on(f"{BASE}/events/load_shed_start") != [])
    start = json.loads(obs.on(f"{BASE}/events/load_shed_start")[0])
    assert start["source"] == "external"
    assert start["level"]["percent"] == 40
    await wait_until(lambda: obs.json(site)["shed"]["percent"] == 40)
    obs.publish(f"{BASE}/site/shed_level/set", "OFF")
    await wait_until(lambda: obs.on(f"{BASE}/events/load_shed_end") != [])
    await wait_until(lambda: obs.json(site)["shedding"] is False)
    assert _errors(obs) == []


async def test_real_components_refuse_with_clear_errors(
    app_services: Services, observe: Observe
) -> None:
    obs = observe(f"{BASE}/error")
    obs.publish(f"{BASE}/chargers/CP-1/enabled/set", "OFF")  # no charger connected
    obs.publish(
        f"{BASE}/waitlist/join/set", '{"driver_id": "ghost", "charger_id": "CP-1"}'
    )
    obs.publish(f"{BASE}/chargers/CP-1/connectors/1/limit/set", "2")
    await wait_until(lambda: len(_errors(obs)) == 3)
    by_topic = {e["topic"]: e for e in _errors(obs)}
    enable = by_topic[f"{BASE}/chargers/CP-1/enabled/set"]
    assert (enable["field"], enable["error"]) == (
        "charger_id",
        "charger 'CP-1' is not connected",
    )
    join = by_topic[f"{BASE}/waitlist/join/set"]
    assert (join["field"], join["error"]) == ("driver_id", "driver 'ghost' not found")
    limit = by_topic[f"{BASE}/chargers/CP-1/connectors/1/limit/set"]
    assert limit["field"] == "limit_a"


@pytest.fixture
async def app(tmp_path: Path, broker: Broker) -> AsyncIterator[EvsiteApp]:
    """The whole app with MQTT on the test broker; its OCPP port is known."""
    loaded = parse_site(site_data())
    base = loaded.config.service
    settings = replace(
        base,
        mqtt=MqttSettings(enabled=True, port=broker.port),
        web=WebSettings(host="127.0.0.1", port=0),
        ocpp=replace(base.ocpp, host="127.0.0.1", port=0),
        zeroconf=ZeroconfSettings(enabled=False),
        api=replace(base.api, token="t" * 24),
    )
    running = EvsiteApp(loaded, settings, tmp_path / "data")
    await running.start()
    yield running
    await running.stop()


async def _call(ws: aiohttp.ClientWebSocketResponse, action: str, body: Any) -> Any:
    """One OCPP-J CALL from the charger; the CALLRESULT payload.

    evsite's own calls in between (ChangeAvailability for this closed
    charger, post-boot queries) are answered Accepted.
    """
    await ws.send_str(json.dumps([2, action, action, body]))
    while True:
        frame = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if frame[0] == 2:
            await ws.send_str(json.dumps([3, frame[1], {"status": "Accepted"}]))
            continue
        assert frame[:2] == [3, action], frame
        return frame[2]


async def test_a_chargers_own_load_shed_is_published_per_port(
    app: EvsiteApp, observe: Observe
) -> None:
    obs = observe()
    port2 = f"{BASE}/chargers/CP-2/connectors/2/state"
    await wait_until(lambda: obs.json(port2) is not None)
    assert obs.json(port2)["load_shed"] is False
    url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp/CP-2"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("ocpp2.0.1",)) as ws,
    ):
        boot = {"reason": "PowerUp",
                "chargingStation": {"model": "AC", "vendorName": "Acme"}}  # fmt: skip
        assert (await _call(ws, "BootNotification", boot))["status"] == "Accepted"
        limit = {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 2}
        assert await _call(ws, "NotifyChargingLimit", limit) == {}
        await wait_until(lambda: obs.json(port2)["load_shed"] is True)
        assert obs.json(port2)["load_shed_source"] == "EMS"
        assert obs.json(port2)["load_shed_since"] is not None
        port1 = f"{BASE}/chargers/CP-2/connectors/1/state"
        assert obs.json(port1)["load_shed"] is False
        cleared = {"chargingLimitSource": "EMS", "evseId": 2}
        assert await _call(ws, "ClearedChargingLimit", cleared) == {}
        await wait_until(lambda: obs.json(port2)["load_shed"] is False)
