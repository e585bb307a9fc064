"""Voluptuous schemas of access control and waitlists, and their model builders.

REST input is validated here (errors name the field, see
:func:`evsite.config.load.normalize`) and turned into the models of
:mod:`evsite.config.access_models`; ``*_dict`` functions give the JSON form back.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import voluptuous as vol

from evsite.config.access_models import (
    EVERYONE,
    AccessPolicy,
    ChargerAccess,
    Driver,
    FinishKind,
    FinishNotification,
    Hours,
    MemberKind,
    Notification,
    PolicyRule,
    RfidTag,
    TagStatus,
    TargetKind,
    WaitlistAssignment,
    WaitlistPolicy,
)
from evsite.config.models import TimeWindow, Weekday
from evsite.config.schema import WINDOW
from evsite.config.validators import (
    boolean,
    entity_id,
    integer,
    nullable,
    number,
    one_of,
    pattern,
    text,
    unique_list,
    with_json_schema,
)

# OCPP 2.0.1 idToken is up to 36 characters (1.6 idTag: 20); printable, no spaces.
ID_TAG = pattern(
    r"^[\x21-\x7e]{1,36}$", "expected an RFID id of 1-36 printable characters"
)
EMAIL = pattern(r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$", "expected an e-mail address")
PHONE = pattern(r"^$|^\+?[0-9 ()\-]{3,32}$", "expected a phone number")
MAX_MINUTES = 7 * 24 * 60


@with_json_schema({"type": ["string", "null"], "format": "date-time"})
def aware_datetime(value: Any) -> str | None:
    """An ISO 8601 date-time with a UTC offset, or null."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise vol.Invalid(f"expected an ISO 8601 date-time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise vol.Invalid(f"expected an ISO 8601 date-time, got {value!r}") from err
    if parsed.tzinfo is None:
        raise vol.Invalid(f"{value!r} needs a UTC offset, e.g. 2026-01-31T23:59:00Z")
    return parsed.isoformat()


@with_json_schema(
    {"type": "string", "description": "a driver group id, or * for everyone else"}
)
def _group_ref(value: Any) -> str:
    """A driver group id, or ``*`` for everyone else."""
    return EVERYONE if value == EVERYONE else entity_id(value)


OWNER = vol.Schema(
    {vol.Required("kind"): one_of(MemberKind), vol.Required("id"): entity_id}
)

DRIVER = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): vol.All(
            text(128), vol.Length(min=1, msg="name is empty")
        ),
        vol.Optional("email", default=""): EMAIL,
        vol.Optional("phone", default=""): PHONE,
        vol.Optional("account_member", default=True): boolean,
        vol.Optional("vehicles", default=list): unique_list(text(64), what="vehicle"),
        vol.Optional("notifications", default=list): unique_list(
            one_of(Notification), what="notification"
        ),
    }
)

TAG = vol.Schema(
    {
        vol.Required("id_tag"): ID_TAG,
        vol.Optional("status", default=TagStatus.ACTIVE.value): one_of(TagStatus),
        vol.Optional("expiry", default=None): aware_datetime,
        vol.Optional("owner", default=None): nullable(OWNER),
        vol.Optional("parent", default=None): nullable(ID_TAG),
        vol.Optional("label", default=""): text(64),
    }
)


