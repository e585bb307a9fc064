"""The MQTT bridge against a real Mosquitto broker (started per test)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evsite.adapters.mqtt.bridge import MqttBridge
from evsite.config.models import MqttSettings
from evsite.context import Services
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink, ConnectorStatus
from tests.adapters.mqtt.fakes import FakeCsms, FakeEnergy, FakeWaitlists
from tests.adapters.mqtt.support import MOSQUITTO, Broker, Observer, make_services
from tests.conftest import free_port, wait_until

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BASE = "evsite/site1"
DISCOVERY = [
    "homeassistant/device/evsite_site1/config",
    "homeassistant/device/evsite_site1_CP-1/config",
    "homeassistant/device/evsite_site1_CP-2/config",
]
STATE_TOPICS = [
    f"{BASE}/site/state",
    f"{BASE}/panels/main/state",
    f"{BASE}/panels/garage/state",
    f"{BASE}/chargers/CP-1/state",
    f"{BASE}/chargers/CP-1/connectors/1/state",
    f"{BASE}/chargers/CP-2/state",
    f"{BASE}/chargers/CP-2/connectors/1/state",
    f"{BASE}/chargers/CP-2/connectors/2/state",
]
Observe = Callable[..., Observer]


def plug_in(services: Services) -> None:
    """CP-1 is online with a car charging on connector 1."""
    state = services.live.charger("CP-1")
    state.link = ChargerLink.CONNECTED
    port = state.connector(1)
    port.status = ConnectorStatus.CHARGING
    port.current_a = {"L1": 16.0, "L2": 16.0, "L3": 16.0}
    port.limit_a = 16.0
    services.live.changed("charger", "CP-1")


@pytest.fixture
async def bridge(services: Services) -> AsyncIterator[MqttBridge]:
    """A running bridge with fake subsystems registered as components."""
    services.components["charger_commands"] = FakeCsms(services.live)
    services.components["energy"] = FakeEnergy(services.live, services.bus)
    services.components["waitlists"] = FakeWaitlists()
    plug_in(services)
    mqtt = MqttBridge(services, reconnect_delay=(1, 1))
    await mqtt.start()
    await wait_until(lambda: mqtt.connected)
    yield mqtt
    await mqtt.stop()


def _full(obs: Observer) -> bool:
    return obs.last(f"{BASE}/availability") == b"online" and all(
        obs.last(t) for t in STATE_TOPICS + DISCOVERY
    )


async def test_retained_state_and_discovery_appear(
    bridge: MqttBridge, observe: Observe
) -> None:
    obs = observe()
    await wait_until(lambda: _full(obs))
    # A subscriber arriving later gets everything from the broker's retained store.
    late = observe()
    await wait_until(lambda: _full(late))
    retained = {t for t, _, r in late.messages if r}
    assert set(STATE_TOPICS + DISCOVERY) <= retained
    port = obs.json(f"{BASE}/chargers/CP-1/connectors/1/state")
    assert (port["status"], port["limit_a"], port["current_a"]) == ("charging", 16, 16)
    device = obs.json(DISCOVERY[1])
    assert device["dev"]["name"] == "Bay 1"
    assert device["o"]["name"] == "evsite"


async def test_live_changes_are_published(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    obs = observe()
    await wait_until(lambda: _full(obs))
    services.live.charger("CP-2").connector(2).status = ConnectorStatus.PREPARING
    services.live.changed("charger", "CP-2")
    topic = f"{BASE}/chargers/CP-2/connectors/2/state"
    await wait_until(lambda: (obs.json(topic) or {}).get("plugged") is True)


async def test_commands_change_the_site(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    obs = observe()
    await wait_until(lambda: _full(obs))
    port = f"{BASE}/chargers/CP-1/connectors/1/state"
    obs.publish(f"{BASE}/chargers/CP-1/connectors/1/limit/set", "10")
    await wait_until(lambda: obs.json(port)["limit_a"] == 10)
    assert obs.json(port)["reason"] == "operator_cap"

    obs.publish(f"{BASE}/chargers/CP-1/connectors/1/charge_now/set", "PRESS")
    await wait_until(lambda: obs.json(port)["charge_now"] is True)

    obs.publish(f"{BASE}/chargers/CP-1/enabled/set", "OFF")
    charger = f"{BASE}/chargers/CP-1/state"
    await wait_until(lambda: obs.json(charger)["enabled"] is False)
    assert services.components["charger_commands"].calls == [("CP-1", 0, False)]  # type: ignore[attr-defined]

    obs.publish(f"{BASE}/site/shed_level/set", "50")
    site = f"{BASE}/site/state"
    await wait_until(lambda: obs.json(site)["shedding"] is True)
    assert obs.json(site)["shed"]["percent"] == 50
    await wait_until(lambda: obs.on(f"{BASE}/events/load_shed_start") != [])
    obs.publish(f"{BASE}/site/shed_level/set", '{"limit_kw": 7.5}')
    await wait_until(lambda: obs.json(site)["shed"]["limit_kw"] == 7.5)
    assert obs.json(site)["shed"]["percent"] is None
    obs.publish(f"{BASE}/site/shed_level/set", "OFF")
    await wait_until(lambda: obs.json(site)["shedding"] is False)
    assert obs.json(site)["shed"]["percent"] is None
    assert obs.json(site)["shed"]["limit_kw"] is None
    assert services.components["energy"].calls[-3:] == [  # type: ignore[attr-defined]
        ("shed", 50.0, None, None, None),
        ("shed", None, None, None, 7.5),
        ("shed", None, None, None, None),
    ]

    waitlists = services.components["waitlists"]
    obs.publish(f"{BASE}/waitlist/join/set", '{"driver_id": "d1", "group": "visitors"}')
    await wait_until(lambda: waitlists.queues == {"d1": "group:visitors"})  # type: ignore[attr-defined]
    obs.publish(f"{BASE}/waitlist/leave/set", "d1")
    await wait_until(lambda: waitlists.queues == {})  # type: ignore[attr-defined]
    assert obs.on(f"{BASE}/error") == []


async def test_bad_commands_answer_on_the_error_topic(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    obs = observe(f"{BASE}/error")
    cases = [
        (f"{BASE}/chargers/CP-1/connectors/1/limit/set", "99", "limit_a", "between 6"),
        (f"{BASE}/chargers/NOPE/enabled/set", "ON", "charger_id", "unknown charger"),
        (f"{BASE}/site/shed_level/set", '{"percent": "x"}', "percent", "a number"),
        (f"{BASE}/waitlist/join/set", "{}", "driver_id", "required key"),
    ]
    for topic, payload, _, _ in cases:
        obs.publish(topic, payload)
    await wait_until(lambda: len(obs.on(f"{BASE}/error")) == len(cases))
    errors = {e["topic"]: e for e in map(json.loads, obs.on(f"{BASE}/error"))}
    for topic, payload, field, problem in cases:
        assert errors[topic]["field"] == field
        assert problem in errors[topic]["error"]
        assert errors[topic]["payload"] == payload
    assert not any(r for t, _, r in obs.messages)  # errors are not retained
    assert services.components["energy"].calls == []  # type: ignore[attr-defined]

    services.components["charger_commands"].answer = "Rejected"  # type: ignore[attr-defined]
    obs.publish(f"{BASE}/chargers/CP-2/enabled/set", "OFF")
    await wait_until(lambda: len(obs.on(f"{BASE}/error")) == len(cases) + 1)
    assert "Rejected" in json.loads(obs.on(f"{BASE}/error")[-1])["error"]


async def test_missing_energy_management_is_a_clear_error(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    del services.components["energy"]
    obs = observe(f"{BASE}/error")
    obs.publish(f"{BASE}/site/shed_level/set", "30")
    await wait_until(lambda: len(obs.on(f"{BASE}/error")) == 1)
    error = json.loads(obs.on(f"{BASE}/error")[0])
    assert error["error"] == "energy management not available"
    assert error["topic"] == f"{BASE}/site/shed_level/set"


async def test_events_are_qos1_non_retained_and_internal_ones_stay_inside(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    obs = observe(f"{BASE}/events/#")
    services.bus.publish(Event(EventKind.METER_VALUES, AT, "CP-1", 1))
    services.bus.publish(
        Event(EventKind.SESSION_STARTED, AT, "CP-1", 1, {"session_id": 7})
    )
    services.bus.publish(
        Event(EventKind.WAITLIST_TURN, AT, "CP-1", 1, {"driver_id": "d1"})
    )
    await wait_until(lambda: len(obs.messages) == 2)
    (t1, p1, r1), (t2, p2, r2) = obs.messages
    assert (t1, r1) == (f"{BASE}/events/session_started", False)
    assert json.loads(p1)["session_id"] == 7
    assert (t2, r2) == (f"{BASE}/events/waitlist_turn", False)
    assert json.loads(p2) == {
        "event": "waitlist_turn",
        "at": AT.isoformat(),
        "charger_id": "CP-1",
        "connector_id": 1,
        "driver_id": "d1",
    }


async def test_deleted_charger_is_removed_from_home_assistant(
    bridge: MqttBridge, services: Services, observe: Observe
) -> None:
    obs = observe()
    await wait_until(lambda: _full(obs))
    config = services.site.config
    services.site.replace(
        replace(config, chargers=config.chargers[:1]), services.bus, services.clock
    )
    await wait_until(lambda: obs.last(DISCOVERY[2]) == b"")
    await wait_until(
        lambda: obs.last(f"{BASE}/chargers/CP-2/connectors/2/state") == b""
    )
    later = observe()
    await wait_until(lambda: later.last(DISCOVERY[1]) is not None)
    assert later.last(DISCOVERY[2]) is None
    assert later.last(f"{BASE}/chargers/CP-2/state") is None


async def test_home_assistant_restart_gets_discovery_again(
    bridge: MqttBridge, observe: Observe
) -> None:
    obs = observe()
    await wait_until(lambda: _full(obs))
    before = len(obs.on(DISCOVERY[0]))
    obs.publish("homeassistant/status", "online")
    await wait_until(lambda: len(obs.on(DISCOVERY[0])) == before + 1)


async def test_last_will_marks_evsite_offline_then_it_reconnects(
    bridge: MqttBridge, observe: Observe
) -> None:
    obs = observe(f"{BASE}/availability")
    await wait_until(lambda: obs.on(f"{BASE}/availability") == [b"online"])
    connects = bridge.stats.connects
    # Cut the TCP connection without an MQTT DISCONNECT, as a crash would.
    bridge._client._client.socket().shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    await wait_until(lambda: b"offline" in obs.on(f"{BASE}/availability"))
    await wait_until(lambda: bridge.stats.connects == connects + 1)
    await wait_until(lambda: obs.on(f"{BASE}/availability")[-1] == b"online")


async def test_clean_stop_publishes_offline(
    services: Services, observe: Observe
) -> None:
    mqtt = MqttBridge(services)
    await mqtt.start()
    await wait_until(lambda: mqtt.connected)
    obs = observe(f"{BASE}/availability")
    await wait_until(lambda: obs.last(f"{BASE}/availability") == b"online")
    await mqtt.stop()
    await wait_until(lambda: obs.last(f"{BASE}/availability") == b"offline")
    await mqtt.stop()  # idempotent


async def test_disabled_mqtt_does_nothing(tmp_path: Path) -> None:
    svc, db = await make_services(tmp_path, MqttSettings(enabled=False))
    mqtt = MqttBridge(svc)
    await mqtt.start()
    assert not mqtt.connected
    svc.bus.publish(Event(EventKind.ALARM, AT, "CP-1"))
    await mqtt.stop()
    await db.close()


def _outage_events(services: Services, count: int) -> None:
    for n in range(count):
        services.bus.publish(Event(EventKind.ALARM, AT, "CP-1", None, {"n": n}))


async def test_broker_outage_loses_no_state_and_delivers_queued_events(
    services: Services, broker: Broker, observe: Observe
) -> None:
    energy = FakeEnergy(services.live)
    services.components["energy"] = energy
    plug_in(services)
    # Constant 2 s backoff: the observer below is subscribed long before the
    # bridge's next attempt, so it sees the queued (non-retained) events.
    mqtt = MqttBridge(services, reconnect_delay=(2, 2))
    await mqtt.start()
    await wait_until(lambda: mqtt.connected)

    broker.stop()
    await wait_until(lambda: not mqtt.connected)
    # Charging goes on during the outage: new limits and events.
    await energy.set_connector_limit("CP-1", 1, 12.0)
    _outage_events(services, 3)
    await wait_until(lambda: mqtt.queued_events == 3)

    broker.start()
    loop = asyncio.get_running_loop()
    restarted = loop.time()
    obs = observe()
    await wait_until(lambda: _full(obs), timeout=10)
    republished_after = loop.time() - restarted
    assert republished_after < 5.0
    port = obs.json(f"{BASE}/chargers/CP-1/connectors/1/state")
    assert port["limit_a"] == 12
    await wait_until(lambda: len(obs.on(f"{BASE}/events/alarm")) == 3)
    assert [json.loads(p)["n"] for p in obs.on(f"{BASE}/events/alarm")] == [0, 1, 2]
    assert mqtt.queued_events == 0
    assert mqtt.dropped_events == 0
    # The bridge still takes commands after the outage.
    obs.publish(f"{BASE}/chargers/CP-1/connectors/1/limit/set", "20")
    await wait_until(
        lambda: obs.json(f"{BASE}/chargers/CP-1/connectors/1/state")["limit_a"] == 20
    )
    await mqtt.stop()


async def test_runs_without_a_broker_and_bounds_the_event_queue(
    tmp_path: Path,
) -> None:
    if shutil.which(MOSQUITTO) is None:
        pytest.skip(f"Mosquitto not installed ({MOSQUITTO}); MQTT broker tests skipped")
    port = free_port()
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=port)
    svc, db = await make_services(tmp_path, settings)
    mqtt = MqttBridge(svc, event_queue_size=5, reconnect_delay=(2, 2))
    await mqtt.start()  # no broker: must not raise or block
    _outage_events(svc, 8)
    await wait_until(lambda: mqtt.dropped_events == 3)
    assert mqtt.queued_events == 5
    assert not mqtt.connected

    broker = Broker(tmp_path, port)
    broker.start()
    obs = Observer(port, f"{BASE}/#")
    try:
        await wait_until(lambda: len(obs.on(f"{BASE}/events/alarm")) == 5, timeout=10)
        assert [json.loads(p)["n"] for p in obs.on(f"{BASE}/events/alarm")] == [
            3,
            4,
            5,
            6,
            7,
        ]
        await wait_until(lambda: obs.last(f"{BASE}/site/state") is not None)
    finally:
        obs.close()
        await mqtt.stop()
        broker.stop()
        await db.close()
