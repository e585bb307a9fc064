"""Who may charge where and when: the pure authorization decision (SPEC §3).

Order of the rules (first that decides wins):

1. ``scope_closed``: a closed charger accepts nobody.
2. ``waitlist_hold``: a port held for the next waitlist driver accepts only them.
3. ``just_charge``: a non-public charger in Just Charge mode, on a site that
   allows it, is always authorized (seed 003), even for unknown cards.
4. ``scope_open``: an open charger needs no authentication.
5. ``unknown_tag``: the card is not known to the site (raises "Unknown RFID").
6. Tag state: ``tag_blocked`` / ``tag_expired`` (status or expiry date), then
   the same for the parent tag of a household child (``parent_*``).
7. Scope: ``private`` (the linked driver), ``account`` (account members),
   ``groups`` (members of the charger's groups), ``public`` (any known holder).
8. The "Usable by" access policy: the rules of the holder's groups (else the
   ``*`` "Everyone Else" rule) must be open at ``now`` in the site timezone.

Public API:
    authorize(request) -> Decision
    offline_entry(request) -> bool
    access_until(request) -> datetime | None
    resolve_holder(tag, tags, holders) -> Holder | None
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from evsite.config.access_models import (
    EVERYONE,
    AccessPolicy,
    Hours,
    MemberKind,
    PolicyRule,
    RfidTag,
    TagStatus,
)
from evsite.config.models import Charger, Scope, TimeWindow
from evsite.core.schedule import first_instant, window_contains


class TagVerdict(StrEnum):
    """The answer to the charger; values are OCPP 1.6 ``AuthorizationStatus`` names."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class Rule(StrEnum):
    """The rule that decided (a policy acceptance reads ``policy:<id>``)."""

    SCOPE_CLOSED = "scope_closed"
    WAITLIST_HOLD = "waitlist_hold"
    JUST_CHARGE = "just_charge"
    SCOPE_OPEN = "scope_open"
    UNKNOWN_TAG = "unknown_tag"
    TAG_BLOCKED = "tag_blocked"
    TAG_EXPIRED = "tag_expired"
    PARENT_BLOCKED = "parent_blocked"
    PARENT_EXPIRED = "parent_expired"
    NO_OWNER = "no_owner"
    NOT_PRIVATE_DRIVER = "not_private_driver"
    NOT_ACCOUNT_MEMBER = "not_account_member"
    NOT_IN_GROUP = "not_in_group"
    POLICY_NOT_LISTED = "policy_not_listed"
    POLICY_NEVER = "policy_never"
    POLICY_HOURS = "policy_hours"
    SCOPE_PRIVATE = "scope_private"
    SCOPE_ACCOUNT = "scope_account"
    SCOPE_GROUPS = "scope_groups"
    SCOPE_PUBLIC = "scope_public"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a tag belongs to, with what the access rules look at."""

    kind: MemberKind
    id: str
    account_member: bool
    groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """Everything one decision depends on."""

    charger: Charger
    tag: RfidTag | None
    parent: RfidTag | None
    holder: Holder | None
    policy: AccessPolicy | None
    just_charge_allowed: bool
    now: datetime
    timezone: str
    held_for: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Accept or reject, the OCPP status to answer, and the rule that decided."""

    accepted: bool
    status: TagVerdict
    rule: str

    @property
    def unknown(self) -> bool:
        """The card is unknown to the site (an "Unknown RFID" alarm)."""
        return self.rule == Rule.UNKNOWN_TAG


def _accept(rule: str) -> Decision:
    return Decision(True, TagVerdict.ACCEPTED, rule)


def _reject(rule: str, status: TagVerdict = TagVerdict.INVALID) -> Decision:
    return Decision(False, status, rule)


def resolve_holder(
    tag: RfidTag, tags: Mapping[str, RfidTag], holders: Mapping[str, Holder]
) -> Holder | None:
    """The holder whose permissions a tag carries: a child tag's parent's owner.

    Args:
        tag: the presented tag.
        tags: every known tag by id (to find the parent).
        holders: holders keyed ``"<kind>:<id>"``.

    Returns:
        The holder, or None when the (parent) tag has no known owner.
    """
    owner_tag = tags.get(tag.parent, tag) if tag.parent else tag
    if owner_tag.owner_kind is None or owner_tag.owner_id is None:
        return None
    return holders.get(f"{owner_tag.owner_kind.value}:{owner_tag.owner_id}")


