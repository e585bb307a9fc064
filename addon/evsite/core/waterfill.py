"""Weighted max-min fair water-filling with per-flow floors over shared resources.

The numeric engine of the allocator (SPEC §2.1), free of any domain type.
Flows are indexed 0..N-1, resources 0..R-1. A flow uses each resource in its
list once per occurrence (a flow listed twice on a resource counts double).

Progressive filling: one level ``λ`` rises; an active flow's rate is
``weight × λ``; a flow with a floor sits at its floor until ``weight × λ``
reaches it; a flow freezes when it reaches its upper bound or when a resource
it uses saturates. Events come off a heap; a resource's saturation level only
falls when waiting flows activate (it is re-pushed then) and otherwise only
rises (stale heap entries are re-checked lazily).

Flows sharing one resources object form a group that saturates as one; a
group's flows are kept sorted by the level at which they reach their upper
bound, so the group has one pending "cap" event at a time and flows capping
at the same level leave its resources in one update. Each flow is touched a
constant number of times, so a fill costs O(N log N + (E + R)·k·log(G + R))
for N flows, G groups, E distinct cap levels per group summed over groups,
and k resources per path (tree depth × phases, plus a shared charger circuit).

Public API:
    admit(order, resources, floors, room) -> tuple[list[int], dict[int, int]]
    FlowTable(resources, weights, floors, uppers, counts)
    fill(members, flows, room) -> tuple[dict[int, float], dict[int, int]]
    fill_into(members, flows, room, rates, binding)
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

from evsite.core import native

EPS = 1e-9
CAPPED = -1  # binding marker: the flow reached its own upper bound

_WAIT, _ACTIVE, _FROZEN = 1, 2, 3
_EV_ACTIVATE, _EV_CAP, _EV_SATURATE = 0, 1, 2  # ties: activate, then cap


def admit(
    order: Sequence[int],
    resources: Sequence[Sequence[int]],
    floors: Sequence[float],
    room: list[float],
) -> tuple[list[int], dict[int, int]]:
    """Admit flows at their floor greedily in ``order`` where they fit.

    Args:
        order: flow indices, most deserving first.
        resources: per flow, the resources it uses.
        floors: per flow, the amount it needs to be admitted.
        room: per resource, what is free; reduced in place by admitted floors.

    Returns:
        The admitted flows (in order) and, for each refused flow, the resource
        that had no room.
    """
    admitted: list[int] = []
    blocked: dict[int, int] = {}
    look = room.__getitem__
    repeats: dict[int, bool] = {}  # by id: the tuple lists a resource twice
    for i in order:
        need = floors[i]
        res = resources[i]
        twice = repeats.get(id(res))
        if twice is None:
            twice = repeats[id(res)] = len(set(res)) < len(res)
        if twice:  # each occurrence takes its share: check as we go
            _admit_one(i, res, need, room, admitted=admitted, blocked=blocked)
        elif not res or min(map(look, res)) >= need - EPS:
            for r in res:
                room[r] -= need
            admitted.append(i)
        else:  # name the first resource on the path without room (C-level scan)
            short = (need - EPS).__gt__
            blocked[i] = next(compress(res, map(short, map(look, res))))
    return admitted, blocked


def _admit_one(
    i: int,
    res: Sequence[int],
    need: float,
    room: list[float],
    *,
    admitted: list[int],
    blocked: dict[int, int],
) -> None:
    """Admit flow ``i`` resource by resource, or undo and record the blocker."""
    used: list[int] = []
    for r in res:
        if room[r] < need - EPS:
            blocked[i] = r
            for u in used:  # undo a partial reservation
                room[u] += need
            return
        room[r] -= need
        used.append(r)
    admitted.append(i)


@dataclass(slots=True)
class FlowTable:
    """Flows as parallel lists, indexed by flow.

    A flow may stand for ``counts[i]`` identical connectors (same resources,
    weight, floor and upper bound): by symmetry max-min fairness gives each
    the same rate, so the engine carries them as one flow whose load is
    ``count × rate``. ``counts`` empty means one connector per flow.
    """

    resources: list[Sequence[int]] = field(default_factory=list)  # resources used
    weights: list[float] = field(default_factory=list)  # > 0: rates grow in proportion
    floors: list[float] = field(default_factory=list)  # admitted at; ≤ upper
    uppers: list[float] = field(default_factory=list)  # finite upper bound
    counts: list[int] = field(default_factory=list)  # connectors per flow (≥ 1)


def fill(
    members: Sequence[int],
    flows: FlowTable,
    room: list[float],
    *,
    floors_taken: bool = False,
) -> tuple[dict[int, float], dict[int, int]]:
    """Water-fill ``members`` into ``room``; every member gets at least its floor.

    Flows whose ``resources`` are the same object form a group: they saturate
    together, so totals are kept per group and spread over its resources once
    (the allocator hands every connector on one path the same tuple).

    Args:
        members: the flows to fill (their floors must fit in ``room``).
        flows: the flow table.
        room: per resource, free capacity; reduced in place by the result.
        floors_taken: ``room`` already has the members' floors deducted (as
            :func:`admit` leaves it).

    Returns:
        ``(rates, binding)``: per member its rate (per connector) and what
        froze it (a resource index, or :data:`CAPPED` for its own upper bound).
    """
    n = len(flows.weights)
    rates, binding = [0.0] * n, [CAPPED] * n
    fill_into(members, flows, room, rates, binding, floors_taken=floors_taken)
    return {i: rates[i] for i in members}, {i: binding[i] for i in members}


def fill_into(
    members: Sequence[int],
    flows: FlowTable,
    room: list[float],
    rates: list[float],
    binding: list[int],
    *,
    floors_taken: bool = False,
) -> None:
    """:func:`fill`, writing each member's rate and binding into the given lists.

    Args:
        members: the flows to fill (their floors must fit in ``room``).
        flows: the flow table.
        room: per resource, free capacity; reduced in place by the result.
        rates: per flow; the members' entries are set.
        binding: per flow; the members' entries are set.
        floors_taken: ``room`` already has the members' floors deducted.
    """
    if not members:
        return
    compiled = native.NATIVE
    if compiled is not None:  # the same loop in C, bit-identical (native.py)
        compiled.fill_into(
            members,
            flows.resources,
            flows.weights,
            flows.floors,
            flows.uppers,
            flows.counts,
            room,
            rates,
            binding,
            floors_taken,
        )
        return
    run = _Run(flows, room, rates, binding)
    heap = run.setup(members, floors_taken=floors_taken)
    run.loop(heap)


class _Run:
    """State of one fill; ``room``, ``rates`` and ``binding`` are the caller's."""

    __slots__ = (
        "binding", "cap", "counts", "flows", "g_done", "g_members", "g_ptr",
        "g_res", "g_w", "group", "load_w", "rates", "room", "saturated", "state",
        "users",
    )  # fmt: skip

    def __init__(
        self,
        flows: FlowTable,
        room: list[float],
        rates: list[float],
        binding: list[int],
    ) -> None:
        self.flows, self.room, self.rates, self.binding = flows, room, rates, binding
        n = len(flows.weights)
        self.counts = flows.counts or [1] * n
        # The level at which each flow reaches its upper bound.
        self.cap = [u / w for u, w in zip(flows.uppers, flows.weights, strict=True)]
        self.load_w = [0.0] * len(room)  # Σ count × weight of rising flows
        # Groups per resource, for the resources the members use only: a site
        # has many idle ones (pruned panels, circuits of other chargers).
        self.users: defaultdict[int, list[int]] = defaultdict(list)
        self.saturated = [False] * len(room)
        self.state = [0] * n
        self.group = [0] * n
        self.g_res: list[Sequence[int]] = []
        self.g_members: list[list[int]] = []  # by cap level, lowest first
        self.g_ptr: list[int] = []  # first member not yet past its cap
        self.g_w: list[float] = []  # Σ count × weight of the group's rising flows
        self.g_done: list[bool] = []

    def setup(
        self, members: Sequence[int], *, floors_taken: bool
    ) -> list[tuple[float, int, int]]:
        """Group the members, load the resources and queue the first events."""
        flows, state, group, counts = self.flows, self.state, self.group, self.counts
        weights, floors = flows.weights, flows.floors
        # The level starts where the lowest floor is reached: flows whose floor
        # is met there rise from the start, with no activation (the usual case).
        start = min(floors[i] / weights[i] for i in members)
        heap: list[tuple[float, int, int]] = []
        index: dict[int, int] = {}
        shift: list[float] = []  # room change per group at the start
        g_res, g_members, g_w = self.g_res, self.g_members, self.g_w
        resources = flows.resources
        for i in sorted(members, key=self.cap.__getitem__):
            res = resources[i]
            g = index.get(id(res))
            if g is None:
                g = index[id(res)] = len(g_res)
                g_res.append(res)
                g_members.append([i])
                g_w.append(0.0)
                shift.append(0.0)
            else:
                g_members[g].append(i)
            group[i] = g
            w = weights[i]
            if floors[i] > (start + EPS) * w:  # waits at its floor: fixed load
                state[i] = _WAIT
                if not floors_taken:
                    shift[g] -= floors[i] * counts[i]
                heap.append((floors[i] / w, _EV_ACTIVATE, i))
            else:  # rises with the level from the start
                state[i] = _ACTIVE
                g_w[g] += w * counts[i]
                if floors_taken:
                    shift[g] += floors[i] * counts[i]
        self.g_done = [False] * len(g_res)
        self.g_ptr = [0] * len(g_res)
        cap = self.cap
        heap.extend((cap[m[0]], _EV_CAP, g) for g, m in enumerate(g_members))
        self._load(shift)
        room, load_w = self.room, self.load_w
        heap.extend(
            (room[r] / load_w[r], _EV_SATURATE, r) for r in self.users if load_w[r] > 0
        )
        heapq.heapify(heap)
        return heap

    def _load(self, shift: list[float]) -> None:
        """Put every group's rising weight and starting room change on its resources."""
        room, load_w, users, g_w = self.room, self.load_w, self.users, self.g_w
        for g, res in enumerate(self.g_res):
            w, delta = g_w[g], shift[g]
            for r in res:
                users[r].append(g)
                load_w[r] += w
                room[r] += delta

    def loop(self, heap: list[tuple[float, int, int]]) -> None:
        """Process events in level order until every member is frozen."""
        pop = heapq.heappop
        level = 0.0
        while heap:
            t, kind, idx = pop(heap)
            if t > level:  # noqa: PLR1730 (hot loop: a branch beats a max() call)
                level = t
            if kind == _EV_SATURATE:
                self.saturate(heap, t, idx, level)
            elif kind == _EV_CAP:
                self.cap_group(heap, t, idx)
            else:
                self.activate(heap, t, idx, level)

    def cap_group(self, heap: list[tuple[float, int, int]], t: float, g: int) -> None:
        """Freeze the group's rising flows whose upper bound the level reached."""
        if self.g_done[g]:
            return
        members, cap, state = self.g_members[g], self.cap, self.state
        weights, uppers, counts = self.flows.weights, self.flows.uppers, self.counts
        floors, rates, binding = self.flows.floors, self.rates, self.binding
        ptr, n = self.g_ptr[g], len(members)
        dw = du = 0.0
        while ptr < n and cap[members[ptr]] <= t:
            i = members[ptr]
            ptr += 1
            st = state[i]
            if st == _ACTIVE:
                dw += weights[i] * counts[i]
                du += uppers[i] * counts[i]
                rates[i], binding[i] = uppers[i], CAPPED
            elif st == _WAIT:  # upper below its floor: stays at the floor
                rates[i], binding[i] = floors[i], CAPPED
            state[i] = _FROZEN
        self.g_ptr[g] = ptr
        if dw:
            room, load_w = self.room, self.load_w
            for r in self.g_res[g]:
                room[r] -= du
                load_w[r] -= dw
            self.g_w[g] -= dw
        if ptr < n:
            heapq.heappush(heap, (cap[members[ptr]], _EV_CAP, g))

    def saturate(
        self, heap: list[tuple[float, int, int]], t: float, r_sat: int, level: float
    ) -> None:
        """Freeze every group on resource ``r_sat`` if it is full at this level."""
        room, load_w, state = self.room, self.load_w, self.state
        if self.saturated[r_sat] or load_w[r_sat] <= EPS:
            return
        now_t = room[r_sat] / load_w[r_sat]
        if now_t > t + EPS * (1.0 + t):
            heapq.heappush(heap, (now_t, _EV_SATURATE, r_sat))  # rose: look later
            return
        self.saturated[r_sat] = True
        weights, floors, counts = self.flows.weights, self.flows.floors, self.counts
        rates, binding, g_done = self.rates, self.binding, self.g_done
        for g in self.users[r_sat]:
            if g_done[g]:
                continue
            g_done[g] = True
            taken = 0.0  # the rising members' load leaves the rising total
            members = self.g_members[g]
            for k in range(self.g_ptr[g], len(members)):  # the others are capped
                i = members[k]
                st = state[i]
                if st == _ACTIVE:
                    rate = weights[i] * level
                    taken += rate * counts[i]
                elif st == _WAIT:  # still at its floor, already fixed load
                    rate = floors[i]
                else:
                    continue
                rates[i], binding[i] = rate, r_sat
                state[i] = _FROZEN
            w = self.g_w[g]
            for r in self.g_res[g]:
                room[r] -= taken
                load_w[r] -= w
            self.g_w[g] = 0.0

    def activate(
        self, heap: list[tuple[float, int, int]], t: float, idx: int, level: float
    ) -> None:
        """Let flows whose floor the level reached rise from now on.

        Flows reaching their floor at the same level activate together, so
        each resource they touch is re-queued once, not once per flow.
        """
        weights, floors, state, group = (
            self.flows.weights,
            self.flows.floors,
            self.state,
            self.group,
        )
        counts = self.counts
        gained: dict[int, tuple[float, float]] = {}  # group -> (weight, floor)
        while True:
            if state[idx] == _WAIT:
                state[idx] = _ACTIVE
                g = group[idx]
                w, f = gained.get(g, (0.0, 0.0))
                m = counts[idx]
                gained[g] = (w + weights[idx] * m, f + floors[idx] * m)
            if not heap or heap[0][0] != t or heap[0][1] != _EV_ACTIVATE:
                break
            idx = heapq.heappop(heap)[2]
        room, load_w = self.room, self.load_w
        touched: set[int] = set()
        for g, (w, f) in gained.items():
            self.g_w[g] += w
            for r in self.g_res[g]:
                room[r] += f
                load_w[r] += w
            touched.update(self.g_res[g])
        for r in touched:
            if not self.saturated[r]:
                heapq.heappush(heap, (max(level, room[r] / load_w[r]), _EV_SATURATE, r))
