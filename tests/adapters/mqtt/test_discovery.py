from __future__ import annotations

import math
import re
from dataclasses import replace

from evsite.adapters.mqtt.discovery import (
    STATUS_OPTIONS,
    charger_config,
    discovery_configs,
    site_config,
    with_removed_components,
)
from evsite.adapters.mqtt.topics import Topics
from evsite.config.models import MqttSettings, SiteConfig
from evsite.core.shedding import amps_to_kw
from tests.adapters.mqtt.support import site_config as make_site

T = Topics.for_site(MqttSettings(), "site1")
COMPONENTS = [
    *("status", "power", "current", "limit", "energy", "meter", "reason"),
    *("plugged", "charging", "load_shed", "limit_set", "mode", "charge_now"),
]
SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def test_one_device_for_the_site_and_one_per_charger(config: SiteConfig) -> None:
    configs = discovery_configs(T, config, "1.2.3")
    assert sorted(configs) == [
        "homeassistant/device/evsite_site1/config",
        "homeassistant/device/evsite_site1_CP-1/config",
        "homeassistant/device/evsite_site1_CP-2/config",
    ]
    for payload in configs.values():
        assert payload["o"] == {"name": "evsite", "sw": "1.2.3"}
        assert payload["avty"] == [{"t": "evsite/site1/availability"}]
        assert SAFE.match(payload["dev"]["ids"][0])


def test_unique_ids_are_unique_and_every_component_has_a_platform(
    config: SiteConfig,
) -> None:
    uids = [
        cmp["uniq_id"]
        for payload in discovery_configs(T, config, "0").values()
        for cmp in payload["cmps"].values()
    ]
    assert len(uids) == len(set(uids))
    platforms = {
        cmp["p"]
        for payload in discovery_configs(T, config, "0").values()
        for cmp in payload["cmps"].values()
    }
    assert platforms == {
        "sensor",
        "binary_sensor",
        "switch",
        "number",
        "select",
        "button",
    }


def test_every_command_topic_in_discovery_is_a_topic_the_bridge_understands(
    config: SiteConfig,
) -> None:
    commands = [
        cmp["cmd_t"]
        for payload in discovery_configs(T, config, "0").values()
        for cmp in payload["cmps"].values()
        if "cmd_t" in cmp
    ]
    # shed level (% and kW); enable x2; 3 per connector
    assert len(commands) == 2 + 2 + 3 * 3
    assert all(T.parse_command(t) is not None for t in commands)


def test_charger_device_carries_make_model_and_hangs_off_the_site(
    config: SiteConfig,
) -> None:
    cp1 = charger_config(T, config, config.chargers[0], "0")
    assert cp1["dev"] == {
        "ids": ["evsite_site1_CP-1"],
        "name": "Bay 1",
        "via_device": "evsite_site1",
        "mf": "Acme",
        "mdl": "AC22",
    }
    assert cp1["stat_t"] == "evsite/site1/chargers/CP-1/state"
    status = cp1["cmps"]["c1_status"]
    assert status["ops"] == STATUS_OPTIONS
    assert status["stat_t"] == "evsite/site1/chargers/CP-1/connectors/1/state"
    limit = cp1["cmps"]["c1_limit_set"]
    assert (limit["min"], limit["max"], limit["cmd_t"]) == (
        0,
        32,
        "evsite/site1/chargers/CP-1/connectors/1/limit/set",
    )
    assert cp1["cmps"]["enabled"]["cmd_t"] == "evsite/site1/chargers/CP-1/enabled/set"


def test_two_port_charger_gets_components_per_connector(config: SiteConfig) -> None:
    cp2 = charger_config(T, config, config.chargers[1], "0")
    assert {k for k in cp2["cmps"] if k.startswith("c2_")} == {
        f"c2_{k}" for k in COMPONENTS
    }


def test_site_device_has_a_shed_level_number_and_panel_sensors(
    config: SiteConfig,
) -> None:
    site = site_config(T, config, "0")
    assert site["dev"]["name"] == "Garage Site"
    shed = site["cmps"]["shed_level"]
    assert (shed["p"], shed["cmd_t"], shed["max"]) == (
        "number",
        "evsite/site1/site/shed_level/set",
        100,
    )
    assert site["cmps"]["panel_garage_allocated"]["stat_t"] == (
        "evsite/site1/panels/garage/state"
    )


def test_site_device_has_a_shed_power_limit_in_kw(config: SiteConfig) -> None:
    site = site_config(T, config, "0")
    kw = site["cmps"]["shed_limit_kw"]
    root = config.root
    top = math.floor(amps_to_kw(root.capacity_a, root.voltage, root.phases) * 10) / 10
    assert (kw["p"], kw["cmd_t"], kw["unit_of_meas"], kw["max"]) == (
        "number",
        "evsite/site1/site/shed_level/set",
        "kW",
        top,
    )
    assert kw["dev_cla"] == "power"
    # Its command template sends what the shed command accepts.
    assert "limit_kw" in kw["cmd_tpl"]


def test_removed_components_are_sent_with_only_their_platform() -> None:
    config = make_site()
    old = charger_config(T, config, config.chargers[1], "0")
    one_port = replace(config.chargers[1], connectors=config.chargers[1].connectors[:1])
    new = charger_config(T, config, one_port, "0")
    merged = with_removed_components(new, old)
    assert merged["cmps"]["c2_status"] == {"p": "sensor"}
    assert merged["cmps"]["c2_charge_now"] == {"p": "button"}
    assert merged["cmps"]["c1_status"] == new["cmps"]["c1_status"]
    assert with_removed_components(new, None) is new
    assert with_removed_components(new, new) is new