@with_json_schema({"description": "each (kind, id) once"})
def _unique_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A member is listed once."""
    seen: dict[tuple[str, str], int] = {}
    for index, member in enumerate(members):
        key = (member["kind"], member["id"])
        if key in seen:
            raise vol.Invalid(
                f"duplicate member {key[0]} '{key[1]}' (also at [{seen[key]}])",
                path=[index],
            )
        seen[key] = index
    return members


MEMBERS = vol.Schema({vol.Required("members"): vol.All([OWNER], _unique_members)})


@with_json_schema({})
def _rule_hours_match(rule: dict[str, Any]) -> dict[str, Any]:
    """Windows are given exactly when hours is ``windows``."""
    if rule["hours"] == Hours.WINDOWS.value and not rule["windows"]:
        raise vol.Invalid("hours 'windows' needs at least one window", path=["windows"])
    if rule["hours"] != Hours.WINDOWS.value and rule["windows"]:
        raise vol.Invalid(f"hours '{rule['hours']}' takes no windows", path=["windows"])
    return rule


POLICY_RULE = vol.All(
    vol.Schema(
        {
            vol.Required("group"): _group_ref,
            vol.Required("hours"): one_of(Hours),
            vol.Optional("windows", default=list): [WINDOW],
        }
    ),
    _rule_hours_match,
)

POLICY = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): text(128),
        vol.Optional("description", default=""): text(1024),
        vol.Required("rules"): vol.All(
            unique_list(POLICY_RULE, "group", "group"),
            vol.Length(min=1, msg="a policy needs at least one rule"),
        ),
    }
)

CHARGER_ACCESS = vol.Schema(
    {
        vol.Optional("usable_by", default=None): nullable(entity_id),
        vol.Optional("visible_to", default=None): nullable(entity_id),
    }
)

LINK = vol.Schema({vol.Required("driver_id"): entity_id})

FINISH = vol.Schema(
    {
        vol.Optional("kind", default=FinishKind.NONE.value): one_of(FinishKind),
        vol.Optional("minutes", default=None): nullable(integer(1, MAX_MINUTES)),
        vol.Optional("kwh", default=None): nullable(number(0.1, 1000)),
    }
)

WAITLIST_POLICY = vol.Schema(
    {
        vol.Required("id"): entity_id,
        vol.Required("name"): text(128),
        vol.Optional("description", default=""): text(1024),
        vol.Optional("max_charging_minutes", default=None): nullable(
            integer(1, MAX_MINUTES)
        ),
        vol.Optional("stop_at_max", default=False): boolean,
        vol.Optional("finish", default=dict): FINISH,
        vol.Optional("hold_minutes", default=10): integer(1, 240),
        vol.Optional("remote_windows", default=list): [WINDOW],
    }
)

ASSIGNMENT = vol.Schema(
    {
        vol.Required("target_kind"): one_of(TargetKind),
        vol.Required("target_id"): entity_id,
        vol.Required("policy_id"): entity_id,
    }
)

_BOTH = "give charger_id or station_group, not both"


@with_json_schema({})
def _one_target(data: dict[str, Any]) -> dict[str, Any]:
    """A join names a charger or a station group."""
    if "charger_id" in data and "station_group" in data:
        raise vol.Invalid(_BOTH, path=["station_group"])
    if "charger_id" not in data and "station_group" not in data:
        raise vol.Invalid("give charger_id or station_group", path=["charger_id"])
    return data


JOIN = vol.Schema(
    vol.All(
        vol.Schema(
            {
                vol.Required("driver_id"): entity_id,
                vol.Optional("charger_id"): entity_id,
                vol.Optional("station_group"): entity_id,
            }
        ),
        _one_target,
    )
)


def _time(value: str) -> time:
    if value == "24:00":
        return time(23, 59, 59)
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def _hhmm(value: time) -> str:
    return "24:00" if value == time(23, 59, 59) else value.strftime("%H:%M")


def build_window(data: dict[str, Any]) -> TimeWindow:
    """A time window from its normalised dict."""
    days = tuple(Weekday(d) for d in data["days"])
    return TimeWindow(_time(data["start"]), _time(data["end"]), days)


def window_dict(window: TimeWindow) -> dict[str, Any]:
    """The normalised dict of a time window."""
    days = [d.value for d in window.days]
    return {"start": _hhmm(window.start), "end": _hhmm(window.end), "days": days}


def build_driver(data: dict[str, Any]) -> Driver:
    """A driver from its normalised dict."""
    return Driver(
        id=data["id"],
        name=data["name"],
        email=data["email"],
        phone=data["phone"],
        account_member=data["account_member"],
        vehicles=tuple(data["vehicles"]),
        notifications=tuple(Notification(n) for n in data["notifications"]),
    )


def driver_dict(driver: Driver) -> dict[str, Any]:
    """The normalised dict of a driver."""
    return {
        "id": driver.id,
        "name": driver.name,
        "email": driver.email,
        "phone": driver.phone,
        "account_member": driver.account_member,
        "vehicles": list(driver.vehicles),
        "notifications": [n.value for n in driver.notifications],
    }


def build_tag(data: dict[str, Any]) -> RfidTag:
    """An RFID tag from its normalised dict."""
    owner = data["owner"]
    expiry = data["expiry"]
    return RfidTag(
        id_tag=data["id_tag"],
        status=TagStatus(data["status"]),
        expiry=datetime.fromisoformat(expiry) if expiry else None,
        owner_kind=MemberKind(owner["kind"]) if owner else None,
        owner_id=owner["id"] if owner else None,
        parent=data["parent"],
        label=data["label"],
    )


def tag_dict(tag: RfidTag) -> dict[str, Any]:
    """The normalised dict of an RFID tag."""
    owner = (
        {"kind": tag.owner_kind.value, "id": tag.owner_id}
        if tag.owner_kind is not None and tag.owner_id is not None
        else None
    )
    return {
        "id_tag": tag.id_tag,
        "status": tag.status.value,
        "expiry": tag.expiry.isoformat() if tag.expiry else None,
        "owner": owner,
        "parent": tag.parent,
        "label": tag.label,
    }


def build_policy(data: dict[str, Any]) -> AccessPolicy:
    """An access policy from its normalised dict."""
    rules = tuple(
        PolicyRule(
            group=r["group"],
            hours=Hours(r["hours"]),
            windows=tuple(build_window(w) for w in r["windows"]),
        )
        for r in data["rules"]
    )
    return AccessPolicy(data["id"], data["name"], rules, data["description"])


def policy_dict(policy: AccessPolicy) -> dict[str, Any]:
    """The normalised dict of an access policy."""
    rules = [
        {
            "group": r.group,
            "hours": r.hours.value,
            "windows": [window_dict(w) for w in r.windows],
        }
        for r in policy.rules
    ]
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "rules": rules,
    }


def charger_access_dict(access: ChargerAccess) -> dict[str, Any]:
    """The JSON form of a charger's applied policies."""
    return {
        "charger_id": access.charger_id,
        "usable_by": access.usable_by,
        "visible_to": access.visible_to,
    }


