"""Planning of profile sends: deadband, ramp, first profile of a transaction."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from evsite.control.dispatch import TX_REFRESH_S, TX_REFRESH_SPREAD_S, refresh_after_s
from evsite.control.dispatch_plan import Target, plan_step


def _plan(
    target: float,
    current: float,
    *,
    first: bool = False,
    may_ramp: bool = True,
    floor: float = 6.0,
) -> float | None:
    return plan_step(
        Target(target, "fair_share", "1", floor),
        current,
        first=first,
        deadband_a=0.5,
        ramp_up_step_a=4.0,
        may_ramp=may_ramp,
    )


@pytest.mark.parametrize(
    ("target", "current", "options", "expected"),
    [
        (10.0, 20.0, {}, 10.0),  # down at once
        (19.9, 20.0, {}, 19.9),  # even a tiny decrease (Σ limits must hold)
        (0.0, 16.0, {"may_ramp": False}, 0.0),  # pausing is never delayed
        (20.4, 20.0, {}, None),  # within the deadband
        (20.5, 20.0, {}, None),  # the deadband's edge
        (21.0, 20.0, {}, 21.0),  # beyond it, within one step
        (32.0, 20.0, {}, 24.0),  # one ramp step
        (32.0, 20.0, {"may_ramp": False}, None),  # too soon after the last step
        (32.0, 0.0, {}, 6.0),  # from a pause: straight to the minimum
        (32.0, 0.0, {"floor": 10.0}, 10.0),  # the charger's own minimum
        (5.0, 0.0, {}, 5.0),  # ramps never overshoot the target
        (16.0, 16.0, {"first": True}, 16.0),  # first profile of a transaction
        (16.2, 16.0, {"first": True}, 16.0),  # ... holds the default in the deadband
        (32.0, 20.0, {"first": True}, 24.0),  # ... and ramps from the TxDefault
        (8.0, 20.0, {"first": True}, 8.0),  # ... or goes down at once
    ],
)
def test_plan_step(
    target: float, current: float, options: dict[str, Any], expected: float | None
) -> None:
    assert _plan(target, current, **options) == expected


def test_ramp_reaches_the_target_in_bounded_steps() -> None:
    current = 0.0
    steps = 0
    while (nxt := _plan(32.0, current)) is not None:
        assert nxt > current
        assert nxt - current <= max(4.0, 6.0)
        current = nxt
        steps += 1
    assert current == 32.0
    assert steps == 8


def test_refresh_ages_are_spread_and_bounded() -> None:
    ages = [refresh_after_s(f"LOAD{i:05d}") for i in range(1000)]
    # Never later than TX_REFRESH_S (the 60 s validity must not lapse) ...
    assert all(TX_REFRESH_S - TX_REFRESH_SPREAD_S <= a <= TX_REFRESH_S for a in ages)
    # ... and 1,000 chargers do not share one refresh second.
    per_second = Counter(int(a) for a in ages)
    assert len(per_second) >= 10
    assert max(per_second.values()) <= 200
    assert refresh_after_s("CP-1") == refresh_after_s("CP-1")
