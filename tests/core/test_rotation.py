"""Admission order and rotation bookkeeping (SPEC §2.1 minimum current)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from evsite.core.allocation_model import RotationEntry, RotationState
from evsite.core.rotation import Candidates, admission_order, next_rotation, rotate

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def cands(*rows: tuple[str, int, float]) -> Candidates:
    result = Candidates()
    for cid, priority, energy in rows:
        result.add((cid, 1), priority, energy, None)
    return result


def test_order_priority_then_slot_then_waiting_then_expired() -> None:
    c = cands(
        ("expired", 0, 100.0),
        ("waiting-new", 0, 0.0),
        ("waiting-long", 0, 9000.0),
        ("in-slot", 0, 5000.0),
        ("vip", 1, 99999.0),
    )
    state = RotationState(
        {
            ("expired", 1): RotationEntry(admitted_since=NOW - timedelta(minutes=20)),
            ("waiting-long", 1): RotationEntry(
                paused_since=NOW - timedelta(minutes=30)
            ),
            ("in-slot", 1): RotationEntry(admitted_since=NOW - timedelta(minutes=5)),
        }
    )
    order = admission_order(c, state, NOW, 15)
    assert [c.keys[i][0] for i in order] == [
        "vip",
        "in-slot",
        "waiting-long",
        "waiting-new",
        "expired",
    ]


def test_ties_go_to_the_least_charged_then_earliest_start() -> None:
    c = Candidates()
    c.add(("b", 1), 0, 500.0, NOW)
    c.add(("a", 1), 0, 500.0, NOW - timedelta(hours=1))
    c.add(("c", 1), 0, 100.0, None)
    order = admission_order(c, RotationState(), NOW, 15)
    assert [c.keys[i][0] for i in order] == ["c", "a", "b"]


def test_next_rotation_keeps_starts_and_forgets_the_gone() -> None:
    c = cands(
        ("run", 0, 0.0), ("new-run", 0, 0.0), ("wait", 0, 0.0), ("new-wait", 0, 0.0)
    )
    since = NOW - timedelta(minutes=3)
    old_run = RotationEntry(admitted_since=since)
    state = RotationState(
        {
            ("run", 1): old_run,
            ("wait", 1): RotationEntry(paused_since=since),
            ("gone", 1): RotationEntry(admitted_since=since),
        }
    )
    new = next_rotation(c, [0, 1], state, NOW).entries
    assert new[("run", 1)] is old_run
    assert new[("new-run", 1)] == RotationEntry(admitted_since=NOW)
    assert new[("wait", 1)] == RotationEntry(paused_since=since)
    assert new[("new-wait", 1)] == RotationEntry(paused_since=NOW)
    assert ("gone", 1) not in new
    # A runner that is paused starts waiting now; a waiter admitted starts running.
    flipped = next_rotation(c, [2], RotationState(new), NOW + timedelta(minutes=1))
    assert flipped.entries[("run", 1)].paused_since == NOW + timedelta(minutes=1)
    assert flipped.entries[("wait", 1)].admitted_since == NOW + timedelta(minutes=1)


def test_rotate_from_paused_indices_matches_next_rotation() -> None:
    c = cands(("a", 0, 0.0), ("b", 0, 0.0), ("c", 0, 0.0))
    since = NOW - timedelta(minutes=7)
    state = RotationState(
        {("a", 1): RotationEntry(paused_since=since), ("c", 1): RotationEntry(since)}
    )
    for admitted in ([0, 1, 2], [1], [], [0, 2]):
        paused = {i for i in range(3) if i not in admitted}
        assert rotate(c.keys, paused, state, NOW) == next_rotation(
            c, admitted, state, NOW
        )
    # Everyone running: entries that did not change are the old objects.
    everyone = rotate(c.keys, {}, state, NOW).entries
    assert everyone[("c", 1)] is state.entries[("c", 1)]
    assert everyone[("a", 1)] == everyone[("b", 1)] == RotationEntry(NOW)


def test_order_is_the_same_with_other_timezones() -> None:
    # Aware datetimes in different zones sort by the instant they name.
    plus_two = timezone(timedelta(hours=2))
    c = Candidates()
    c.add(("late", 1), 0, 0.0, (NOW + timedelta(minutes=5)).astimezone(plus_two))
    c.add(("early", 1), 0, 0.0, NOW - timedelta(minutes=5))
    state = RotationState(
        {
            ("late", 1): RotationEntry(paused_since=NOW.astimezone(plus_two)),
            ("early", 1): RotationEntry(paused_since=NOW - timedelta(seconds=1)),
        }
    )
    order = admission_order(c, state, NOW, 15)
    assert [c.keys[i][0] for i in order] == ["early", "late"]
