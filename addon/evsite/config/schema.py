"""Voluptuous schemas: the one definition of the site format (SPEC §1).

The same schemas validate YAML files, REST input and add-on options. They
normalise input (defaults filled, scalars coerced) into plain dicts that
:mod:`evsite.config.build` turns into typed models.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol

from evsite.config import defaults
from evsite.config.models import MeterKind, OrgType, Phase, Scope, Weekday

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,47}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def entity_id(value: Any) -> str:
    """An id: 1-48 letters, digits, ``. _ : -``, starting with a letter or digit."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise vol.Invalid(
            f"invalid id {value!r}: use 1-48 letters, digits, '.', '_', ':' or '-'"
        )
    return value


def timezone_name(value: Any) -> str:
    """An IANA timezone name such as ``Europe/Berlin``."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a timezone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise vol.Invalid(f"unknown timezone {value!r}") from err
    return value


def clock_time(value: Any) -> str:
    """A wall-clock time ``HH:MM`` (24 h); ``24:00`` means end of day."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int) and 0 <= value < 24 * 60 * 60:
        # YAML 1.1 reads an unquoted 21:00 as sexagesimal seconds.
        return f"{value // 3600:02d}:{value % 3600 // 60:02d}"
    if value == "24:00":
        return value
    if not isinstance(value, str) or not TIME_PATTERN.match(value):
        raise vol.Invalid(f"expected a time HH:MM, got {value!r}")
    return value


def amps(minimum: float = 0.0, maximum: float = 10_000.0) -> Callable[[Any], float]:
    """A current in A within ``[minimum, maximum]``."""

    def validate(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number of amps, got {value!r}")
        if not minimum <= float(value) <= maximum:
            raise vol.Invalid(f"{value} A is outside {minimum:g}-{maximum:g} A")
        return float(value)

    return validate


def number(minimum: float, maximum: float) -> Callable[[Any], float]:
    """A real number within ``[minimum, maximum]``."""

    def validate(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {value!r}")
        if not minimum <= float(value) <= maximum:
            raise vol.Invalid(f"{value} is outside {minimum:g}-{maximum:g}")
        return float(value)

    return validate


def integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number within ``[minimum, maximum]`` (booleans refused)."""

    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected a whole number, got {value!r}")
        if not minimum <= value <= maximum:
            raise vol.Invalid(f"{value} is outside {minimum}-{maximum}")
        return value

    return validate


def text(max_length: int) -> Callable[[Any], str]:
    """A string of at most ``max_length`` characters."""

    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise vol.Invalid(f"expected text, got {value!r}")
        if len(value) > max_length:
            raise vol.Invalid(f"longer than {max_length} characters")
        return value

    return validate


def one_of(enum: type[Any]) -> vol.In:
    """One of an enum's values, with the allowed values in the message."""
    values = [member.value for member in enum]
    return vol.In(values, msg=f"expected one of {', '.join(map(str, values))}")


def unique_list(
    item: Any, key: str = "", what: str = "value"
) -> Callable[[Any], list[Any]]:
    """A list of ``item`` with no duplicates (by ``key`` for dicts)."""

    schema = vol.Schema([item])

    def validate(value: Any) -> list[Any]:
        result: list[Any] = schema(value)
        seen: set[Any] = set()
        for index, entry in enumerate(result):
            ident = entry[key] if key else entry
            if ident in seen:
                raise vol.Invalid(f"duplicate {what} {ident!r}", path=[index])
            seen.add(ident)
        return result

    return validate


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


WEEKDAYS = unique_list(one_of(Weekday), what="day")

WINDOW = {
    vol.Required("start"): clock_time,
    vol.Required("end"): clock_time,
    vol.Optional("days", default=[d.value for d in Weekday]): WEEKDAYS,
}

CONNECTOR = vol.Schema(
    {
        vol.Required("id"): integer(1, 8),
        vol.Optional("payment_terminal", default=None): vol.Any(None, text(64)),
    }
)

REGISTER = vol.Schema(
    {
        vol.Required("quantity"): vol.In(
            [
                "current_l1",
                "current_l2",
                "current_l3",
                "power_total",
                "energy_import",
            ],
            msg="expected current_l1, current_l2, current_l3, power_total"
            " or energy_import",
        ),
        vol.Required("address"): integer(0, 65535),
        vol.Optional("datatype", default="float32"): vol.In(
            ["float32", "int16", "uint16", "int32", "uint32"],
            msg="expected float32, int16, uint16, int32 or uint32",
        ),
        vol.Optional("scale", default=1.0): number(-1e6, 1e6),
        vol.Optional("table", default="input"): vol.In(
            ["input", "holding"], msg="expected input or holding"
        ),
    }
)

METER = vol.Schema(
    {
        vol.Required("kind"): one_of(MeterKind),
        vol.Optional("register_map", default="sdm630"): vol.In(
            defaults.REGISTER_MAPS,
            msg=f"expected one of {', '.join(defaults.REGISTER_MAPS)}",
        ),
        vol.Optional("host", default=None): vol.Any(None, text(253)),
        vol.Optional("port", default=502): integer(1, 65535),
        vol.Optional("serial_port", default=None): vol.Any(None, text(255)),
        vol.Optional("baudrate", default=9600): integer(1200, 921_600),
        vol.Optional("device_id", default=1): integer(0, 247),
        vol.Optional("topic", default=None): vol.Any(None, text(255)),
        vol.Optional(
            "poll_interval_s", default=defaults.METER_POLL_INTERVAL_S
        ): number(0.1, 60),
        vol.Optional("stale_after_s", default=defaults.METER_STALE_AFTER_S): number(
            0.5, 600
        ),
        vol.Optional("registers", default=list): [REGISTER],
    }
)

LOCATION = vol.Schema(
    {
        vol.Optional("address", default=""): text(255),
        vol.Optional("latitude", default=None): vol.Any(None, number(-90, 90)),
        vol.Optional("longitude", default=None): vol.Any(None, number(-180, 180)),
    }
)

SITE = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): text(128),
        vol.Required("timezone"): timezone_name,
        vol.Required("main_service"): {
            vol.Required("voltage"): number(100, 1000),
            vol.Required("phases"): vol.In([1, 3], msg="expected 1 or 3"),
            vol.Required("main_breaker_a"): amps(1, 10_000),
        },
        vol.Optional("currency", default=defaults.CURRENCY): vol.Match(
            CURRENCY_PATTERN, msg="expected an ISO 4217 code such as USD"
        ),
        vol.Optional("location", default=dict): LOCATION,
        vol.Optional("org_category", default=None): vol.Any(
            None,
            vol.In(
                defaults.ORG_CATEGORIES,
                msg=f"expected one of {', '.join(defaults.ORG_CATEGORIES)}",
            ),
        ),
        vol.Optional("org_type", default=OrgType.STANDARD.value): one_of(OrgType),
        vol.Optional("just_charge_allowed", default=False): bool,
        vol.Optional("allow_unknown_chargers", default=False): bool,
    }
)

