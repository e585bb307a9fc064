from __future__ import annotations

import pytest

from evsite.adapters.mqtt.topics import CommandKind, CommandTopic, Topics, object_id
from evsite.config.models import MqttSettings

T = Topics.for_site(MqttSettings(), "site1")


def test_base_topic_is_base_slash_site_id() -> None:
    assert T.base == "evsite/site1"
    assert T.availability == "evsite/site1/availability"
    assert T.site_state == "evsite/site1/site/state"
    assert T.panel_state("main") == "evsite/site1/panels/main/state"
    assert T.charger_state("CP-1") == "evsite/site1/chargers/CP-1/state"
    assert (
        T.connector_state("CP-1", 2) == "evsite/site1/chargers/CP-1/connectors/2/state"
    )
    assert T.event("waitlist_turn") == "evsite/site1/events/waitlist_turn"
    assert T.error == "evsite/site1/error"


def test_custom_base_topic_and_prefix_are_used() -> None:
    topics = Topics.for_site(
        MqttSettings(base_topic="home/ev/", discovery_prefix="ha"), "s"
    )
    assert topics.site_state == "home/ev/s/site/state"
    assert topics.discovery_config("dev") == "ha/device/dev/config"
    assert topics.ha_status == "ha/status"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (
            T.charger_enable_set("CP-1"),
            CommandTopic(CommandKind.CHARGER_ENABLE, "CP-1"),
        ),
        (
            T.connector_limit_set("CP-1", 1),
            CommandTopic(CommandKind.CONNECTOR_LIMIT, "CP-1", "1"),
        ),
        (
            T.charge_now_set("a.b:c", 2),
            CommandTopic(CommandKind.CHARGE_NOW, "a.b:c", "2"),
        ),
        (T.shed_level_set, CommandTopic(CommandKind.SHED_LEVEL)),
        (T.waitlist_join_set, CommandTopic(CommandKind.WAITLIST_JOIN)),
        (T.waitlist_leave_set, CommandTopic(CommandKind.WAITLIST_LEAVE)),
        ("evsite/site1/chargers/CP-1/state", None),
        ("evsite/other/site/shed_level/set", None),
        ("evsite/site1/chargers/CP-1/reboot/set", None),
        ("evsite/site1/site/unknown/set", None),
    ],
)
def test_parse_command_topic(topic: str, expected: CommandTopic | None) -> None:
    assert T.parse_command(topic) == expected


def _matches(filt: str, topic: str) -> bool:
    f, t = filt.split("/"), topic.split("/")
    return len(f) == len(t) and all(a in ("+", b) for a, b in zip(f, t, strict=True))


def test_command_filters_cover_every_command_topic_and_no_state_topic() -> None:
    commands = [
        T.charger_enable_set("CP-1"),
        T.connector_limit_set("CP-1", 1),
        T.charge_now_set("CP-1", 1),
        T.shed_level_set,
        T.waitlist_join_set,
        T.waitlist_leave_set,
    ]
    for topic in commands:
        assert any(_matches(f, topic) for f in T.command_filters), topic
    states = [T.site_state, T.charger_state("x"), T.connector_state("x", 1), T.error]
    for topic in states:
        assert not any(_matches(f, topic) for f in T.command_filters), topic


def test_object_id_keeps_only_discovery_safe_characters() -> None:
    assert object_id("evsite", "site1", "CP.1:a") == "evsite_site1_CP_1_a"
