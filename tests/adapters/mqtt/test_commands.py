from __future__ import annotations

import pytest

from evsite.adapters.mqtt.commands import (
    MAX_PAYLOAD_BYTES,
    ChargeNow,
    Command,
    CommandError,
    EnableCharger,
    JoinWaitlist,
    LeaveWaitlist,
    SetConnectorLimit,
    SetShedLevel,
    parse_command,
)
from evsite.adapters.mqtt.topics import Topics
from evsite.config.models import MqttSettings
from tests.adapters.mqtt.support import site_config

T = Topics.for_site(MqttSettings(), "site1")
CONFIG = site_config()


def parse(topic: str, payload: str | bytes) -> Command:
    raw = payload.encode() if isinstance(payload, str) else payload
    return parse_command(T, topic, raw, CONFIG)


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        (T.charger_enable_set("CP-1"), "ON", EnableCharger("CP-1", True)),
        (T.charger_enable_set("CP-1"), "off", EnableCharger("CP-1", False)),
        (T.charger_enable_set("CP-1"), "true", EnableCharger("CP-1", True)),
        (
            T.charger_enable_set("CP-1"),
            '{"enabled": false}',
            EnableCharger("CP-1", False),
        ),
        (T.connector_limit_set("CP-1", 1), "16", SetConnectorLimit("CP-1", 1, 16.0)),
        (T.connector_limit_set("CP-1", 1), "6.5", SetConnectorLimit("CP-1", 1, 6.5)),
        (T.connector_limit_set("CP-1", 1), "0", SetConnectorLimit("CP-1", 1, 0.0)),
        (T.connector_limit_set("CP-2", 2), "auto", SetConnectorLimit("CP-2", 2, None)),
        (
            T.connector_limit_set("CP-1", 1),
            '{"limit_a": 32}',
            SetConnectorLimit("CP-1", 1, 32.0),
        ),
        (T.charge_now_set("CP-2", 2), "PRESS", ChargeNow("CP-2", 2, True)),
        (T.charge_now_set("CP-2", 2), "charge_now", ChargeNow("CP-2", 2, True)),
        (T.charge_now_set("CP-2", 2), "auto", ChargeNow("CP-2", 2, False)),
        (T.shed_level_set, "50", SetShedLevel(percent=50.0)),
        (T.shed_level_set, '{"limit_a": 40}', SetShedLevel(limit_a=40.0)),
        (
            T.shed_level_set,
            '{"percent": 30, "limit_a": 40, "panel_id": "garage"}',
            SetShedLevel(30.0, 40.0, "garage"),
        ),
        (T.shed_level_set, '{"limit_a": 0}', SetShedLevel(limit_a=0.0)),
        (T.shed_level_set, '{"limit_kw": 11}', SetShedLevel(limit_kw=11.0)),
        (T.shed_level_set, '{"limit_kw": 0}', SetShedLevel(limit_kw=0.0)),
        (
            T.shed_level_set,
            '{"percent": 20, "limit_kw": 7.5, "panel_id": "garage"}',
            SetShedLevel(20.0, None, "garage", 7.5),
        ),
        (T.shed_level_set, '{"limit_kw": null}', SetShedLevel()),
        (
            T.shed_level_set,
            '{"percent": 0, "panel_id": "main"}',
            SetShedLevel(None, None, "main"),
        ),
        (T.shed_level_set, "0", SetShedLevel()),
        (T.shed_level_set, "OFF", SetShedLevel()),
        (
            T.waitlist_join_set,
            '{"driver_id": "d1", "charger_id": "CP-1"}',
            JoinWaitlist("d1", charger_id="CP-1"),
        ),
        (
            T.waitlist_join_set,
            '{"driver_id": "d1", "group": "visitors"}',
            JoinWaitlist("d1", group="visitors"),
        ),
        (T.waitlist_leave_set, '{"driver_id": "d1"}', LeaveWaitlist("d1")),
        (T.waitlist_leave_set, "1042", LeaveWaitlist("1042")),
    ],
)
def test_valid_commands(topic: str, payload: str, expected: Command) -> None:
    assert parse(topic, payload) == expected


@pytest.mark.parametrize(
    ("topic", "payload", "field", "problem"),
    [
        (T.charger_enable_set("NOPE"), "ON", "charger_id", "unknown charger 'NOPE'"),
        (T.charger_enable_set("CP-1"), "maybe", "enabled", "expected ON or OFF"),
        (T.charger_enable_set("CP-1"), "{}", "enabled", "required key"),
        (
            T.connector_limit_set("CP-1", 3),
            "10",
            "connector_id",
            "has no connector '3'",
        ),
        (T.connector_limit_set("CP-1", 1), "3", "limit_a", "between 6 and 32 A"),
        (T.connector_limit_set("CP-1", 1), "40", "limit_a", "got 40"),
        (T.connector_limit_set("CP-2", 1), "20", "limit_a", "between 6 and 16 A"),
        (T.connector_limit_set("CP-1", 1), "fast", "limit_a", "expected a number"),
        (T.connector_limit_set("CP-1", 1), "true", "limit_a", "expected a number"),
        (T.connector_limit_set("CP-1", 1), '{"amps": 10}', "limit_a", "required key"),
        (T.shed_level_set, "150", "percent", "must be at most 100"),
        (T.shed_level_set, '{"percent": -1}', "percent", "at least 0"),
        (T.shed_level_set, '{"panel_id": "attic"}', "panel_id", "unknown panel"),
        (T.shed_level_set, '{"percent": "lots"}', "percent", "expected a number"),
        (T.shed_level_set, '{"depth": 3}', "depth", "extra keys not allowed"),
        (T.shed_level_set, '{"limit_kw": -3}', "limit_kw", "at least 0"),
        (T.shed_level_set, '{"limit_kw": "11"}', "limit_kw", "expected a number"),
        (T.shed_level_set, '{"limit_kw": true}', "limit_kw", "expected a number"),
        (T.waitlist_join_set, '{"charger_id": "CP-1"}', "driver_id", "required key"),
        (T.waitlist_join_set, '{"driver_id": "d"}', "charger_id", "either"),
        (
            T.waitlist_join_set,
            '{"driver_id": "d", "charger_id": "X"}',
            "charger_id",
            "X",
        ),
        (T.waitlist_join_set, '{"driver_id": "d", "group": "g"}', "group", "'g'"),
        (
            T.waitlist_join_set,
            '{"driver_id": "d", "charger_id": "CP-1", "group": "visitors"}',
            "charger_id",
            "either",
        ),
        (T.waitlist_join_set, "d1", None, "expected a JSON object"),
        (T.waitlist_leave_set, "", None, "expected a JSON object"),
        (T.waitlist_leave_set, '{"driver_id": ""}', "driver_id", "non-empty id"),
        (T.shed_level_set, b"\xff\xfe", None, "not UTF-8"),
        (T.shed_level_set, b"1" * (MAX_PAYLOAD_BYTES + 1), None, "larger than"),
        ("evsite/site1/site/state", "1", None, "not a command topic"),
    ],
)
def test_invalid_commands_name_the_field_and_problem(
    topic: str, payload: str | bytes, field: str | None, problem: str
) -> None:
    with pytest.raises(CommandError) as info:
        parse(topic, payload)
    assert info.value.topic == topic
    assert info.value.field == field
    assert problem in info.value.problem
    assert topic in str(info.value)
