"""Typed models of access control and waitlists (SPEC §3, §5).

Drivers, RFID tags, group memberships, access policies and waitlist policies.
They live in the database (not in the site file); the schemas in
:mod:`evsite.config.access_schema` produce them from REST input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from evsite.config.models import TimeWindow

EVERYONE = "*"
"""Group id of an access-policy rule that covers "Everyone Else" (seed 003)."""


class TagStatus(StrEnum):
    """Administrative status of an RFID tag."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    EXPIRED = "expired"


class MemberKind(StrEnum):
    """What a group member or tag owner is: a driver or a fleet vehicle."""

    DRIVER = "driver"
    VEHICLE = "vehicle"


class Notification(StrEnum):
    """Channels a driver wants to be told on (waitlist turn, max time)."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class Hours(StrEnum):
    """When an access-policy rule lets its group charge (seed 003)."""

    ANYTIME = "anytime"
    NEVER = "never"
    WINDOWS = "windows"


class FinishKind(StrEnum):
    """When a waitlist policy tells the charging driver to finish (seed 003)."""

    NONE = "none"
    FULLY_CHARGED = "fully_charged"
    AFTER_TIME = "after_time"
    AFTER_KWH = "after_kwh"


@dataclass(frozen=True, slots=True)
class Driver:
    """A person who charges at the site."""

    id: str
    name: str
    email: str = ""
    phone: str = ""
    account_member: bool = True
    vehicles: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class RfidTag:
    """An RFID card or fob; a child tag (household) has a parent tag."""

    id_tag: str
    status: TagStatus = TagStatus.ACTIVE
    expiry: datetime | None = None
    owner_kind: MemberKind | None = None
    owner_id: str | None = None
    parent: str | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class GroupMember:
    """Membership of a driver or fleet vehicle in a site driver group."""

    group_id: str
    member_kind: MemberKind
    member_id: str


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One row of an access policy: a group and its hours."""

    group: str
    hours: Hours
    windows: tuple[TimeWindow, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Groups mapped to hours; applied to chargers as "Usable by" (seed 003)."""

    id: str
    name: str
    rules: tuple[PolicyRule, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ChargerAccess:
    """Which access policies a charger uses ("Usable by") and shows ("Visible to")."""

    charger_id: str
    usable_by: str | None = None
    visible_to: str | None = None


@dataclass(frozen=True, slots=True)
class PrivateLink:
    """Multifamily: the one driver linked to a private charger."""

    charger_id: str
    driver_id: str
    linked_at: datetime


@dataclass(frozen=True, slots=True)
class FinishNotification:
    """When the charging driver is told to finish and move the car."""

    kind: FinishKind = FinishKind.NONE
    minutes: int | None = None
    kwh: float | None = None


@dataclass(frozen=True, slots=True)
class WaitlistPolicy:
    """Queueing rules for chargers or station groups (SPEC §5)."""

    id: str
    name: str
    description: str = ""
    max_charging_minutes: int | None = None
    stop_at_max: bool = False
    finish: FinishNotification = FinishNotification()
    hold_minutes: int = 10
    remote_windows: tuple[TimeWindow, ...] = ()


class TargetKind(StrEnum):
    """What a waitlist policy is applied to."""

    CHARGER = "charger"
    STATION_GROUP = "station_group"


@dataclass(frozen=True, slots=True)
class WaitlistAssignment:
    """A waitlist policy applied to one charger or one station group."""

    target_kind: TargetKind
    target_id: str
    policy_id: str