def _tag_state(tag: RfidTag, now: datetime, parent: bool) -> Decision | None:
    """Reject a blocked or expired tag (status, or expiry date passed)."""
    if tag.status is TagStatus.BLOCKED:
        rule = Rule.PARENT_BLOCKED if parent else Rule.TAG_BLOCKED
        return _reject(rule, TagVerdict.BLOCKED)
    if tag.status is TagStatus.EXPIRED or (
        tag.expiry is not None and tag.expiry <= now
    ):
        rule = Rule.PARENT_EXPIRED if parent else Rule.TAG_EXPIRED
        return _reject(rule, TagVerdict.EXPIRED)
    return None


def _scope_check(charger: Charger, holder: Holder) -> Decision:
    """Whether the holder may use the charger's scope at all (seed 002)."""
    scope = charger.scope
    if scope is Scope.PRIVATE:
        ok = holder.kind is MemberKind.DRIVER and holder.id == charger.private_driver
        return _accept(Rule.SCOPE_PRIVATE) if ok else _reject(Rule.NOT_PRIVATE_DRIVER)
    if scope is Scope.ACCOUNT:
        ok = holder.account_member
        return _accept(Rule.SCOPE_ACCOUNT) if ok else _reject(Rule.NOT_ACCOUNT_MEMBER)
    if scope is Scope.GROUPS:
        ok = bool(holder.groups & set(charger.driver_groups))
        return _accept(Rule.SCOPE_GROUPS) if ok else _reject(Rule.NOT_IN_GROUP)
    return _accept(Rule.SCOPE_PUBLIC)


def applicable_rules(policy: AccessPolicy, holder: Holder) -> list[PolicyRule]:
    """The holder's groups' rules; the ``*`` rule only when none of them is listed."""
    own = [r for r in policy.rules if r.group in holder.groups]
    return own or [r for r in policy.rules if r.group == EVERYONE]


def _rule_open(rule: PolicyRule, local: datetime) -> bool:
    if rule.hours is Hours.ANYTIME:
        return True
    if rule.hours is Hours.NEVER:
        return False
    return any(window_contains(w, local) for w in rule.windows)


def _policy_check(policy: AccessPolicy, holder: Holder, local: datetime) -> Decision:
    """Whether the "Usable by" policy lets the holder charge at wall time ``local``."""
    rules = applicable_rules(policy, holder)
    if not rules:
        return _reject(Rule.POLICY_NOT_LISTED)
    if any(_rule_open(r, local) for r in rules):
        return _accept(f"policy:{policy.id}")
    if all(r.hours is Hours.NEVER for r in rules):
        return _reject(Rule.POLICY_NEVER)
    return _reject(Rule.POLICY_HOURS)


def just_charge_active(charger: Charger, site_allows: bool) -> bool:
    """Just Charge applies: set on a non-public charger of a site that allows it.

    Args:
        charger: the charger.
        site_allows: the site's ``just_charge_allowed`` flag.

    Returns:
        True when the charger is always authorized (seed 003).
    """
    return charger.just_charge and site_allows and charger.scope is not Scope.PUBLIC


def _holds(holder: Holder | None, held_for: frozenset[str]) -> bool:
    """The holder is a driver the port is being held for."""
    return (
        holder is not None
        and holder.kind is MemberKind.DRIVER
        and holder.id in held_for
    )


def _pre_tag(req: AccessRequest) -> Decision | None:
    """Rules decided before the tag is looked at (scope, hold, Just Charge)."""
    charger = req.charger
    if charger.scope is Scope.CLOSED:
        return _reject(Rule.SCOPE_CLOSED)
    if req.held_for is not None and not _holds(req.holder, req.held_for):
        return _reject(Rule.WAITLIST_HOLD)
    if just_charge_active(charger, req.just_charge_allowed):
        return _accept(Rule.JUST_CHARGE)
    if charger.scope is Scope.OPEN:
        return _accept(Rule.SCOPE_OPEN)
    return None


