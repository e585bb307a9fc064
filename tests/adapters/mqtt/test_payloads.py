from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from evsite.adapters.mqtt.payloads import (
    all_messages,
    charger_enabled,
    connector_payload,
    dumps,
)
from evsite.adapters.mqtt.topics import Topics
from evsite.config.load import parse_site
from evsite.config.models import MqttSettings, SiteConfig
from evsite.control.live import (
    ChargerLink,
    ConnectorState,
    ConnectorStatus,
    LiveState,
    MeterSample,
)
from tests.adapters.mqtt.support import site_data

T = Topics.for_site(MqttSettings(), "site1")
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _live() -> LiveState:
    live = LiveState()
    cp1 = live.charger("CP-1")
    cp1.link = ChargerLink.CONNECTED
    port = cp1.connector(1)
    port.status = ConnectorStatus.CHARGING
    port.current_a = {"L1": 15.9, "L2": 16.0, "L3": 15.8}
    port.power_w = 11040.0
    port.limit_a = 16.0
    port.reason = "fair_share"
    port.session_id = 7
    port.id_tag = "SECRET-TAG"
    port.session_started_at = AT
    port.session_energy_wh = 1234.0
    port.meter_wh = 500_000.0
    cp2 = live.charger("CP-2")
    cp2.connector(1).status = ConnectorStatus.AVAILABLE
    cp2.connector(2).status = ConnectorStatus.SUSPENDED_EVSE
    cp2.connector(2).limit_a = 0.0
    live.record_meter(
        "main", MeterSample(AT, {"L1": 40.0, "L2": 30.0, "L3": 35.0}, 24000)
    )
    return live


def _messages(
    config: SiteConfig, shed: dict[str, object] | None = None
) -> dict[str, Any]:
    raw = all_messages(T, config, _live(), shed or {"active": False})
    return {topic: json.loads(payload) for topic, payload in raw.items()}


def test_every_entity_has_a_retained_state_topic(config: SiteConfig) -> None:
    assert sorted(_messages(config)) == sorted(
        [
            "evsite/site1/site/state",
            "evsite/site1/panels/main/state",
            "evsite/site1/panels/garage/state",
            "evsite/site1/chargers/CP-1/state",
            "evsite/site1/chargers/CP-1/connectors/1/state",
            "evsite/site1/chargers/CP-2/state",
            "evsite/site1/chargers/CP-2/connectors/1/state",
            "evsite/site1/chargers/CP-2/connectors/2/state",
        ]
    )


def test_connector_state_has_status_power_current_limit_reason_session(
    config: SiteConfig,
) -> None:
    port = _messages(config)["evsite/site1/chargers/CP-1/connectors/1/state"]
    assert port["status"] == "charging"
    assert (port["plugged"], port["charging"]) == (True, True)
    assert (port["power_w"], port["current_a"], port["limit_a"]) == (
        11040.0,
        16.0,
        16.0,
    )
    assert port["reason"] == "fair_share"
    assert port["session"] == {
        "session_id": 7,
        "transaction_id": None,
        "started_at": AT.isoformat(),
        "energy_wh": 1234.0,
    }
    assert (port["session_energy_kwh"], port["meter_kwh"]) == (1.234, 500.0)
    assert "SECRET-TAG" not in json.dumps(port)
    # The charger's own load shed: not reported here.
    assert (port["load_shed"], port["load_shed_source"]) == (False, None)


def test_connector_state_shows_the_chargers_own_load_shed() -> None:
    state = ConnectorState(2)
    state.load_shed_sources = {"SO": AT, "EMS": AT + timedelta(minutes=5)}
    port = connector_payload(state)
    assert (port["load_shed"], port["load_shed_source"]) == (True, "EMS")
    assert port["load_shed_since"] == AT.isoformat()
    assert port["reason"] is None  # evsite's own shedding would be reason load_shed


def test_charger_and_site_totals(config: SiteConfig) -> None:
    messages = _messages(config, {"active": True, "percent": 50})
    cp1 = messages["evsite/site1/chargers/CP-1/state"]
    assert (cp1["online"], cp1["enabled"], cp1["name"]) == (True, True, "Bay 1")
    cp2 = messages["evsite/site1/chargers/CP-2/state"]
    assert cp2["online"] is False
    assert cp2["limit_a"] == 0.0
    site = messages["evsite/site1/site/state"]
    assert site["chargers_online"] == 1
    assert site["connectors_charging"] == 1
    assert site["ev_power_w"] == 11040.0
    assert site["ev_limit_a"] == 16.0
    assert (site["grid_current_a"], site["grid_power_w"]) == (40.0, 24000)
    assert site["shedding"] is True
    assert site["shed"] == {"active": True, "percent": 50}


def test_panel_state_sums_what_is_beneath_it(config: SiteConfig) -> None:
    messages = _messages(config)
    garage = messages["evsite/site1/panels/garage/state"]
    assert garage["capacity_a"] == 50.4
    assert garage["allocated_a"] == 16.0
    assert garage["ev_current_a"] == 16.0
    assert garage["measured_a"] is None
    main = messages["evsite/site1/panels/main/state"]
    assert main["allocated_by_phase"] == {"L1": 16.0, "L2": 16.0, "L3": 16.0}
    assert main["measured_by_phase"] == {"L1": 40.0, "L2": 30.0, "L3": 35.0}


def test_a_line_to_line_charger_counts_on_both_of_its_lines() -> None:
    data = site_data()
    data["chargers"].append(
        {"id": "CP-3", "parent": "garage", "limit_a": 32, "phase_connection": "L2-L3"}
    )
    config = parse_site(data).config
    live = _live()
    port = live.charger("CP-3").connector(1)
    port.status, port.limit_a, port.current_a = (
        ConnectorStatus.CHARGING,
        10.0,
        {"L1": 9.5},
    )
    raw = all_messages(T, config, live, {})
    main = json.loads(raw["evsite/site1/panels/main/state"])
    assert main["allocated_by_phase"] == {"L1": 16.0, "L2": 26.0, "L3": 26.0}
    assert main["ev_current_a"] == 25.5  # 16.0 of CP-1 and 9.5 on L2 and L3


def test_charger_unknown_to_live_state_is_published_as_disconnected(
    config: SiteConfig,
) -> None:
    raw = all_messages(T, config, LiveState(), {})
    cp1 = json.loads(raw["evsite/site1/chargers/CP-1/state"])
    assert (cp1["online"], cp1["link"], cp1["enabled"]) == (False, "disconnected", True)
    port = json.loads(raw["evsite/site1/chargers/CP-1/connectors/1/state"])
    assert (port["status"], port["session"]) == ("unknown", None)


def test_charger_is_disabled_when_every_port_is_unavailable() -> None:
    live = LiveState()
    state = live.charger("x")
    state.connector(1).status = ConnectorStatus.UNAVAILABLE
    state.connector(2).status = ConnectorStatus.UNAVAILABLE
    assert charger_enabled(state) is False
    state.connector(2).status = ConnectorStatus.AVAILABLE
    assert charger_enabled(state) is True


def test_dumps_is_stable() -> None:
    assert dumps({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
