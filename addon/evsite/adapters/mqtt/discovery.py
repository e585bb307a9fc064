"""Home Assistant device-based MQTT discovery payloads (pure; ecosystem.md §3).

One device for the site (with its panels) and one per charger, published
retained to ``<prefix>/device/<object_id>/config``. Entities become
unavailable when evsite's availability topic says ``offline`` (last will).
"""

from __future__ import annotations

import math
from typing import Any

from evsite.adapters.mqtt.topics import Topics, object_id
from evsite.config.models import Charger, SiteConfig
from evsite.control.live import ConnectorStatus
from evsite.core.shedding import amps_to_kw

ORIGIN_NAME = "evsite"
MODES = ("auto", "charge_now")
STATUS_OPTIONS = [s.value for s in ConnectorStatus]

Component = dict[str, Any]


def _sensor(
    uid: str, name: str, tpl: str, device_class: str | None, unit: str | None
) -> Component:
    cmp: Component = {"p": "sensor", "uniq_id": uid, "name": name, "val_tpl": tpl}
    if device_class:
        cmp["dev_cla"] = device_class
    if unit:
        cmp["unit_of_meas"] = unit
        cmp["stat_cla"] = "measurement"
    return cmp


def _power(uid: str, name: str, field: str) -> Component:
    return _sensor(uid, name, f"{{{{ value_json.{field} }}}}", "power", "W")


def _current(uid: str, name: str, field: str) -> Component:
    return _sensor(uid, name, f"{{{{ value_json.{field} }}}}", "current", "A")


def _energy(uid: str, name: str, field: str) -> Component:
    cmp = _sensor(uid, name, f"{{{{ value_json.{field} }}}}", "energy", "kWh")
    cmp["stat_cla"] = "total_increasing"
    return cmp


def _binary(uid: str, name: str, field: str, device_class: str | None) -> Component:
    cmp: Component = {
        "p": "binary_sensor",
        "uniq_id": uid,
        "name": name,
        "val_tpl": f"{{{{ 'ON' if value_json.{field} else 'OFF' }}}}",
    }
    if device_class:
        cmp["dev_cla"] = device_class
    return cmp


def _origin(version: str) -> dict[str, str]:
    return {"name": ORIGIN_NAME, "sw": version}


def site_device_id(config: SiteConfig) -> str:
    """Discovery object id of the site device."""
    return object_id("evsite", config.site.id)


def charger_device_id(config: SiteConfig, charger_id: str) -> str:
    """Discovery object id of a charger device."""
    return object_id("evsite", config.site.id, charger_id)


def _count(uid: str, name: str, field: str) -> Component:
    cmp = _sensor(uid, name, f"{{{{ value_json.{field} }}}}", None, None)
    cmp["stat_cla"] = "measurement"
    return cmp


def _number(uid: str, name: str, command_topic: str, tpl: str) -> Component:
    return {
        "p": "number",
        "uniq_id": uid,
        "name": name,
        "cmd_t": command_topic,
        "val_tpl": tpl,
        "mode": "slider",
        "qos": 1,
    }


def _site_power_kw(config: SiteConfig) -> float:
    """The root panel's continuous capacity in kW, rounded down to 0.1 kW."""
    root = config.root
    kw = amps_to_kw(root.capacity_a, root.voltage, root.phases)
    return math.floor(kw * 10) / 10


def _shed_limit_kw(topics: Topics, dev: str, config: SiteConfig) -> Component:
    """A kW cap on the whole site's EV power; its maximum means no cap."""
    top = _site_power_kw(config)
    cmp = _number(
        f"{dev}_shed_limit_kw",
        "Shed power limit",
        topics.shed_level_set,
        "{% set kw = value_json.shed.limit_kw | default(none) %}"
        f"{{{{ {top} if kw is none else [kw, {top}] | min }}}}",
    )
    cmp.update(
        {
            "cmd_tpl": f'{{% if value >= {top} %}}{{"limit_kw": null}}'
            '{% else %}{"limit_kw": {{ value }}}{% endif %}',
            "dev_cla": "power",
            "unit_of_meas": "kW",
            "min": 0,
            "max": top,
            "step": 0.1,
        }
    )
    return cmp


