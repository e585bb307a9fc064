"""Voluptuous schemas: the one definition of the site format (SPEC §1).

The same schemas validate YAML files, REST input and add-on options. They
normalise input (defaults filled, scalars coerced) into plain dicts that
:mod:`evsite.config.build` turns into typed models. The validators they use
live in :mod:`evsite.config.validators` and are re-exported here.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from evsite.config import defaults
from evsite.config.models import LinePair, MeterKind, OrgType, Phase, Scope, Weekday
from evsite.config.validators import (
    CURRENCY_PATTERN,
    ID_PATTERN,
    TIME_PATTERN,
    amps,
    boolean,
    choice,
    clock_time,
    entity_id,
    integer,
    nullable,
    number,
    one_of,
    pattern,
    text,
    timezone_name,
    unique_list,
    with_json_schema,
)

__all__ = [
    "API",
    "CHARGER",
    "CLOUD",
    "CONNECTOR",
    "CURRENCY_PATTERN",
    "DELAY_WINDOW",
    "DRIVER_GROUP",
    "ENERGY",
    "ID_PATTERN",
    "LOCATION",
    "METER",
    "MQTT",
    "OCPP",
    "PANEL",
    "PORT",
    "REGISTER",
    "SITE",
    "SITE_FILE",
    "TIME_PATTERN",
    "WEB",
    "WEEKDAYS",
    "WINDOW",
    "amps",
    "boolean",
    "choice",
    "clock_time",
    "connectors",
    "entity_id",
    "integer",
    "nullable",
    "number",
    "one_of",
    "pattern",
    "text",
    "timezone_name",
    "unique_list",
]


@with_json_schema({})
def _panel_name_defaults_to_id(panel: dict[str, Any]) -> dict[str, Any]:
    """Fill an empty panel name with its id, so build -> to_dict round-trips."""
    return {**panel, "name": panel["name"] or panel["id"]}


TOPIC_PATTERN = r"^[A-Za-z0-9_\-/]+$"
PHASES = choice([1, 3])
# One line (line-to-neutral) or a line pair (line-to-line, e.g. 208 V on 208Y/120).
PHASE_CONNECTION = nullable(
    choice([member.value for kind in (Phase, LinePair) for member in kind])
)

WEEKDAYS = unique_list(one_of(Weekday), what="day")

WINDOW = {
    vol.Required("start"): clock_time,
    vol.Required("end"): clock_time,
    vol.Optional("days", default=[d.value for d in Weekday]): WEEKDAYS,
}

CONNECTOR = vol.Schema(
    {
        vol.Required("id"): integer(1, 8),
        vol.Optional("payment_terminal", default=None): nullable(text(64)),
    }
)


@with_json_schema(
    lambda walk: {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": 8},
            {"type": "array", "items": walk(CONNECTOR), "minItems": 1, "maxItems": 8},
        ]
    }
)
def connectors(value: Any) -> list[dict[str, Any]]:
    """Connectors as a count (``2``) or a list of ``{id, payment_terminal}``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 8:
            raise vol.Invalid(f"a charger has 1-8 connectors, not {value}")
        return [{"id": i, "payment_terminal": None} for i in range(1, value + 1)]
    result: list[dict[str, Any]] = unique_list(CONNECTOR, "id", "connector id")(value)
    if not 1 <= len(result) <= 8:
        raise vol.Invalid(f"a charger has 1-8 connectors, not {len(result)}")
    return result


REGISTER = vol.Schema(
    {
        vol.Required("quantity"): choice(
            ["current_l1", "current_l2", "current_l3", "power_total", "energy_import"]
        ),
        vol.Required("address"): integer(0, 65535),
        vol.Optional("datatype", default="float32"): choice(
            ["float32", "int16", "uint16", "int32", "uint32"]
        ),
        vol.Optional("scale", default=1.0): number(-1e6, 1e6),
        vol.Optional("table", default="input"): choice(["input", "holding"]),
    }
)

