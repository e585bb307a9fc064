"""evsite's discovery payloads and state topics loaded by real Home Assistant MQTT."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ha_site import AT, CONFIG, TOPICS
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from evsite.adapters.mqtt.commands import (
    ChargeNow,
    EnableCharger,
    SetConnectorLimit,
    SetShedLevel,
    parse_command,
)
from evsite.adapters.mqtt.discovery import discovery_configs
from evsite.adapters.mqtt.payloads import all_messages
from evsite.control.live import ChargerLink, ConnectorStatus, LiveState, MeterSample

pytestmark = pytest.mark.parametrize("expected_lingering_timers", [True])


def _live() -> LiveState:
    live = LiveState()
    cp1 = live.charger("CP-1")
    cp1.link = ChargerLink.CONNECTED
    port = cp1.connector(1)
    port.status = ConnectorStatus.CHARGING
    port.current_a = {"L1": 16.0, "L2": 16.0, "L3": 16.0}
    port.power_w = 11040.0
    port.limit_a = 16.0
    port.reason = "fair_share"
    port.session_id = 3
    port.session_energy_wh = 2500.0
    cp2 = live.charger("CP-2")
    cp2.connector(1).status = ConnectorStatus.UNAVAILABLE
    cp2.connector(2).status = ConnectorStatus.UNAVAILABLE
    cp2.connector(2).load_shed_sources = {"SO": AT}  # the grid limits port 2
    live.record_meter(
        "main", MeterSample(AT, {"L1": 40.0, "L2": 31.0, "L3": 35.0}, 24500)
    )
    return live


async def _load(hass: HomeAssistant, shed: dict[str, Any] | None = None) -> None:
    for topic, payload in discovery_configs(TOPICS, CONFIG, "0.1.0").items():
        async_fire_mqtt_message(hass, topic, json.dumps(payload), retain=True)
    await hass.async_block_till_done()
    for topic, payload in all_messages(
        TOPICS, CONFIG, _live(), shed or {"active": False}
    ).items():
        async_fire_mqtt_message(hass, topic, payload, retain=True)
    async_fire_mqtt_message(hass, TOPICS.availability, "online", retain=True)
    await hass.async_block_till_done()


def _entity(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, "mqtt", unique_id)
    assert entity_id is not None, unique_id
    return entity_id


def _state(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    state = hass.states.get(_entity(hass, platform, unique_id))
    assert state is not None
    return state.state


async def test_devices_and_entities_are_created_with_states(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    await _load(hass, {"active": True, "percent": 40})
    devices = dr.async_get(hass)
    site = devices.async_get_device(identifiers={("mqtt", "evsite_site1")})
    cp1 = devices.async_get_device(identifiers={("mqtt", "evsite_site1_CP-1")})
    assert site is not None
    assert cp1 is not None
    assert (cp1.name, cp1.manufacturer, cp1.via_device_id) == ("Bay 1", "Acme", site.id)

    c1 = "evsite_site1_CP-1_c1"
    assert _state(hass, "sensor", f"{c1}_status") == "charging"
    assert float(_state(hass, "sensor", f"{c1}_power")) == 11040.0
    assert float(_state(hass, "sensor", f"{c1}_current")) == 16.0
    assert float(_state(hass, "sensor", f"{c1}_limit")) == 16.0
    assert float(_state(hass, "sensor", f"{c1}_energy")) == 2.5
    assert _state(hass, "sensor", f"{c1}_reason") == "fair_share"
    assert _state(hass, "binary_sensor", f"{c1}_plugged") == "on"
    assert _state(hass, "binary_sensor", f"{c1}_charging") == "on"
    # The charger's own load shed, per port (OCPP 2.0.1 NotifyChargingLimit).
    assert _state(hass, "binary_sensor", f"{c1}_load_shed") == "off"
    assert _state(hass, "binary_sensor", "evsite_site1_CP-2_c2_load_shed") == "on"
    assert _state(hass, "binary_sensor", "evsite_site1_CP-2_c1_load_shed") == "off"
    assert float(_state(hass, "number", f"{c1}_limit_set")) == 16.0
    assert _state(hass, "select", f"{c1}_mode") == "auto"
    assert _state(hass, "button", f"{c1}_charge_now") == "unknown"
    assert _state(hass, "binary_sensor", "evsite_site1_CP-1_online") == "on"
    assert _state(hass, "switch", "evsite_site1_CP-1_enabled") == "on"
    assert _state(hass, "switch", "evsite_site1_CP-2_enabled") == "off"
    assert _state(hass, "binary_sensor", "evsite_site1_CP-2_online") == "off"

    assert float(_state(hass, "sensor", "evsite_site1_ev_power")) == 11040.0
    assert float(_state(hass, "sensor", "evsite_site1_grid_current")) == 40.0
    assert _state(hass, "binary_sensor", "evsite_site1_shedding") == "on"
    assert float(_state(hass, "number", "evsite_site1_shed_level")) == 40.0
    # No kW cap: the power limit shows its maximum (the root panel's capacity).
    kw = hass.states.get(_entity(hass, "number", "evsite_site1_shed_limit_kw"))
    assert kw is not None
    assert kw.state == str(kw.attributes["max"])
    assert float(_state(hass, "sensor", "evsite_site1_panel_garage_allocated")) == 16.0
    assert float(_state(hass, "sensor", "evsite_site1_panel_main_measured")) == 40.0
    # No meter on the garage panel: the sensor is unknown, not an error.
    assert _state(hass, "sensor", "evsite_site1_panel_garage_measured") == "unknown"


async def test_entities_are_unavailable_when_evsite_is_offline(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    await _load(hass)
    # A live message (a broker sets the retain flag only for new subscriptions).
    async_fire_mqtt_message(hass, TOPICS.availability, "offline")
    await hass.async_block_till_done()
    assert _state(hass, "sensor", "evsite_site1_CP-1_c1_status") == "unavailable"
    assert _state(hass, "switch", "evsite_site1_CP-1_enabled") == "unavailable"


async def _published(mqtt_mock: Any) -> tuple[str, str, int]:
    call = mqtt_mock.async_publish.call_args
    topic, payload, qos, _retain = call.args
    mqtt_mock.async_publish.reset_mock()
    return topic, payload, qos


async def test_command_entities_publish_what_evsite_accepts(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    await _load(hass)
    c1 = "evsite_site1_CP-1_c1"
    calls = [
        ("switch", "turn_off", "switch", "evsite_site1_CP-1_enabled", {}),
        ("number", "set_value", "number", f"{c1}_limit_set", {"value": 10}),
        ("select", "select_option", "select", f"{c1}_mode", {"option": "charge_now"}),
        ("button", "press", "button", f"{c1}_charge_now", {}),
        ("number", "set_value", "number", "evsite_site1_shed_level", {"value": 25}),
    ]
    expected = [
        ("evsite/site1/chargers/CP-1/enabled/set", EnableCharger("CP-1", False)),
        (
            "evsite/site1/chargers/CP-1/connectors/1/limit/set",
            SetConnectorLimit("CP-1", 1, 10.0),
        ),
        (
            "evsite/site1/chargers/CP-1/connectors/1/charge_now/set",
            ChargeNow("CP-1", 1, True),
        ),
        (
            "evsite/site1/chargers/CP-1/connectors/1/charge_now/set",
            ChargeNow("CP-1", 1, True),
        ),
        ("evsite/site1/site/shed_level/set", SetShedLevel(percent=25.0)),
    ]
    for (domain, service, platform, uid, data), (topic, command) in zip(
        calls, expected, strict=True
    ):
        entity_id = _entity(hass, platform, uid)
        await hass.services.async_call(
            domain, service, {"entity_id": entity_id, **data}, blocking=True
        )
        sent_topic, payload, qos = await _published(mqtt_mock)
        assert sent_topic == topic
        assert qos == 1
        # The payload Home Assistant sends is one evsite's validator accepts.
        assert parse_command(TOPICS, sent_topic, payload.encode(), CONFIG) == command


async def test_shed_power_limit_number_shows_and_sends_kw(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    shed = {"active": True, "percent": None, "limit_kw": 11.0, "panel_id": None}
    await _load(hass, shed)
    uid = "evsite_site1_shed_limit_kw"
    state = hass.states.get(_entity(hass, "number", uid))
    assert state is not None
    top = float(state.attributes["max"])
    assert state.attributes["unit_of_measurement"] == "kW"
    assert float(state.state) == 11.0
    entity_id = _entity(hass, "number", uid)
    for value, command in ((7.5, SetShedLevel(limit_kw=7.5)), (top, SetShedLevel())):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": entity_id, "value": value},
            blocking=True,
        )  # fmt: skip
        topic, payload, qos = await _published(mqtt_mock)
        assert (topic, qos) == ("evsite/site1/site/shed_level/set", 1)
        assert parse_command(TOPICS, topic, payload.encode(), CONFIG) == command


async def test_deleted_charger_device_is_removed(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    await _load(hass)
    entity_id = _entity(hass, "switch", "evsite_site1_CP-2_enabled")
    async_fire_mqtt_message(hass, TOPICS.discovery_config("evsite_site1_CP-2"), "")
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is None
    devices = dr.async_get(hass)
    assert devices.async_get_device(identifiers={("mqtt", "evsite_site1_CP-2")}) is None
    assert devices.async_get_device(identifiers={("mqtt", "evsite_site1_CP-1")})
