"""Which profile to send now: deadband, ramp and first-profile rules (pure).

- Decreases go out at once, whatever their size: the charger must never be
  allowed more than the allocator granted, or Σ limits could exceed a panel.
- Increases go out only beyond the deadband, at most ``ramp_up_step_a`` per
  ramp interval, and never to a value between 0 and the minimum current
  (IEC 61851-1: below 6 A an EV cannot charge).
- A new transaction starts from the TxDefaultProfile in force (the offline
  allocation); its first TxProfile is sent whatever the deadband.
"""

from __future__ import annotations

from dataclasses import dataclass

from evsite.control.ports import ProfilePurpose

_EPS = 1e-6


@dataclass(frozen=True, slots=True)
class Target:
    """What a connector should be limited to now, and why."""

    limit_a: float
    reason: str
    transaction_id: str | None
    floor_a: float  # the minimum current: ramp steps never land below it


@dataclass(frozen=True, slots=True)
class Command:
    """One profile to send."""

    connector_id: int
    limit_a: float
    purpose: ProfilePurpose
    transaction_id: str | None
    reason: str


@dataclass(slots=True)
class InForce:
    """A TxProfile a charger accepted for a transaction."""

    limit_a: float
    transaction_id: str
    at: float  # monotonic seconds


def plan_step(
    target: Target,
    current: float,
    *,
    first: bool,
    deadband_a: float,
    ramp_up_step_a: float,
    may_ramp: bool,
) -> float | None:
    """The limit to send now, or None to leave the charger as it is.

    Args:
        target: the allocated limit.
        current: the limit in force (last accepted, or the TxDefault).
        first: no TxProfile has been sent for this transaction yet.
        deadband_a: increases up to this size are not sent.
        ramp_up_step_a: largest increase per ramp interval.
        may_ramp: a ramp interval has passed since the last send.

    Returns:
        The limit to send, or None.
    """
    goal = target.limit_a
    if goal < current - _EPS:
        return goal  # down at once
    if first:
        if goal - current <= deadband_a + _EPS or not may_ramp:
            return min(goal, max(current, 0.0))
        return _ramp(current, goal, ramp_up_step_a, target.floor_a)
    if goal - current <= deadband_a + _EPS or not may_ramp:
        return None
    return _ramp(current, goal, ramp_up_step_a, target.floor_a)


def _ramp(current: float, goal: float, step: float, floor: float) -> float:
    nxt = min(goal, current + max(step, 0.1))
    # From a pause, jump to the minimum at least: 0 < limit < minimum is invalid.
    return min(goal, max(nxt, floor))