METER = vol.Schema(
    {
        vol.Required("kind"): one_of(MeterKind),
        vol.Optional("register_map", default="sdm630"): choice(defaults.REGISTER_MAPS),
        vol.Optional("host", default=None): nullable(text(253)),
        vol.Optional("port", default=502): integer(1, 65535),
        vol.Optional("serial_port", default=None): nullable(text(255)),
        vol.Optional("baudrate", default=9600): integer(1200, 921_600),
        vol.Optional("device_id", default=1): integer(0, 247),
        vol.Optional("topic", default=None): nullable(text(255)),
        vol.Optional("poll_interval_s", default=defaults.METER_POLL_INTERVAL_S): number(
            0.1, 60
        ),
        vol.Optional("stale_after_s", default=defaults.METER_STALE_AFTER_S): number(
            0.5, 600
        ),
        vol.Optional("registers", default=list): [REGISTER],
    }
)

LOCATION = vol.Schema(
    {
        vol.Optional("address", default=""): text(255),
        vol.Optional("latitude", default=None): nullable(number(-90, 90)),
        vol.Optional("longitude", default=None): nullable(number(-180, 180)),
    }
)

SITE = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): text(128),
        vol.Required("timezone"): timezone_name,
        vol.Required("main_service"): {
            vol.Required("voltage"): number(100, 1000),
            vol.Required("phases"): PHASES,
            vol.Required("main_breaker_a"): amps(1, 10_000),
        },
        vol.Optional("currency", default=defaults.CURRENCY): pattern(
            CURRENCY_PATTERN, "expected an ISO 4217 code such as USD"
        ),
        vol.Optional("location", default=dict): LOCATION,
        vol.Optional("org_category", default=None): nullable(
            choice(defaults.ORG_CATEGORIES)
        ),
        vol.Optional("org_type", default=OrgType.STANDARD.value): one_of(OrgType),
        vol.Optional("just_charge_allowed", default=False): boolean,
        vol.Optional("allow_unknown_chargers", default=False): boolean,
    }
)

PANEL = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Optional("name", default=""): text(128),
        vol.Optional("parent", default=None): nullable(entity_id),
        vol.Required("breaker_a"): amps(1, 10_000),
        vol.Required("phases"): PHASES,
        vol.Required("voltage"): number(100, 1000),
        vol.Optional("phase_connection", default=None): PHASE_CONNECTION,
        vol.Optional(
            "continuous_factor", default=defaults.CONTINUOUS_LOAD_FACTOR
        ): number(0.5, 1.0),
        vol.Optional("meter", default=None): nullable(METER),
        vol.Optional("scheduled_limits", default=list): [
            {**WINDOW, vol.Required("limit_a"): amps(0, 10_000)}
        ],
    }
)

CHARGER = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("parent"): entity_id,
        vol.Required("limit_a"): amps(6, 1_000),
        vol.Optional("scope", default=Scope.CLOSED.value): one_of(Scope),
        vol.Optional("connectors", default=1): connectors,
        vol.Optional("phases", default=1): PHASES,
        vol.Optional("phase_connection", default=None): PHASE_CONNECTION,
        vol.Optional("alias", default=""): text(64),
        vol.Optional("qr_alias", default=None): nullable(entity_id),
        vol.Optional("parking", default=None): nullable(text(32)),
        vol.Optional("station_group", default=None): nullable(entity_id),
        vol.Optional("driver_groups", default=list): unique_list(
            entity_id, what="group"
        ),
        vol.Optional("private_driver", default=None): nullable(entity_id),
        vol.Optional("just_charge", default=False): boolean,
        vol.Optional("priority", default=0): integer(0, 9),
        vol.Optional("weight", default=1.0): number(0.1, 100),
        vol.Optional("min_current_a", default=None): nullable(amps(0, 32)),
        vol.Optional("make", default=None): nullable(text(64)),
        vol.Optional("model", default=None): nullable(text(64)),
        vol.Optional("serial", default=None): nullable(text(64)),
        vol.Optional("firmware", default=None): nullable(text(64)),
        vol.Optional("location", default=None): nullable(LOCATION),
        vol.Optional("overrides", default=dict): {
            vol.Optional("charging_rates", default=None): nullable(entity_id),
            vol.Optional("delay_cancel", default=False): boolean,
            vol.Optional("offline_allocation_a", default=None): nullable(
                amps(0, 1_000)
            ),
        },
        vol.Optional("password_hash", default=None): nullable(text(255)),
    }
)

DRIVER_GROUP = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): text(128),
        vol.Optional("description", default=""): text(1024),
    }
)