def build_waitlist_policy(data: dict[str, Any]) -> WaitlistPolicy:
    """A waitlist policy from its normalised dict."""
    finish = data["finish"]
    return WaitlistPolicy(
        id=data["id"],
        name=data["name"],
        description=data["description"],
        max_charging_minutes=data["max_charging_minutes"],
        stop_at_max=data["stop_at_max"],
        finish=FinishNotification(
            FinishKind(finish["kind"]), finish["minutes"], finish["kwh"]
        ),
        hold_minutes=data["hold_minutes"],
        remote_windows=tuple(build_window(w) for w in data["remote_windows"]),
    )


def waitlist_policy_dict(policy: WaitlistPolicy) -> dict[str, Any]:
    """The normalised dict of a waitlist policy."""
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "max_charging_minutes": policy.max_charging_minutes,
        "stop_at_max": policy.stop_at_max,
        "finish": {
            "kind": policy.finish.kind.value,
            "minutes": policy.finish.minutes,
            "kwh": policy.finish.kwh,
        },
        "hold_minutes": policy.hold_minutes,
        "remote_windows": [window_dict(w) for w in policy.remote_windows],
    }


def build_assignment(data: dict[str, Any]) -> WaitlistAssignment:
    """A waitlist policy assignment from its normalised dict."""
    return WaitlistAssignment(
        TargetKind(data["target_kind"]), data["target_id"], data["policy_id"]
    )


def assignment_dict(item: WaitlistAssignment) -> dict[str, Any]:
    """The normalised dict of a waitlist policy assignment."""
    return {
        "target_kind": item.target_kind.value,
        "target_id": item.target_id,
        "policy_id": item.policy_id,
    }
