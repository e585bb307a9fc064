"""Retained state payloads for site, panels, chargers and connectors (pure).

Each function maps the site configuration and the live state onto the JSON
documented in docs/mqtt.md. RFID tags are left out on purpose: retained topics
are readable by every MQTT client of the broker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from evsite.adapters.mqtt.topics import Topics
from evsite.config.models import Charger, Panel, SiteConfig
from evsite.control.live import (
    ChargerLink,
    ChargerState,
    ConnectorState,
    ConnectorStatus,
    LiveState,
)
from evsite.core.tree import PanelTree

_CHARGING = frozenset({ConnectorStatus.CHARGING})


def dumps(payload: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON so equal states give equal payloads."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _kwh(wh: float | None) -> float | None:
    return round(wh / 1000.0, 3) if wh is not None else None


def _drawn(state: ConnectorState) -> float:
    return round(max(state.current_a.values(), default=0.0), 2)


def connector_payload(state: ConnectorState) -> dict[str, Any]:
    """State of one connector: status, power, current, limit, reason, session."""
    session = None
    if state.session_id is not None or state.transaction_id is not None:
        session = {
            "session_id": state.session_id,
            "transaction_id": state.transaction_id,
            "started_at": _iso(state.session_started_at),
            "energy_wh": state.session_energy_wh,
        }
    return {
        "connector_id": state.connector_id,
        "status": state.status.value,
        "plugged": state.status.plugged_in,
        "charging": state.status in _CHARGING,
        "error_code": state.error_code,
        "power_w": state.power_w,
        "current_a": _drawn(state),
        "current_by_phase": dict(state.current_a),
        "limit_a": state.limit_a,
        "reason": state.reason,
        "charge_now": state.charge_now,
        "delayed_until": _iso(state.delayed_until),
        "session": session,
        "session_energy_kwh": _kwh(state.session_energy_wh if session else 0.0),
        "meter_kwh": _kwh(state.meter_wh),
        # The charger's own load shed (EMS / grid limit), not evsite's reason.
        "load_shed": state.load_shed,
        "load_shed_source": state.load_shed_source,
        "load_shed_since": _iso(state.load_shed_since),
    }


def charger_enabled(state: ChargerState) -> bool:
    """Enabled unless every port says Unavailable (ChangeAvailability Inoperative)."""
    statuses = [c.status for c in state.connectors.values()]
    return not statuses or any(s is not ConnectorStatus.UNAVAILABLE for s in statuses)


def charger_payload(charger: Charger, state: ChargerState) -> dict[str, Any]:
    """State of one charger: link, enabled, summed power, current and limit."""
    ports = [c for cid, c in state.connectors.items() if cid != 0]
    limits = [c.limit_a for c in ports if c.limit_a is not None]
    powers = [c.power_w for c in ports if c.power_w is not None]
    return {
        "charger_id": charger.id,
        "name": charger.display_name,
        "online": state.link is ChargerLink.CONNECTED,
        "link": state.link.value,
        "enabled": charger_enabled(state),
        "maintenance": state.maintenance,
        "power_w": round(sum(powers), 1) if powers else None,
        "current_a": round(sum(_drawn(c) for c in ports), 2),
        "limit_a": round(sum(limits), 2) if limits else None,
        "max_limit_a": charger.limit_a,
        "connectors_charging": sum(1 for c in ports if c.status in _CHARGING),
        "ocpp_version": state.ocpp_version,
        "vendor": state.vendor or charger.make,
        "model": state.model or charger.model,
        "firmware": state.firmware or charger.firmware,
        "last_seen": _iso(state.last_seen),
    }


def panel_loads(
    config: SiteConfig, live: LiveState
) -> dict[str, dict[str, dict[str, float]]]:
    """Per panel and phase: the sum of connector limits and of drawn current beneath."""
    parents = {p.id: p.parent for p in config.panels}
    # Both lines of a line-to-line charger; the tree knows a panel's default.
    tree = PanelTree.from_config(config)
    loads: dict[str, dict[str, dict[str, float]]] = {
        p.id: {"allocated": {}, "drawn": {}} for p in config.panels
    }
    for charger in config.chargers:
        state = live.chargers.get(charger.id)
        if state is None:
            continue
        ports = [c for cid, c in state.connectors.items() if cid != 0]
        limit = sum(c.limit_a or 0.0 for c in ports)
        drawn = sum(_drawn(c) for c in ports)
        lines = [line.value for line in tree.charger_phases(charger)]
        panel: str | None = charger.parent
        while panel is not None and panel in loads:
            for phase in lines:
                for key, amps in (("allocated", limit), ("drawn", drawn)):
                    bucket = loads[panel][key]
                    bucket[phase] = round(bucket.get(phase, 0.0) + amps, 2)
            panel = parents.get(panel)
    return loads


def panel_payload(
    panel: Panel, live: LiveState, loads: Mapping[str, Mapping[str, float]]
) -> dict[str, Any]:
    """State of one panel: capacity, evsite's allocation and the meter reading."""
    sample = live.meters.get(panel.id)
    measured = dict(sample.current_a) if sample else {}
    return {
        "panel_id": panel.id,
        "name": panel.name,
        "breaker_a": panel.breaker_a,
        "capacity_a": panel.capacity_a,
        "allocated_a": max(loads["allocated"].values(), default=0.0),
        "allocated_by_phase": dict(loads["allocated"]),
        "ev_current_a": max(loads["drawn"].values(), default=0.0),
        "measured_a": max(measured.values()) if measured else None,
        "measured_by_phase": measured,
        "power_w": sample.power_w if sample else None,
        "meter_at": _iso(sample.at) if sample else None,
    }


