"""Command payloads on ``…/set`` topics: parse and validate (pure).

Each payload is checked against a voluptuous schema and the site configuration;
a rejected command becomes a :class:`CommandError` naming the topic, the field
and the problem, which the bridge publishes on ``<base>/error``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from evsite.adapters.mqtt.topics import CommandKind, CommandTopic, Topics
from evsite.config.models import Charger, SiteConfig
from evsite.errors import EvsiteError

MAX_PAYLOAD_BYTES = 4096
_ON = frozenset({"on", "true", "1", "enable", "enabled", "press", "charge_now"})
_OFF = frozenset({"off", "false", "0", "disable", "disabled", "auto"})
_CLEAR = frozenset({"", "none", "null", "auto", "off"})


class CommandError(EvsiteError):
    """A command that cannot be carried out; ``field`` is None for the whole payload."""

    def __init__(self, topic: str, field: str | None, problem: str) -> None:
        """Name the topic, the field and the problem."""
        self.topic = topic
        self.field = field
        self.problem = problem
        where = f" field '{field}'" if field else ""
        super().__init__(f"{topic}:{where} {problem}")


@dataclass(frozen=True, slots=True)
class EnableCharger:
    """Make a charger operative or inoperative (ChangeAvailability)."""

    charger_id: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetConnectorLimit:
    """Operator cap on a connector in A; None removes the cap."""

    charger_id: str
    connector_id: int
    limit_a: float | None


@dataclass(frozen=True, slots=True)
class ChargeNow:
    """Start (or cancel) charge now for a connector's session."""

    charger_id: str
    connector_id: int
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetShedLevel:
    """External shed level: percent of EV capacity, an A and/or a kW cap.

    The tightest wins. All None ends external shedding; ``panel_id`` None
    means the whole site.
    """

    percent: float | None = None
    limit_a: float | None = None
    panel_id: str | None = None
    limit_kw: float | None = None


@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    """Put a driver in the queue of a charger or a station group."""

    driver_id: str
    charger_id: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveWaitlist:
    """Take a driver out of their queue."""

    driver_id: str


Command = (
    EnableCharger
    | SetConnectorLimit
    | ChargeNow
    | SetShedLevel
    | JoinWaitlist
    | LeaveWaitlist
)