def _site_components(
    topics: Topics, dev: str, config: SiteConfig
) -> dict[str, Component]:
    shed = _number(
        f"{dev}_shed_level",
        "Shed level",
        topics.shed_level_set,
        "{{ value_json.shed.percent | default(0, true) }}",
    )
    shed.update({"min": 0, "max": 100, "step": 5, "unit_of_meas": "%"})
    return {
        "ev_power": _power(f"{dev}_ev_power", "EV power", "ev_power_w"),
        "ev_current": _current(f"{dev}_ev_current", "EV current", "ev_current_a"),
        "ev_limit": _current(f"{dev}_ev_limit", "EV current limit", "ev_limit_a"),
        "grid_power": _power(f"{dev}_grid_power", "Grid power", "grid_power_w"),
        "grid_current": _current(
            f"{dev}_grid_current", "Grid current", "grid_current_a"
        ),
        "chargers_online": _count(
            f"{dev}_chargers_online", "Chargers online", "chargers_online"
        ),
        "connectors_charging": _count(
            f"{dev}_connectors_charging", "Connectors charging", "connectors_charging"
        ),
        "shedding": _binary(f"{dev}_shedding", "Load shedding", "shedding", None),
        "shed_level": shed,
        "shed_limit_kw": _shed_limit_kw(topics, dev, config),
    }


def site_config(topics: Topics, config: SiteConfig, version: str) -> dict[str, Any]:
    """Discovery payload of the site device: EV totals, grid, shedding, panels."""
    dev = site_device_id(config)
    cmps = _site_components(topics, dev, config)
    for panel in config.panels:
        pid = object_id(panel.id)
        for field, label in (("allocated_a", "allocated"), ("measured_a", "measured")):
            cmp = _current(f"{dev}_panel_{pid}_{label}", f"{panel.name} {label}", field)
            cmp["stat_t"] = topics.panel_state(panel.id)
            cmps[f"panel_{pid}_{label}"] = cmp
    return {
        "dev": {
            "ids": [dev],
            "name": config.site.name,
            "mf": "evsite",
            "mdl": "EV site controller",
            "sw": version,
        },
        "o": _origin(version),
        "avty": [{"t": topics.availability}],
        "stat_t": topics.site_state,
        "qos": 1,
        "cmps": cmps,
    }


def _connector_sensors(uid: str, label: str) -> dict[str, Component]:
    return {
        "status": {
            **_sensor(f"{uid}_status", f"{label} status", "", "enum", None),
            "val_tpl": "{{ value_json.status }}",
            "ops": STATUS_OPTIONS,
        },
        "power": _power(f"{uid}_power", f"{label} power", "power_w"),
        "current": _current(f"{uid}_current", f"{label} current", "current_a"),
        "limit": _current(f"{uid}_limit", f"{label} limit in force", "limit_a"),
        "energy": _energy(
            f"{uid}_energy", f"{label} session energy", "session_energy_kwh"
        ),
        "meter": _energy(f"{uid}_meter", f"{label} meter", "meter_kwh"),
        "reason": {
            **_sensor(f"{uid}_reason", f"{label} limit reason", "", None, None),
            "val_tpl": "{{ value_json.reason }}",
            "ent_cat": "diagnostic",
        },
        "plugged": _binary(f"{uid}_plugged", f"{label} plugged in", "plugged", "plug"),
        "charging": _binary(
            f"{uid}_charging", f"{label} charging", "charging", "battery_charging"
        ),
        # The charger reports a limit set by an EMS or the grid (OCPP 2.0.1).
        "load_shed": _binary(
            f"{uid}_load_shed", f"{label} load shed", "load_shed", None
        ),
    }


