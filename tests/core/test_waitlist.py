"""The waitlist state machine: FIFO, one queue per driver, holds, no-shows, max time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsite.config.access_models import FinishKind, FinishNotification, WaitlistPolicy
from evsite.config.models import TimeWindow
from evsite.core import waitlist as wl
from evsite.core.waitlist import EffectKind, Running, WaitlistState
from evsite.errors import ConflictError, NotFoundError

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
TZ = "UTC"
Q = "charger:cp1"
POLICY = WaitlistPolicy(
    "wl", "Garage", max_charging_minutes=240, stop_at_max=True, hold_minutes=10
)


def _join(state: WaitlistState, driver: str, queue: str = Q, **kw: object) -> wl.Step:
    remote = bool(kw.pop("remote", True))
    policy = kw.pop("policy", POLICY)
    assert isinstance(policy, WaitlistPolicy)
    return wl.join(state, driver, queue, policy, T0, tz=TZ, remote=remote)


def _kinds(step: wl.Step) -> list[EffectKind]:
    return [e.kind for e in step.effects]


def test_fifo_order_and_positions() -> None:
    state = WaitlistState()
    positions = []
    for driver in ("a", "b", "c"):
        step = _join(state, driver)
        state = step.state
        positions.append(step.effects[0].data["position"])
    assert [e.driver_id for e in state.queue(Q)] == ["a", "b", "c"]
    assert positions == [1, 2, 3]


def test_one_queue_per_driver_per_site() -> None:
    state = _join(WaitlistState(), "a").state
    with pytest.raises(ConflictError, match="already waiting in charger:cp1"):
        _join(state, "a", "group:garage")


def test_free_port_goes_to_the_first_driver_and_is_held() -> None:
    state = _join(_join(WaitlistState(), "a").state, "b").state
    step = wl.offer(state, Q, [("cp1", 1)], POLICY, T0)
    assert _kinds(step) == [EffectKind.TURN, EffectKind.RESERVE]
    assert step.effects[0].driver_id == "a"
    assert wl.held_for(step.state, "cp1", 1) == frozenset({"a"})
    assert wl.held_for(step.state, "cp1", 2) is None
    assert wl.held_for(step.state, "cp1", None) == frozenset({"a"})
    assert [e.driver_id for e in step.state.queue(Q)] == ["b"]
    # Offering the same (still held) port again gives nothing.
    again = wl.offer(step.state, Q, [("cp1", 1)], POLICY, T0)
    assert again.effects == ()


def test_no_show_passes_the_turn_on() -> None:
    state = _join(_join(WaitlistState(), "a").state, "b").state
    state = wl.offer(state, Q, [("cp1", 1)], POLICY, T0).state
    early = wl.tick(state, {Q: POLICY}, T0 + timedelta(minutes=9, seconds=59), TZ)
    assert early.effects == ()
    late = wl.tick(early.state, {Q: POLICY}, T0 + timedelta(minutes=10), TZ)
    assert _kinds(late) == [EffectKind.NO_SHOW, EffectKind.CANCEL_RESERVATION]
    assert late.effects[0].driver_id == "a"
    nxt = wl.offer(late.state, Q, [("cp1", 1)], POLICY, T0 + timedelta(minutes=10))
    assert nxt.effects[0].driver_id == "b"


def test_taking_the_turn_ends_the_hold_and_starts_the_clock() -> None:
    state = wl.offer(
        _join(WaitlistState(), "a").state, Q, [("cp1", 1)], POLICY, T0
    ).state
    run = Running("tx1", "cp1", 1, Q, T0, "a")
    step = wl.session_started(state, run)
    assert _kinds(step) == [EffectKind.TURN_TAKEN]
    assert step.state.holds == ()
    at_max = wl.tick(step.state, {Q: POLICY}, T0 + timedelta(hours=4), TZ)
    assert _kinds(at_max) == [EffectKind.MAX_TIME, EffectKind.STOP]
    assert at_max.effects[1].data["transaction_id"] == "tx1"
    # Told once only.
    assert wl.tick(at_max.state, {Q: POLICY}, T0 + timedelta(hours=5), TZ).effects == ()
    assert wl.session_stopped(at_max.state, "tx1").state.running == ()


def test_max_time_without_stop_only_notifies() -> None:
    policy = WaitlistPolicy("wl", "n", max_charging_minutes=60)
    state = wl.session_started(WaitlistState(), Running("tx", "cp1", 1, Q, T0)).state
    step = wl.tick(state, {Q: policy}, T0 + timedelta(hours=1), TZ)
    assert _kinds(step) == [EffectKind.MAX_TIME]


def test_finish_notifications_by_time_and_energy() -> None:
    by_time = WaitlistPolicy(
        "t", "t", finish=FinishNotification(FinishKind.AFTER_TIME, minutes=30)
    )
    by_kwh = WaitlistPolicy(
        "k", "k", finish=FinishNotification(FinishKind.AFTER_KWH, kwh=5)
    )
    state = wl.session_started(WaitlistState(), Running("t1", "cp1", 1, "q1", T0)).state
    state = wl.session_started(state, Running("t2", "cp2", 1, "q2", T0)).state
    policies = {"q1": by_time, "q2": by_kwh}
    step = wl.tick(state, policies, T0 + timedelta(minutes=30), TZ, {"t2": 4.9})
    assert [(e.kind, e.data["transaction_id"]) for e in step.effects] == [
        (EffectKind.FINISH, "t1")
    ]
    step = wl.tick(step.state, policies, T0 + timedelta(minutes=31), TZ, {"t2": 5.0})
    assert [e.data["transaction_id"] for e in step.effects] == ["t2"]


def test_charging_elsewhere_ends_the_wait() -> None:
    state = _join(WaitlistState(), "a").state
    step = wl.session_started(state, Running("tx", "cp9", 1, "charger:cp9", T0, "a"))
    assert _kinds(step) == [EffectKind.LEFT]
    assert step.state.entries == ()


def test_leave_gives_up_a_held_port() -> None:
    state = wl.offer(
        _join(WaitlistState(), "a").state, Q, [("cp1", 1)], POLICY, T0
    ).state
    step = wl.leave(state, "a")
    assert _kinds(step) == [EffectKind.CANCEL_RESERVATION, EffectKind.LEFT]
    assert step.state.holds == ()
    with pytest.raises(NotFoundError):
        wl.leave(step.state, "a")


def test_remote_join_outside_the_window_is_pending_until_it_opens() -> None:
    # Remote queuing only 18:00-22:00 UTC; T0 is 12:00.
    policy = WaitlistPolicy("wl", "w", remote_windows=(TimeWindow(time(18), time(22)),))
    state = _join(WaitlistState(), "late", policy=policy).state
    state = _join(state, "tapper", policy=policy, remote=False).state
    assert [(e.driver_id, e.pending) for e in state.queue(Q)] == [
        ("tapper", False),
        ("late", True),
    ]
    step = wl.offer(state, Q, [("cp1", 1), ("cp1", 2)], policy, T0)
    assert [e.driver_id for e in step.effects if e.kind is EffectKind.TURN] == [
        "tapper"
    ]
    opened = wl.tick(step.state, {Q: policy}, T0.replace(hour=18), TZ)
    assert _kinds(opened) == [
        EffectKind.NO_SHOW,
        EffectKind.CANCEL_RESERVATION,
        EffectKind.ACTIVATED,
    ]
    assert not opened.state.queue(Q)[0].pending


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["join", "leave", "free", "tick"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["charger:cp1", "group:g"]),
        ),
        max_size=40,
    )
)
def test_invariants_under_any_sequence(ops: list[tuple[str, str, str]]) -> None:
    """A driver is never in two queues nor waiting while holding; holds are unique."""
    state, now = WaitlistState(), T0
    for op, driver, queue in ops:
        now += timedelta(minutes=3)
        try:
            if op == "join":
                state = wl.join(
                    state, driver, queue, POLICY, now, tz=TZ, remote=True
                ).state
            elif op == "leave":
                state = wl.leave(state, driver).state
            elif op == "free":
                state = wl.offer(state, queue, [(queue, 1)], POLICY, now).state
            else:
                state = wl.tick(state, {queue: POLICY}, now, TZ).state
        except (ConflictError, NotFoundError):
            continue
        waiting = [e.driver_id for e in state.entries]
        holding = [h.driver_id for h in state.holds]
        assert len(waiting) == len(set(waiting))
        assert not set(waiting) & set(holding)
        ports = [(h.charger_id, h.connector_id) for h in state.holds]
        assert len(ports) == len(set(ports))
        if op == "tick":
            assert all(h.until > now for h in state.holds)


def test_fully_charged_notice_once_and_only_where_asked() -> None:
    full = WaitlistPolicy("f", "f", finish=FinishNotification(FinishKind.FULLY_CHARGED))
    state = wl.session_started(
        WaitlistState(), Running("t1", "cp1", 1, "q1", T0, "a")
    ).state
    state = wl.session_started(state, Running("t2", "cp2", 1, "q2", T0, "b")).state
    policies = {"q1": full, "q2": POLICY}
    step = wl.charged_full(state, policies, "cp1", 1)
    assert [(e.kind, e.driver_id) for e in step.effects] == [(EffectKind.FINISH, "a")]
    assert wl.charged_full(step.state, policies, "cp1", 1).effects == ()
    assert wl.charged_full(step.state, policies, "cp2", 1).effects == ()