def _amount(maximum: float | None = None) -> Any:
    """A validator: null, or a number from 0 to ``maximum``."""

    def check(value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise vol.Invalid("expected a number")
        if value < 0:
            raise vol.Invalid("must be at least 0")
        if maximum is not None and value > maximum:
            raise vol.Invalid(f"must be at most {maximum:g}")
        return float(value)

    return check


_TEXT_ID = vol.All(str, vol.Length(min=1, max=64), msg="expected a non-empty id")
_SHED = vol.Schema(
    {
        vol.Optional("percent"): _amount(100),
        vol.Optional("limit_a"): _amount(),
        vol.Optional("limit_kw"): _amount(),
        vol.Optional("panel_id"): vol.Any(None, _TEXT_ID),
    }
)
_JOIN = vol.Schema(
    {
        vol.Required("driver_id"): _TEXT_ID,
        vol.Optional("charger_id"): _TEXT_ID,
        vol.Optional("group"): _TEXT_ID,
    }
)
_LEAVE = vol.Schema({vol.Required("driver_id"): _TEXT_ID})


def _decode(topic: str, payload: bytes) -> Any:
    """The payload as JSON when it parses, else as stripped text."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(
            topic, None, f"payload larger than {MAX_PAYLOAD_BYTES} bytes"
        )
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        raise CommandError(topic, None, "payload is not UTF-8 text") from err
    try:
        return json.loads(text)
    except ValueError:
        return text


def _validate(topic: str, schema: vol.Schema, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CommandError(topic, None, "expected a JSON object")
    try:
        result: dict[str, Any] = schema(data)
    except vol.MultipleInvalid as err:
        # A missing key explains more than the unknown key the sender used instead.
        first = min(err.errors, key=lambda e: "required" not in e.msg)
        field = ".".join(str(p) for p in first.path) or None
        raise CommandError(topic, field, first.msg) from err
    return result


def _flag(topic: str, field: str, data: Any) -> bool:
    if isinstance(data, dict):
        if field not in data:
            raise CommandError(topic, field, "required key not provided")
        data = data[field]
    if isinstance(data, bool):
        return data
    if isinstance(data, (str, int)) and str(data).lower() in _ON:
        return True
    if isinstance(data, (str, int)) and str(data).lower() in _OFF:
        return False
    raise CommandError(topic, field, f"expected ON or OFF, got {data!r}")


def _charger(topic: str, config: SiteConfig, target: CommandTopic) -> Charger:
    charger = config.charger(target.charger_id or "")
    if charger is None:
        raise CommandError(
            topic, "charger_id", f"unknown charger '{target.charger_id}'"
        )
    return charger


def _connector(topic: str, charger: Charger, target: CommandTopic) -> int:
    raw = target.connector_id or ""
    if not raw.isdigit() or int(raw) not in {c.id for c in charger.connectors}:
        raise CommandError(
            topic, "connector_id", f"charger '{charger.id}' has no connector '{raw}'"
        )
    return int(raw)


def _limit(topic: str, config: SiteConfig, charger: Charger, data: Any) -> float | None:
    if isinstance(data, dict):
        data = _validate(topic, vol.Schema({vol.Required("limit_a"): object}), data)
        data = data["limit_a"]
    if data is None or (isinstance(data, str) and data.lower() in _CLEAR):
        return None
    if isinstance(data, bool) or not isinstance(data, (int, float)):
        raise CommandError(topic, "limit_a", f"expected a number of amps, got {data!r}")
    minimum = charger.min_current_a or config.energy.min_current_a
    value = float(data)
    # IEC 61851-1: a pilot below 6 A is invalid, so a cap is 0 (pause) or ≥ the minimum.
    if value != 0 and not minimum <= value <= charger.limit_a:
        raise CommandError(
            topic,
            "limit_a",
            f"must be 0 or between {minimum:g} and {charger.limit_a:g} A, "
            f"got {value:g}",
        )
    return value


def _shed(topic: str, config: SiteConfig, data: Any) -> SetShedLevel:
    if data is None or (isinstance(data, str) and data.lower() in _CLEAR):
        return SetShedLevel()
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        data = {"percent": data}
    level = _validate(topic, _SHED, data)
    panel_id = level.get("panel_id")
    if panel_id is not None and config.panel(panel_id) is None:
        raise CommandError(topic, "panel_id", f"unknown panel '{panel_id}'")
    percent, limit_a = level.get("percent"), level.get("limit_a")
    limit_kw = level.get("limit_kw")
    if not percent and limit_a is None and limit_kw is None:
        return SetShedLevel(panel_id=panel_id)  # 0 % (or nothing) ends shedding
    return SetShedLevel(percent or None, limit_a, panel_id, limit_kw)


def _join(topic: str, config: SiteConfig, data: Any) -> JoinWaitlist:
    body = _validate(topic, _JOIN, data)
    charger_id, group = body.get("charger_id"), body.get("group")
    if (charger_id is None) == (group is None):
        raise CommandError(topic, "charger_id", "give either charger_id or group")
    if charger_id is not None and config.charger(charger_id) is None:
        raise CommandError(topic, "charger_id", f"unknown charger '{charger_id}'")
    groups = {c.station_group for c in config.chargers if c.station_group}
    if group is not None and group not in groups:
        raise CommandError(topic, "group", f"unknown station group '{group}'")
    return JoinWaitlist(body["driver_id"], charger_id, group)


def parse_command(
    topics: Topics, topic: str, payload: bytes, config: SiteConfig
) -> Command:
    """Turn a message on a ``…/set`` topic into a validated command.

    Raises:
        CommandError: unknown topic, charger or connector, or an invalid payload.
    """
    target = topics.parse_command(topic)
    if target is None:
        raise CommandError(topic, None, "not a command topic")
    data = _decode(topic, payload)
    match target.kind:
        case CommandKind.CHARGER_ENABLE:
            charger = _charger(topic, config, target)
            return EnableCharger(charger.id, _flag(topic, "enabled", data))
        case CommandKind.CONNECTOR_LIMIT:
            charger = _charger(topic, config, target)
            connector = _connector(topic, charger, target)
            limit = _limit(topic, config, charger, data)
            return SetConnectorLimit(charger.id, connector, limit)
        case CommandKind.CHARGE_NOW:
            charger = _charger(topic, config, target)
            connector = _connector(topic, charger, target)
            return ChargeNow(charger.id, connector, _flag(topic, "enabled", data))
        case CommandKind.SHED_LEVEL:
            return _shed(topic, config, data)
        case CommandKind.WAITLIST_JOIN:
            return _join(topic, config, data)
        case CommandKind.WAITLIST_LEAVE:
            if not isinstance(data, dict) and payload.strip():
                # A bare driver id; it may look like a JSON number ("1042").
                data = {"driver_id": payload.decode("utf-8").strip()}
            return LeaveWaitlist(_validate(topic, _LEAVE, data)["driver_id"])
