from __future__ import annotations

from evsite.adapters.mqtt.shed import ShedTracker

LEVEL = {"percent": 40.0, "limit_a": None, "panel_id": None}


def test_nothing_shed() -> None:
    assert ShedTracker().status() == {
        "active": False,
        "percent": None,
        "limit_a": None,
        "limit_kw": None,
        "panel_id": None,
        "depth_a": 0.0,
        "panels": [],
    }


def test_meter_shed_is_active_without_an_external_level() -> None:
    shed = ShedTracker()
    shed.on_event(
        end=False,
        data={"shed_id": 1, "source": "meter", "panel_id": "garage", "depth_a": 7.5},
    )
    status = shed.status()
    assert (status["active"], status["percent"], status["depth_a"]) == (True, None, 7.5)
    assert status["panels"] == ["garage"]
    shed.on_event(end=True, data={"shed_id": 1, "source": "meter"})
    assert shed.status()["active"] is False


def test_mqtt_command_shows_at_once_then_the_event_is_the_truth() -> None:
    shed = ShedTracker()
    shed.on_command(40.0, None, None)
    assert (shed.status()["active"], shed.status()["percent"]) == (True, 40.0)
    start = {"shed_id": 2, "source": "external", "depth_a": 3.0, "level": LEVEL}
    shed.on_event(end=False, data=start)
    assert shed.status()["percent"] == 40.0
    assert shed.status()["panels"] == ["site"]
    # Changed over REST: the next event wins over the old MQTT request.
    shed.on_event(end=False, data={**start, "level": {**LEVEL, "percent": 70.0}})
    assert shed.status()["percent"] == 70.0
    shed.on_command(None, None, None)
    # The level is gone at once; the shed stays open until energy ends it.
    assert (shed.status()["percent"], shed.status()["active"]) == (None, True)
    shed.on_event(end=True, data={"shed_id": 2, "source": "external", "level": None})
    assert shed.status()["active"] is False


def test_kw_level_is_shown_from_the_command_and_the_event() -> None:
    shed = ShedTracker()
    shed.on_command(None, None, "garage", 7.5)
    status = shed.status()
    assert (status["active"], status["limit_kw"], status["panel_id"]) == (
        True,
        7.5,
        "garage",
    )
    level = {"percent": None, "limit_a": None, "limit_kw": 11.0, "panel_id": None}
    shed.on_event(end=False, data={"shed_id": 3, "source": "external", "level": level})
    assert (shed.status()["limit_kw"], shed.status()["panel_id"]) == (11.0, None)
    shed.on_command(None, None, None, None)
    assert shed.status()["limit_kw"] is None