def site_payload(
    config: SiteConfig, live: LiveState, shed: Mapping[str, Any]
) -> dict[str, Any]:
    """State of the site: EV totals, the root panel meter and the shed level."""
    ports = [
        c
        for ch in config.chargers
        if (st := live.chargers.get(ch.id)) is not None
        for cid, c in st.connectors.items()
        if cid != 0
    ]
    powers = [c.power_w for c in ports if c.power_w is not None]
    root = live.meters.get(config.root.id)
    return {
        "site_id": config.site.id,
        "name": config.site.name,
        "chargers": len(config.chargers),
        "chargers_online": sum(
            1
            for ch in config.chargers
            if (st := live.chargers.get(ch.id)) and st.link is ChargerLink.CONNECTED
        ),
        "connectors_charging": sum(1 for c in ports if c.status in _CHARGING),
        "ev_power_w": round(sum(powers), 1),
        "ev_current_a": round(sum(_drawn(c) for c in ports), 2),
        "ev_limit_a": round(sum(c.limit_a or 0.0 for c in ports), 2),
        "grid_current_a": max(root.current_a.values(), default=0.0) if root else None,
        "grid_power_w": root.power_w if root else None,
        "shedding": bool(shed.get("active")),
        "shed": dict(shed),
    }


def charger_messages(
    topics: Topics, charger: Charger, live: LiveState
) -> dict[str, str]:
    """Retained messages of one charger and its connectors."""
    state = live.chargers.get(charger.id) or ChargerState(charger.id)
    messages = {
        topics.charger_state(charger.id): dumps(charger_payload(charger, state))
    }
    ids = {c.id for c in charger.connectors} | {c for c in state.connectors if c}
    for connector_id in sorted(ids):
        port = state.connectors.get(connector_id) or ConnectorState(connector_id)
        topic = topics.connector_state(charger.id, connector_id)
        messages[topic] = dumps(connector_payload(port))
    return messages


def site_messages(
    topics: Topics, config: SiteConfig, live: LiveState, shed: Mapping[str, Any]
) -> dict[str, str]:
    """Retained messages of the site and every panel."""
    loads = panel_loads(config, live)
    messages = {topics.site_state: dumps(site_payload(config, live, shed))}
    for panel in config.panels:
        payload = panel_payload(panel, live, loads[panel.id])
        messages[topics.panel_state(panel.id)] = dumps(payload)
    return messages


def all_messages(
    topics: Topics, config: SiteConfig, live: LiveState, shed: Mapping[str, Any]
) -> dict[str, str]:
    """Every retained state message of the site."""
    messages = site_messages(topics, config, live, shed)
    for charger in config.chargers:
        messages.update(charger_messages(topics, charger, live))
    return messages


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