PANEL = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Optional("name", default=""): text(128),
        vol.Optional("parent", default=None): vol.Any(None, entity_id),
        vol.Required("breaker_a"): amps(1, 10_000),
        vol.Required("phases"): vol.In([1, 3], msg="expected 1 or 3"),
        vol.Required("voltage"): number(100, 1000),
        vol.Optional("phase_connection", default=None): vol.Any(None, one_of(Phase)),
        vol.Optional(
            "continuous_factor", default=defaults.CONTINUOUS_LOAD_FACTOR
        ): number(0.5, 1.0),
        vol.Optional("meter", default=None): vol.Any(None, METER),
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
        vol.Optional("phases", default=1): vol.In([1, 3], msg="expected 1 or 3"),
        vol.Optional("phase_connection", default=None): vol.Any(None, one_of(Phase)),
        vol.Optional("alias", default=""): text(64),
        vol.Optional("qr_alias", default=None): vol.Any(None, entity_id),
        vol.Optional("parking", default=None): vol.Any(None, text(32)),
        vol.Optional("station_group", default=None): vol.Any(None, entity_id),
        vol.Optional("driver_groups", default=list): unique_list(
            entity_id, what="group"
        ),
        vol.Optional("private_driver", default=None): vol.Any(None, entity_id),
        vol.Optional("just_charge", default=False): bool,
        vol.Optional("priority", default=0): integer(0, 9),
        vol.Optional("weight", default=1.0): number(0.1, 100),
        vol.Optional("min_current_a", default=None): vol.Any(None, amps(0, 32)),
        vol.Optional("make", default=None): vol.Any(None, text(64)),
        vol.Optional("model", default=None): vol.Any(None, text(64)),
        vol.Optional("serial", default=None): vol.Any(None, text(64)),
        vol.Optional("firmware", default=None): vol.Any(None, text(64)),
        vol.Optional("location", default=None): vol.Any(None, LOCATION),
        vol.Optional("overrides", default=dict): {
            vol.Optional("charging_rates", default=None): vol.Any(None, entity_id),
            vol.Optional("delay_cancel", default=False): bool,
            vol.Optional("offline_allocation_a", default=None): vol.Any(
                None, amps(0, 1_000)
            ),
        },
        vol.Optional("password_hash", default=None): vol.Any(None, text(255)),
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
        vol.Optional("offline_allocation_a", default=None): vol.Any(
            None, amps(0, 1_000)
        ),
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
        vol.Optional("tls_cert", default=None): vol.Any(None, text(4096)),
        vol.Optional("tls_key", default=None): vol.Any(None, text(4096)),
        vol.Optional("tls_ca", default=None): vol.Any(None, text(4096)),
    }
)
API = vol.Schema({vol.Optional("token", default=None): vol.Any(None, text(512))})
MQTT = vol.Schema(
    {
        vol.Optional("enabled", default=True): bool,
        vol.Optional("host", default="127.0.0.1"): text(253),
        vol.Optional("port", default=defaults.MQTT_PORT): PORT,
        vol.Optional("username", default=None): vol.Any(None, text(255)),
        vol.Optional("password", default=None): vol.Any(None, text(255)),
        vol.Optional("tls", default=False): bool,
        vol.Optional("discovery", default=True): bool,
        vol.Optional("base_topic", default=defaults.MQTT_BASE_TOPIC): vol.Match(
            r"^[A-Za-z0-9_\-/]+$", msg="expected letters, digits, '_', '-' or '/'"
        ),
        vol.Optional(
            "discovery_prefix", default=defaults.MQTT_DISCOVERY_PREFIX
        ): vol.Match(r"^[A-Za-z0-9_\-/]+$", msg="expected letters, digits, '_', '-'"),
    }
)
CLOUD = vol.Schema(
    {
        vol.Optional("enabled", default=False): bool,
        vol.Optional("url", default=None): vol.Any(None, text(2048)),
        vol.Optional("token", default=None): vol.Any(None, text(512)),
    }
)

SITE_FILE = vol.Schema(
    {
        vol.Required("site"): SITE,
        vol.Required("panels"): unique_list(PANEL, "id", "panel id"),
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
        vol.Optional("mqtt", default=None): vol.Any(None, MQTT),
        vol.Optional("cloud", default=dict): CLOUD,
    }
)
