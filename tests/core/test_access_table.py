"""Decision table of authorize(): scope, tag, membership, hours, Just Charge."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from evsite.config.access_models import (
    EVERYONE,
    AccessPolicy,
    Hours,
    MemberKind,
    PolicyRule,
    RfidTag,
    TagStatus,
)
from evsite.config.models import Charger, Scope, TimeWindow, Weekday
from evsite.core.access import (
    AccessRequest,
    Holder,
    Rule,
    TagVerdict,
    authorize,
    offline_entry,
    resolve_holder,
)

TZ = "America/New_York"
# Wednesday 2026-03-11: 10:00 and 20:00 New York time (EDT, UTC-4).
INSIDE = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
OUTSIDE = datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
WORKDAY = TimeWindow(time(8), time(18), (Weekday.MON, Weekday.TUE, Weekday.WED))
POLICY = AccessPolicy(
    "tenants-daytime",
    "Tenants in daytime",
    (
        PolicyRule("tenants", Hours.WINDOWS, (WORKDAY,)),
        PolicyRule(EVERYONE, Hours.NEVER),
    ),
)
MEMBER = Holder(MemberKind.DRIVER, "alice", True, frozenset({"tenants"}))
STRANGER = Holder(MemberKind.DRIVER, "bob", False, frozenset({"visitors"}))

TAG_STATES = ("valid", "blocked", "expired", "unknown", "child")


def _charger(scope: Scope, just_charge: bool) -> Charger:
    return Charger(
        id="cp1",
        parent="main",
        limit_a=32,
        scope=scope,
        driver_groups=("tenants",),
        private_driver="alice",
        just_charge=just_charge,
    )


def _tags(state: str, holder: Holder) -> tuple[RfidTag | None, RfidTag | None]:
    """The presented tag and its parent for one tag state."""
    owned = RfidTag("CARD1", owner_kind=holder.kind, owner_id=holder.id)
    if state == "valid":
        return owned, None
    if state == "blocked":
        return replace(owned, status=TagStatus.BLOCKED), None
    if state == "expired":
        return replace(owned, expiry=INSIDE - timedelta(days=1)), None
    if state == "child":
        return RfidTag("CHILD1", parent="CARD1"), owned
    return None, None


def expected(
    scope: Scope, tag: str, member: bool, inside: bool, just_charge: bool
) -> tuple[bool, str]:
    """SPEC §3 written out: what each combination must give."""
    if scope is Scope.CLOSED:
        return False, Rule.SCOPE_CLOSED
    if just_charge and scope is not Scope.PUBLIC:
        return True, Rule.JUST_CHARGE
    if scope is Scope.OPEN:
        return True, Rule.SCOPE_OPEN
    if tag == "unknown":
        return False, Rule.UNKNOWN_TAG
    if tag == "blocked":
        return False, Rule.TAG_BLOCKED
    if tag == "expired":
        return False, Rule.TAG_EXPIRED
    if not member:
        return False, {
            Scope.PRIVATE: Rule.NOT_PRIVATE_DRIVER,
            Scope.ACCOUNT: Rule.NOT_ACCOUNT_MEMBER,
            Scope.GROUPS: Rule.NOT_IN_GROUP,
            Scope.PUBLIC: Rule.POLICY_NEVER,  # "Everyone Else: Never"
        }[scope]
    if not inside:
        return False, Rule.POLICY_HOURS
    return True, "policy:tenants-daytime"


CASES = list(
    itertools.product(Scope, TAG_STATES, (True, False), (True, False), (True, False))
)


@pytest.mark.parametrize(
    ("scope", "tag_state", "member", "inside", "just_charge"), CASES
)
def test_decision_table(
    scope: Scope, tag_state: str, member: bool, inside: bool, just_charge: bool
) -> None:
    holder = MEMBER if member else STRANGER
    tag, parent = _tags(tag_state, holder)
    if tag is not None:
        known = {t.id_tag: t for t in (tag, parent) if t is not None}
        resolved = resolve_holder(tag, known, {f"driver:{holder.id}": holder})
    else:
        resolved = None
    request = AccessRequest(
        charger=_charger(scope, just_charge),
        tag=tag,
        parent=parent,
        holder=resolved,
        policy=POLICY,
        just_charge_allowed=True,
        now=INSIDE if inside else OUTSIDE,
        timezone=TZ,
    )
    decision = authorize(request)
    want_accept, want_rule = expected(scope, tag_state, member, inside, just_charge)
    assert (decision.accepted, decision.rule) == (want_accept, want_rule)
    assert decision.accepted == (decision.status is TagVerdict.ACCEPTED)
    if decision.rule == Rule.TAG_BLOCKED:
        assert decision.status is TagVerdict.BLOCKED
    if decision.rule == Rule.TAG_EXPIRED:
        assert decision.status is TagVerdict.EXPIRED
    assert decision.unknown == (decision.rule == Rule.UNKNOWN_TAG)


def _request(**changes: object) -> AccessRequest:
    base = AccessRequest(
        charger=_charger(Scope.GROUPS, False),
        tag=RfidTag("CARD1", owner_kind=MemberKind.DRIVER, owner_id="alice"),
        parent=None,
        holder=MEMBER,
        policy=None,
        just_charge_allowed=True,
        now=INSIDE,
        timezone=TZ,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_just_charge_needs_the_site_flag() -> None:
    charger = _charger(Scope.ACCOUNT, True)
    allowed = authorize(_request(charger=charger, tag=None, holder=None))
    refused = authorize(
        _request(charger=charger, tag=None, holder=None, just_charge_allowed=False)
    )
    assert allowed.rule == Rule.JUST_CHARGE
    assert (refused.accepted, refused.rule) == (False, Rule.UNKNOWN_TAG)


def test_blocked_parent_blocks_its_children() -> None:
    parent = RfidTag(
        "CARD1", TagStatus.BLOCKED, owner_kind=MemberKind.DRIVER, owner_id="alice"
    )
    child = RfidTag("CHILD1", parent="CARD1")
    decision = authorize(_request(tag=child, parent=parent))
    assert (decision.status, decision.rule) == (TagVerdict.BLOCKED, Rule.PARENT_BLOCKED)


def test_expired_parent_expires_children_by_date() -> None:
    parent = RfidTag("CARD1", expiry=INSIDE, owner_kind=MemberKind.DRIVER, owner_id="a")
    decision = authorize(_request(tag=RfidTag("C2", parent="CARD1"), parent=parent))
    assert (decision.status, decision.rule) == (TagVerdict.EXPIRED, Rule.PARENT_EXPIRED)


def test_child_tag_carries_the_parents_owner_not_its_own() -> None:
    parent = RfidTag("P", owner_kind=MemberKind.DRIVER, owner_id="alice")
    child = RfidTag("C", owner_kind=MemberKind.DRIVER, owner_id="bob", parent="P")
    holders = {"driver:alice": MEMBER, "driver:bob": STRANGER}
    assert resolve_holder(child, {"P": parent, "C": child}, holders) == MEMBER


def test_known_tag_without_owner_is_refused() -> None:
    decision = authorize(_request(tag=RfidTag("LOOSE"), holder=None))
    assert (decision.accepted, decision.rule) == (False, Rule.NO_OWNER)


def test_waitlist_hold_admits_only_the_held_driver() -> None:
    held = frozenset({"alice"})
    assert authorize(_request(held_for=held)).accepted
    other = authorize(_request(held_for=frozenset({"carol"})))
    assert (other.accepted, other.rule) == (False, Rule.WAITLIST_HOLD)
    # A hold also applies on an open charger: the port is reserved.
    open_other = authorize(
        _request(charger=_charger(Scope.OPEN, False), held_for=frozenset({"carol"}))
    )
    assert open_other.rule == Rule.WAITLIST_HOLD


def test_fleet_vehicle_is_never_the_private_driver() -> None:
    vehicle = Holder(MemberKind.VEHICLE, "alice", True, frozenset())
    decision = authorize(
        _request(charger=_charger(Scope.PRIVATE, False), holder=vehicle)
    )
    assert decision.rule == Rule.NOT_PRIVATE_DRIVER


def test_policy_listing_neither_group_nor_everyone_refuses() -> None:
    policy = AccessPolicy("p", "only staff", (PolicyRule("staff", Hours.ANYTIME),))
    decision = authorize(_request(policy=policy))
    assert decision.rule == Rule.POLICY_NOT_LISTED


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        authorize(_request(now=datetime(2026, 3, 11, 10)))


@pytest.mark.parametrize(
    ("hours", "on_list"),
    [(Hours.ANYTIME, True), (Hours.WINDOWS, False), (Hours.NEVER, False)],
)
def test_offline_list_excludes_hour_limited_access(hours: Hours, on_list: bool) -> None:
    windows = (WORKDAY,) if hours is Hours.WINDOWS else ()
    policy = AccessPolicy("p", "p", (PolicyRule("tenants", hours, windows),))
    assert offline_entry(_request(policy=policy)) is on_list


def test_offline_list_excludes_blocked_unknown_and_closed() -> None:
    assert offline_entry(_request())
    assert not offline_entry(_request(tag=None, holder=None))
    blocked = RfidTag(
        "B", TagStatus.BLOCKED, owner_kind=MemberKind.DRIVER, owner_id="a"
    )
    assert not offline_entry(_request(tag=blocked))
    assert not offline_entry(_request(charger=_charger(Scope.CLOSED, False)))
    assert not offline_entry(_request(holder=STRANGER))
