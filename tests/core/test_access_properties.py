"""Hypothesis properties of core.access: no accept outside a policy's hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from evsite.config.access_models import (
    EVERYONE,
    AccessPolicy,
    Hours,
    MemberKind,
    PolicyRule,
    RfidTag,
)
from evsite.config.models import Charger, Scope, TimeWindow, Weekday
from evsite.core.access import (
    AccessRequest,
    Holder,
    access_until,
    applicable_rules,
    authorize,
    offline_entry,
)
from evsite.core.schedule import window_contains

ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC")
GROUPS = ("a", "b", "c")

times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(
    TimeWindow,
    times,
    times,
    st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True).map(
        tuple
    ),
)


@st.composite
def rules(draw: st.DrawFn) -> PolicyRule:
    hours = draw(st.sampled_from(list(Hours)))
    group = draw(st.sampled_from((*GROUPS, EVERYONE)))
    found = tuple(draw(st.lists(windows, min_size=1, max_size=3)))
    return PolicyRule(group, hours, found if hours is Hours.WINDOWS else ())


policies = st.lists(rules(), min_size=1, max_size=4, unique_by=lambda r: r.group).map(
    lambda rs: AccessPolicy("p", "p", tuple(rs))
)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.just(UTC),
)
holders = st.builds(
    Holder,
    st.just(MemberKind.DRIVER),
    st.just("alice"),
    st.booleans(),
    st.frozensets(st.sampled_from(GROUPS)),
)
scopes = st.sampled_from([Scope.PRIVATE, Scope.ACCOUNT, Scope.GROUPS, Scope.PUBLIC])


def _request(
    scope: Scope, holder: Holder, policy: AccessPolicy, now: datetime, tz: str
) -> AccessRequest:
    charger = Charger(
        id="cp",
        parent="p",
        limit_a=16,
        scope=scope,
        driver_groups=GROUPS[:2],
        private_driver="alice",
    )
    tag = RfidTag("T", owner_kind=MemberKind.DRIVER, owner_id="alice")
    return AccessRequest(charger, tag, None, holder, policy, False, now, tz)


def _open_at(policy: AccessPolicy, holder: Holder, local: datetime) -> bool:
    """Independent reading of the policy: some rule of the holder is open now."""
    for rule in applicable_rules(policy, holder):
        if rule.hours is Hours.ANYTIME:
            return True
        if rule.hours is Hours.WINDOWS and any(
            window_contains(w, local) for w in rule.windows
        ):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(scopes, holders, policies, instants, st.sampled_from(ZONES))
def test_no_accept_outside_policy_hours(
    scope: Scope, holder: Holder, policy: AccessPolicy, now: datetime, tz: str
) -> None:
    decision = authorize(_request(scope, holder, policy, now, tz))
    if decision.accepted:
        assert _open_at(policy, holder, now.astimezone(ZoneInfo(tz)))


@settings(max_examples=150, deadline=None)
@given(scopes, holders, policies, instants, st.sampled_from(ZONES))
def test_offline_entries_are_accepted_at_every_hour(
    scope: Scope, holder: Holder, policy: AccessPolicy, now: datetime, tz: str
) -> None:
    request = _request(scope, holder, policy, now, tz)
    if not offline_entry(request):
        return
    # Sample a whole week in 37-minute steps: the charger may use it any time.
    for step in range(0, 7 * 24 * 60, 37):
        later = now + timedelta(minutes=step)
        assert authorize(_request(scope, holder, policy, later, tz)).accepted


@settings(max_examples=200, deadline=None)
@given(st.lists(windows, min_size=1, max_size=3), instants, st.sampled_from(ZONES))
def test_access_stays_open_until_the_reported_end(
    found: list[TimeWindow], now: datetime, tz: str
) -> None:
    """An hour-limited accept reports when it ends; access holds until then."""
    policy = AccessPolicy("p", "p", (PolicyRule("a", Hours.WINDOWS, tuple(found)),))
    holder = Holder(MemberKind.DRIVER, "alice", True, frozenset({"a"}))
    request = _request(Scope.PUBLIC, holder, policy, now, tz)
    until = access_until(request)
    if not authorize(request).accepted:
        assert until is None
        return
    assert until is not None
    assert until > now
    step = max((until - now) / 40, timedelta(minutes=1))
    probe = now
    while probe < until:
        assert authorize(_request(Scope.PUBLIC, holder, policy, probe, tz)).accepted
        probe += step
