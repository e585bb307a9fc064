"""evsite's automation blueprints, validated and run by real Home Assistant."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ha_site import BLUEPRINTS, CONFIG, TOPICS
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockModule,
    MockPlatform,
    async_fire_mqtt_message,
    async_fire_time_changed,
    async_mock_service,
    mock_integration,
    mock_platform,
)

from evsite.adapters.mqtt.commands import ChargeNow, SetShedLevel, parse_command

FILES = sorted(BLUEPRINTS.glob("*.yaml"))
SITE = "evsite/site1"
lingering = pytest.mark.parametrize("expected_lingering_timers", [True])


def test_there_are_at_least_four_blueprints() -> None:
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_blueprint_matches_home_assistants_schema(path: Path) -> None:
    blueprint = Blueprint(
        load_yaml_dict(str(path)), expected_domain="automation", schema=BLUEPRINT_SCHEMA
    )
    assert blueprint.name.startswith("evsite - ")
    assert "site_topic" in blueprint.inputs


async def _automation(
    hass: HomeAssistant, tmp_path: Path, name: str, inputs: dict[str, Any]
) -> None:
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "evsite"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(BLUEPRINTS / name, target / name)
    config = {"use_blueprint": {"path": f"evsite/{name}", "input": inputs}}
    assert await async_setup_component(hass, "automation", {"automation": config})
    await hass.async_block_till_done()


def _event(kind: str, **data: Any) -> str:
    body = {"event": kind, "at": "2026-11-22T12:00:00+00:00", **data}
    return json.dumps(body)


@lingering
async def test_waitlist_turn_notifies_the_next_driver(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, "notify", "alex_phone")
    await _automation(
        hass,
        tmp_path,
        "waitlist_turn_notify.yaml",
        {"site_topic": SITE, "driver_id": "d-42", "notify_action": "notify.alex_phone"},
    )
    topic = TOPICS.event("waitlist_turn")
    async_fire_mqtt_message(hass, topic, _event("waitlist_turn", driver_id="d-7"))
    await hass.async_block_till_done()
    assert calls == []  # someone else's turn
    async_fire_mqtt_message(
        hass,
        topic,
        _event("waitlist_turn", charger_id="CP-1", connector_id=1, driver_id="d-42"),
    )
    await hass.async_block_till_done()
    assert len(calls) == 1
    assert "CP-1 port 1 is held for you" in calls[0].data["message"]


@lingering
async def test_fault_alarm_is_forwarded_for_selected_chargers(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, "notify", "facility")
    await _automation(
        hass,
        tmp_path,
        "charger_fault_notify.yaml",
        {
            "site_topic": SITE,
            "chargers": "CP-1, CP-9",
            "notify_action": "notify.facility",
        },
    )
    topic = TOPICS.event("alarm")
    async_fire_mqtt_message(hass, topic, _event("alarm", charger_id="CP-2"))
    await hass.async_block_till_done()
    assert calls == []
    async_fire_mqtt_message(
        hass,
        topic,
        _event("alarm", charger_id="CP-1", connector_id=1, error_code="GroundFailure"),
    )
    await hass.async_block_till_done()
    assert len(calls) == 1
    assert calls[0].data["title"] == "EV charger alarm: CP-1"
    assert "GroundFailure" in calls[0].data["message"]


def _sent(mqtt_mock: Any) -> list[tuple[str, str, int]]:
    return [
        (c.args[0], str(c.args[1]), c.args[2])
        for c in mqtt_mock.async_publish.call_args_list
    ]


@lingering
async def test_shed_blueprint_publishes_the_shed_level_and_restores(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path
) -> None:
    hass.states.async_set("sensor.grid_import", "5000")
    hass.states.async_set("sensor.price", "0.20")
    await _automation(
        hass,
        tmp_path,
        "shed_on_grid_or_price.yaml",
        {
            "site_topic": SITE,
            "grid_sensor": "sensor.grid_import",
            "grid_threshold_w": 15000,
            "hysteresis_w": 1000,
            "price_sensor": "sensor.price",
            "price_threshold": 0.40,
            "shed_percent": 60,
        },
    )
    mqtt_mock.async_publish.reset_mock()
    hass.states.async_set("sensor.grid_import", "16500")
    await hass.async_block_till_done()
    hass.states.async_set("sensor.grid_import", "14500")  # inside the hysteresis
    await hass.async_block_till_done()
    hass.states.async_set("sensor.grid_import", "9000")
    await hass.async_block_till_done()
    hass.states.async_set("sensor.price", "0.55")  # price spike alone sheds too
    await hass.async_block_till_done()
    sent = _sent(mqtt_mock)
    assert [(t, p) for t, p, _ in sent] == [
        (TOPICS.shed_level_set, "60"),
        (TOPICS.shed_level_set, "0"),
        (TOPICS.shed_level_set, "60"),
    ]
    assert all(qos == 1 for _, _, qos in sent)
    commands = [parse_command(TOPICS, t, p.encode(), CONFIG) for t, p, _ in sent]
    assert commands == [SetShedLevel(percent=60.0), SetShedLevel(), SetShedLevel(60.0)]


@lingering
async def test_charge_now_button_publishes_charge_now(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path
) -> None:
    assert await async_setup_component(
        hass, "input_button", {"input_button": {"ev_now": {"name": "EV now"}}}
    )
    await _automation(
        hass,
        tmp_path,
        "charge_now_button.yaml",
        {
            "site_topic": SITE,
            "button": "input_button.ev_now",
            "charger_id": "CP-2",
            "connector_id": 2,
        },
    )
    mqtt_mock.async_publish.reset_mock()
    await hass.services.async_call(
        "input_button", "press", {"entity_id": "input_button.ev_now"}, blocking=True
    )
    await hass.async_block_till_done()
    (topic, payload, qos), *rest = _sent(mqtt_mock)
    assert rest == []
    assert (topic, payload, qos) == (TOPICS.charge_now_set("CP-2", 2), "PRESS", 1)
    assert parse_command(TOPICS, topic, payload.encode(), CONFIG) == ChargeNow(
        "CP-2", 2, True
    )


class _Calendar(CalendarEntity):
    """A calendar holding fixed events (a stand-in for a user's calendar)."""

    _attr_name = "Car"

    def __init__(self, events: list[CalendarEvent]) -> None:
        self._events = events

    @property
    def event(self) -> CalendarEvent | None:
        now = dt_util.now()
        return next(
            (
                e
                for e in self._events
                if e.start_datetime_local <= now < e.end_datetime_local
            ),
            None,
        )

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        return [
            e
            for e in self._events
            if e.end_datetime_local > start_date and e.start_datetime_local < end_date
        ]


@lingering
async def test_charge_now_calendar_turns_charge_now_on_and_off(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path, freezer: Any
) -> None:
    now = dt_util.now().replace(microsecond=0)
    start, end = now + timedelta(minutes=5), now + timedelta(minutes=35)
    events = [
        CalendarEvent(start, end, "EV: trip to the coast"),
        CalendarEvent(start + timedelta(hours=1), end + timedelta(hours=1), "Dentist"),
    ]

    async def setup_platform(
        hass: HomeAssistant, config: Any, add: Any, info: Any = None
    ) -> None:
        add([_Calendar(events)])

    mock_integration(hass, MockModule("evtest"))
    mock_platform(
        hass, "evtest.calendar", MockPlatform(async_setup_platform=setup_platform)
    )
    assert await async_setup_component(
        hass, "calendar", {"calendar": {"platform": "evtest"}}
    )
    await hass.async_block_till_done()
    await _automation(
        hass,
        tmp_path,
        "charge_now_calendar.yaml",
        {
            "site_topic": SITE,
            "calendar": "calendar.car",
            "keyword": "ev",
            "charger_id": "CP-1",
            "connector_id": 1,
        },
    )
    mqtt_mock.async_publish.reset_mock()
    for moment in (
        start + timedelta(seconds=1),
        end + timedelta(seconds=1),
        end + timedelta(hours=2),
    ):
        freezer.move_to(moment)
        async_fire_time_changed(hass, moment)
        await hass.async_block_till_done()
    sent = _sent(mqtt_mock)
    topic = TOPICS.charge_now_set("CP-1", 1)
    assert [(t, p) for t, p, _ in sent] == [(topic, "ON"), (topic, "auto")]
    commands = [parse_command(TOPICS, t, p.encode(), CONFIG) for t, p, _ in sent]
    assert commands == [ChargeNow("CP-1", 1, True), ChargeNow("CP-1", 1, False)]
