"""Who is admitted at minimum current when not everyone fits (SPEC §2.1).

Within a priority class (higher first), candidates are ordered:
  0. running and still inside their rotation slot (least energy first);
  1. waiting, longest-waiting first (a new arrival waits from now);
  2. running past their slot (least energy first: the longest-charged pause).
The allocator admits greedily in that order, so when capacity is short a
waiting session replaces a running one whose slot (``rotation_minutes``) has
expired, and every waiting session reaches the front within a bounded time:
nobody starves. When everyone fits the order changes nothing.

Public API:
    RotationCandidate(key, priority, energy_wh, session_start)
    admission_order(candidates, state, now, rotation_minutes) -> list[int]
    next_rotation(candidates, admitted, state, now) -> RotationState
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from evsite.core.allocation_model import ConnectorKey, RotationEntry, RotationState

_EPOCH_TS = 0.0


@dataclass(frozen=True, slots=True)
class RotationCandidate:
    """A connector competing for admission."""

    key: ConnectorKey
    priority: int
    energy_wh: float
    session_start: datetime | None


def admission_order(
    candidates: Sequence[RotationCandidate],
    state: RotationState,
    now: datetime,
    rotation_minutes: float,
) -> list[int]:
    """Indices of ``candidates``, most deserving of admission first.

    Args:
        candidates: the competing connectors.
        state: the rotation state from the previous allocation.
        now: an aware datetime.
        rotation_minutes: length of a rotation slot.

    Returns:
        A permutation of ``range(len(candidates))``.
    """
    slot = timedelta(minutes=rotation_minutes)
    now_ts = now.timestamp()

    def sort_key(i: int) -> tuple[int, int, float, float, float, ConnectorKey]:
        cand = candidates[i]
        entry = state.entries.get(cand.key)
        start_ts = cand.session_start.timestamp() if cand.session_start else _EPOCH_TS
        if entry is not None and entry.admitted_since is not None:
            group = 0 if now - entry.admitted_since < slot else 2
            waited = 0.0
        else:
            group = 1
            since = entry.paused_since if entry is not None else None
            waited = since.timestamp() if since is not None else now_ts
        return (-cand.priority, group, waited, cand.energy_wh, start_ts, cand.key)

    return sorted(range(len(candidates)), key=sort_key)


def next_rotation(
    candidates: Sequence[RotationCandidate],
    admitted: Collection[int],
    state: RotationState,
    now: datetime,
) -> RotationState:
    """The rotation state after this allocation.

    Args:
        candidates: the competing connectors (others are forgotten).
        admitted: indices of the candidates that run.
        state: the previous rotation state.
        now: an aware datetime.

    Returns:
        Running connectors keep their start, paused ones their waiting start.
    """
    entries: dict[ConnectorKey, RotationEntry] = {}
    admitted_set = set(admitted)
    for i, cand in enumerate(candidates):
        old = state.entries.get(cand.key)
        if i in admitted_set:
            since = old.admitted_since if old is not None else None
            entries[cand.key] = RotationEntry(admitted_since=since or now)
        else:
            waiting = old.paused_since if old is not None else None
            entries[cand.key] = RotationEntry(paused_since=waiting or now)
    return RotationState(entries=entries)
