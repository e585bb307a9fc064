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
    Candidates().add(key, priority, energy_wh, session_start)
    admission_order(candidates, state, now, rotation_minutes) -> list[int]
    next_rotation(candidates, admitted, state, now) -> RotationState
    rotate(keys, paused, state, now) -> RotationState
"""

from __future__ import annotations

from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from evsite.core import native
from evsite.core.allocation_model import ConnectorKey, RotationEntry, RotationState

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a missing time sorts as timestamp 0


def slot_start(now: datetime, rotation_minutes: float) -> datetime:
    """When the current rotation slot began: running since then is not yet due."""
    return now - timedelta(minutes=rotation_minutes)


@dataclass(slots=True)
class Candidates:
    """Connectors competing for admission, as parallel lists."""

    keys: list[ConnectorKey] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    energy_wh: list[float] = field(default_factory=list)
    session_start: list[datetime | None] = field(default_factory=list)

    def add(
        self, key: ConnectorKey, priority: int, energy_wh: float, start: datetime | None
    ) -> None:
        """Append one candidate."""
        self.keys.append(key)
        self.priority.append(priority)
        self.energy_wh.append(energy_wh)
        self.session_start.append(start)


def admission_order(
    candidates: Candidates,
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
        A permutation of ``range(len(candidates.keys))``.
    """
    started = slot_start(now, rotation_minutes)
    entries = state.entries
    sort_keys = []
    # Aware datetimes sort like their timestamps, without converting each.
    for i, key in enumerate(candidates.keys):
        entry = entries.get(key)
        waited = EPOCH
        if entry is not None and entry.admitted_since is not None:
            group = 0 if entry.admitted_since > started else 2
        else:
            group = 1
            since = entry.paused_since if entry is not None else None
            waited = since if since is not None else now
        start = candidates.session_start[i]
        sort_keys.append(
            (
                -candidates.priority[i],
                group,
                waited,
                candidates.energy_wh[i],
                EPOCH if start is None else start,
                key,
            )
        )
    return sorted(range(len(sort_keys)), key=sort_keys.__getitem__)


def next_rotation(
    candidates: Candidates,
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
    admitted_set = set(admitted)
    paused = {i for i in range(len(candidates.keys)) if i not in admitted_set}
    return rotate(candidates.keys, paused, state, now)


def rotate(
    keys: Sequence[ConnectorKey],
    paused: Container[int],
    state: RotationState,
    now: datetime,
) -> RotationState:
    """The rotation state after this allocation, from the paused indices.

    Args:
        keys: the competing connectors (others are forgotten).
        paused: indices into ``keys`` of those that wait (empty: all run).
        state: the previous rotation state.
        now: an aware datetime.

    Returns:
        Running connectors keep their start, paused ones their waiting start.
    """
    # Entries are frozen values: one new entry of each kind serves everyone
    # who starts running (or waiting) now, and unchanged ones are shared.
    running, waiting = (
        RotationEntry(admitted_since=now),
        RotationEntry(paused_since=now),
    )
    get = state.entries.get
    entries: dict[ConnectorKey, RotationEntry] = {}
    compiled = native.NATIVE
    if compiled is not None and isinstance(keys, list):  # C, bit-identical
        kept: dict[ConnectorKey, RotationEntry] = compiled.rotation_entries(
            keys, state.entries, running, waiting, paused
        )
        return RotationState(entries=kept)
    if not paused:
        for key in keys:
            old = get(key)
            entries[key] = running if old is None or old.admitted_since is None else old
        return RotationState(entries=entries)
    for i, key in enumerate(keys):
        old = get(key)
        if i not in paused:
            if old is None or old.admitted_since is None:
                old = running
        elif old is None or old.paused_since is None:
            old = waiting
        entries[key] = old
    return RotationState(entries=entries)