DELAY_WINDOW = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Optional("name", default=""): text(128),
        **WINDOW,
        vol.Optional("scopes", default=list): unique_list(one_of(Scope), what="scope"),
        vol.Optional("station_groups", default=list): unique_list(
            entity_id, what="station group"
        ),
    }
)

ENERGY = vol.Schema(
    {
        vol.Optional("min_current_a", default=defaults.MIN_CURRENT_A): amps(0, 32),
        vol.Optional("offline_allocation_a", default=None): nullable(amps(0, 1_000)),
        vol.Optional("rotation_minutes", default=defaults.ROTATION_MINUTES): number(
            1, 1440
        ),
        vol.Optional("deadband_a", default=defaults.DEADBAND_A): amps(0, 10),
        vol.Optional("ramp_up_step_a", default=defaults.RAMP_UP_STEP_A): amps(0.1, 100),
        vol.Optional(
            "shed_restore_hysteresis_a", default=defaults.SHED_RESTORE_HYSTERESIS_A
        ): amps(0, 100),
    }
)

PORT = integer(0, 65535)

WEB = vol.Schema(
    {
        vol.Optional("host", default=defaults.WEB_HOST): text(253),
        vol.Optional("port", default=defaults.WEB_PORT): PORT,
    }
)
OCPP = vol.Schema(
    {
        vol.Optional("host", default=defaults.OCPP_HOST): text(253),
        vol.Optional("port", default=defaults.OCPP_PORT): PORT,
        vol.Optional(
            "heartbeat_interval_s", default=defaults.HEARTBEAT_INTERVAL_S
        ): integer(10, 86_400),
        vol.Optional("tls_cert", default=None): nullable(text(4096)),
        vol.Optional("tls_key", default=None): nullable(text(4096)),
        vol.Optional("tls_ca", default=None): nullable(text(4096)),
    }
)
API = vol.Schema({vol.Optional("token", default=None): nullable(text(512))})
MQTT = vol.Schema(
    {
        vol.Optional("enabled", default=True): boolean,
        vol.Optional("host", default="127.0.0.1"): text(253),
        vol.Optional("port", default=defaults.MQTT_PORT): PORT,
        vol.Optional("username", default=None): nullable(text(255)),
        vol.Optional("password", default=None): nullable(text(255)),
        vol.Optional("tls", default=False): boolean,
        vol.Optional("discovery", default=True): boolean,
        vol.Optional("base_topic", default=defaults.MQTT_BASE_TOPIC): pattern(
            TOPIC_PATTERN, "expected letters, digits, '_', '-' or '/'"
        ),
        vol.Optional(
            "discovery_prefix", default=defaults.MQTT_DISCOVERY_PREFIX
        ): pattern(TOPIC_PATTERN, "expected letters, digits, '_', '-' or '/'"),
    }
)
CLOUD = vol.Schema(
    {
        vol.Optional("enabled", default=False): boolean,
        vol.Optional("url", default=None): nullable(text(2048)),
        vol.Optional("token", default=None): nullable(text(512)),
    }
)

ZEROCONF = vol.Schema(
    {
        vol.Optional("enabled", default=True): boolean,
        vol.Optional("interfaces", default=list): unique_list(
            text(64), what="interface"
        ),
    }
)

SITE_FILE = vol.Schema(
    {
        vol.Required("site"): SITE,
        vol.Required("panels"): unique_list(
            vol.All(PANEL, _panel_name_defaults_to_id), "id", "panel id"
        ),
        vol.Optional("chargers", default=list): unique_list(
            CHARGER, "id", "charger id"
        ),
        vol.Optional("energy", default=dict): ENERGY,
        vol.Optional("driver_groups", default=list): unique_list(
            DRIVER_GROUP, "id", "group id"
        ),
        vol.Optional("delay_windows", default=list): unique_list(
            DELAY_WINDOW, "id", "delay window id"
        ),
        vol.Optional("web", default=dict): WEB,
        vol.Optional("ocpp", default=dict): OCPP,
        vol.Optional("api", default=dict): API,
        vol.Optional("mqtt", default=None): nullable(MQTT),
        vol.Optional("cloud", default=dict): CLOUD,
        vol.Optional("zeroconf", default=dict): ZEROCONF,
    }
)