def _credential(req: AccessRequest) -> Decision | Holder:
    """The tag's own checks; the holder when they pass."""
    if req.tag is None:
        return _reject(Rule.UNKNOWN_TAG)
    found = _tag_state(req.tag, req.now, parent=False)
    if found is None and req.parent is not None:
        found = _tag_state(req.parent, req.now, parent=True)
    if found is not None:
        return found
    if req.holder is None:
        return _reject(Rule.NO_OWNER)
    return req.holder


def authorize(req: AccessRequest) -> Decision:
    """Decide whether the tag may charge at the charger now.

    Args:
        req: the charger, the tag (None when unknown), its parent tag, the
            holder whose permissions it carries, the charger's "Usable by"
            policy, the site's Just Charge flag, an aware ``now``, the site's
            timezone and the waitlist hold (driver ids) on the port, if any.

    Returns:
        The decision with the OCPP status and the rule that decided.

    Raises:
        ValueError: ``now`` is naive.
    """
    if req.now.tzinfo is None or req.now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    early = _pre_tag(req)
    if early is not None:
        return early
    holder = _credential(req)
    if isinstance(holder, Decision):
        return holder
    scope = _scope_check(req.charger, holder)
    if not scope.accepted or req.policy is None:
        return scope
    local = req.now.astimezone(ZoneInfo(req.timezone))
    return _policy_check(req.policy, holder, local)


def _window_end(window: TimeWindow, local: datetime, zone: ZoneInfo) -> datetime:
    """When ``window``, open at wall time ``local``, closes (site timezone)."""
    day = local.date()
    if window.start >= window.end and local.time().replace(tzinfo=None) >= window.start:
        day += timedelta(days=1)  # the evening part of a window wrapping midnight
    if window.end == time(23, 59, 59):  # 24:00 is stored as 23:59:59: midnight
        return first_instant(day + timedelta(days=1), time(0, 0), zone)
    # A wall time in a DST gap ends at the jump; on a fall-back night, at the
    # first occurrence: never later than the policy allows.
    return first_instant(day, window.end, zone)


def access_until(req: AccessRequest) -> datetime | None:
    """When an accepted, hour-limited access ends (None: not limited by hours).

    Sent as ``idTagInfo.expiryDate`` so a charger's authorization cache does
    not keep accepting the tag after the policy window closes.

    Args:
        req: a request :func:`authorize` accepts under a policy.

    Returns:
        The latest end among the holder's windows open now, as an aware time.
    """
    if req.policy is None or req.holder is None:
        return None
    rules = applicable_rules(req.policy, req.holder)
    if any(r.hours is Hours.ANYTIME for r in rules):
        return None
    zone = ZoneInfo(req.timezone)
    local = req.now.astimezone(zone)
    ends = [
        _window_end(w, local, zone)
        for r in rules
        if r.hours is Hours.WINDOWS
        for w in r.windows
        if window_contains(w, local)
    ]
    return max(ends) if ends else None


def offline_entry(req: AccessRequest) -> bool:
    """Whether the tag belongs on the charger's offline local list.

    Only tags accepted at *every* hour qualify: a tag whose access is
    hour-limited (or never) is left off, so an offline charger can never grant
    access outside the policy's hours (docs/access.md). Waitlist holds are not
    considered; the charger enforces them itself through ReserveNow.

    Args:
        req: as for :func:`authorize` (``held_for`` is ignored).

    Returns:
        True when the tag may be pushed as Accepted.
    """
    charger = req.charger
    if charger.scope is Scope.CLOSED or req.tag is None:
        return False
    holder = _credential(req)
    if isinstance(holder, Decision):
        return False
    if not _scope_check(charger, holder).accepted:
        # Just Charge / open chargers accept anyone; push only real site holders.
        return charger.scope is Scope.OPEN or just_charge_active(
            charger, req.just_charge_allowed
        )
    if req.policy is None:
        return True
    rules = applicable_rules(req.policy, holder)
    return any(r.hours is Hours.ANYTIME for r in rules)