def _connector_controls(
    topics: Topics, uid: str, label: str, charger: Charger, n: int
) -> dict[str, Component]:
    limit = _number(
        f"{uid}_limit_set",
        f"{label} current limit",
        topics.connector_limit_set(charger.id, n),
        "{{ value_json.limit_a | default(0, true) }}",
    )
    limit.update(
        {"dev_cla": "current", "unit_of_meas": "A", "min": 0, "max": charger.limit_a}
    )
    limit["step"] = 1
    charge_now = topics.charge_now_set(charger.id, n)
    return {
        "limit_set": limit,
        "mode": {
            "p": "select",
            "uniq_id": f"{uid}_mode",
            "name": f"{label} mode",
            "ops": list(MODES),
            "cmd_t": charge_now,
            "val_tpl": "{{ 'charge_now' if value_json.charge_now else 'auto' }}",
            "qos": 1,
        },
        "charge_now": {
            "p": "button",
            "uniq_id": f"{uid}_charge_now",
            "name": f"{label} charge now",
            "cmd_t": charge_now,
            "pl_prs": "PRESS",
            "qos": 1,
        },
    }


def _connector_components(
    topics: Topics, dev: str, charger: Charger, n: int
) -> dict[str, Component]:
    uid, label = f"{dev}_c{n}", f"Connector {n}"
    cmps = {
        **_connector_sensors(uid, label),
        **_connector_controls(topics, uid, label, charger, n),
    }
    stat_t = topics.connector_state(charger.id, n)
    out: dict[str, Component] = {}
    for key, cmp in cmps.items():
        if cmp["p"] != "button":
            cmp["stat_t"] = stat_t
        out[f"c{n}_{key}"] = cmp
    return out


def _charger_device(config: SiteConfig, charger: Charger, dev: str) -> dict[str, Any]:
    device: dict[str, Any] = {
        "ids": [dev],
        "name": charger.display_name,
        "via_device": site_device_id(config),
    }
    for key, value in (
        ("mf", charger.make),
        ("mdl", charger.model),
        ("sw", charger.firmware),
        ("sn", charger.serial),
    ):
        if value:
            device[key] = value
    return device


def charger_config(
    topics: Topics, config: SiteConfig, charger: Charger, version: str
) -> dict[str, Any]:
    """Discovery payload of one charger device and its connectors."""
    dev = charger_device_id(config, charger.id)
    cmps: dict[str, Component] = {
        "online": {
            **_binary(f"{dev}_online", "Online", "online", "connectivity"),
            "ent_cat": "diagnostic",
        },
        "enabled": {
            "p": "switch",
            "uniq_id": f"{dev}_enabled",
            "name": "Enabled",
            "cmd_t": topics.charger_enable_set(charger.id),
            "val_tpl": "{{ 'ON' if value_json.enabled else 'OFF' }}",
            "qos": 1,
        },
        "power": _power(f"{dev}_power", "Power", "power_w"),
        "current": _current(f"{dev}_current", "Current", "current_a"),
    }
    for connector in charger.connectors:
        cmps.update(_connector_components(topics, dev, charger, connector.id))
    return {
        "dev": _charger_device(config, charger, dev),
        "o": _origin(version),
        "avty": [{"t": topics.availability}],
        "stat_t": topics.charger_state(charger.id),
        "qos": 1,
        "cmps": cmps,
    }


def discovery_configs(
    topics: Topics, config: SiteConfig, version: str
) -> dict[str, dict[str, Any]]:
    """Every discovery config of the site, keyed by its config topic."""
    configs = {
        topics.discovery_config(site_device_id(config)): site_config(
            topics, config, version
        )
    }
    for charger in config.chargers:
        topic = topics.discovery_config(charger_device_id(config, charger.id))
        configs[topic] = charger_config(topics, config, charger, version)
    return configs


def with_removed_components(
    new: dict[str, Any], old: dict[str, Any] | None
) -> dict[str, Any]:
    """``new`` plus a ``{"p": platform}`` entry for each component ``old`` had.

    Home Assistant removes a single entity of a device when its component is
    sent with nothing but its platform.
    """
    if not old:
        return new
    gone = {
        key: {"p": cmp["p"]}
        for key, cmp in old["cmps"].items()
        if key not in new["cmps"]
    }
    if not gone:
        return new
    return {**new, "cmps": {**new["cmps"], **gone}}
