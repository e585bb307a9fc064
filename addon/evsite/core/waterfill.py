"""Weighted max-min fair water-filling with per-flow floors over shared resources.

The numeric engine of the allocator (SPEC §2.1), free of any domain type.
Flows are indexed 0..N-1, resources 0..R-1. A flow uses each resource in its
list once per occurrence (a flow listed twice on a resource counts double).

Progressive filling: one level ``λ`` rises; an active flow's rate is
``weight × λ``; a flow with a floor sits at its floor until ``weight × λ``
reaches it; a flow freezes when it reaches its upper bound or when a resource
it uses saturates. Events come off a heap; a resource's saturation level only
falls when waiting flows activate (it is re-pushed then) and otherwise only
rises (stale heap entries are re-checked lazily). Flows sharing one resources
object form a group that saturates as one, so a fill costs
O((N + C·k + G·k + R) log(N + R)) for N flows, C of them stopped by their own
bound, G groups and k resources per path (tree depth × phases, plus a shared
charger circuit) — against O(N·k) per pass for a flow-by-flow fill.

Public API:
    admit(order, resources, floors, room) -> tuple[list[int], dict[int, int]]
    FlowTable(resources, weights, floors, uppers)
    fill(members, flows, room) -> tuple[dict[int, float], dict[int, int]]
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

EPS = 1e-9
CAPPED = -1  # binding marker: the flow reached its own upper bound

_WAIT, _ACTIVE, _FROZEN = 1, 2, 3
_EV_ACTIVATE, _EV_CAP, _EV_SATURATE = 0, 1, 2


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
    for i in order:
        need = floors[i]
        used: list[int] = []
        for r in resources[i]:
            if room[r] < need - EPS:
                blocked[i] = r
                break
            room[r] -= need
            used.append(r)
        if i in blocked:
            for r in used:  # undo a partial reservation
                room[r] += need
        else:
            admitted.append(i)
    return admitted, blocked


@dataclass(slots=True)
class FlowTable:
    """Flows as parallel lists, indexed by flow."""

    resources: list[Sequence[int]] = field(default_factory=list)  # resources used
    weights: list[float] = field(default_factory=list)  # > 0: rates grow in proportion
    floors: list[float] = field(default_factory=list)  # admitted at; ≤ upper
    uppers: list[float] = field(default_factory=list)  # finite upper bound


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
        ``(rates, binding)``: per member its rate and what froze it (a
        resource index, or :data:`CAPPED` for its own upper bound).
    """
    run = _Run(flows, room)
    heap = run.setup(members, floors_taken=floors_taken)
    run.loop(heap)
    return run.rates, run.binding


class _Run:
    """State of one fill; ``room`` is the caller's list, updated in place."""

    __slots__ = (
        "binding", "flows", "g_done", "g_members", "g_res", "g_w", "group",
        "load_w", "rates", "room", "saturated", "state", "users",
    )  # fmt: skip

    def __init__(self, flows: FlowTable, room: list[float]) -> None:
        self.flows, self.room = flows, room
        self.load_w = [0.0] * len(room)  # Σ weights of rising flows per resource
        self.users: list[list[int]] = [[] for _ in room]  # groups per resource
        self.saturated = [False] * len(room)
        self.state = [0] * len(flows.weights)
        self.group = [0] * len(flows.weights)
        self.g_res: list[Sequence[int]] = []
        self.g_members: list[list[int]] = []
        self.g_w: list[float] = []  # Σ weights of the group's rising flows
        self.g_done: list[bool] = []
        self.rates: dict[int, float] = {}
        self.binding: dict[int, int] = {}

    def setup(
        self, members: Sequence[int], *, floors_taken: bool
    ) -> list[tuple[float, int, int]]:
        """Group the members, load the resources and queue the first events."""
        flows, state, group = self.flows, self.state, self.group
        weights, floors = flows.weights, flows.floors
        # The level starts where the lowest floor is reached: flows whose floor
        # is met there rise from the start, with no activation (the usual case).
        start = min((floors[i] / weights[i] for i in members), default=0.0)
        heap: list[tuple[float, int, int]] = []
        index: dict[int, int] = {}
        shift: list[float] = []  # room change per group at the start
        g_res, g_members, g_w, g_done = (
            self.g_res,
            self.g_members,
            self.g_w,
            self.g_done,
        )
        resources, uppers = flows.resources, flows.uppers
        add_event = heap.append
        for i in members:
            res = resources[i]
            g = index.get(id(res))
            if g is None:
                g = index[id(res)] = len(g_res)
                g_res.append(res)
                g_members.append([i])
                g_w.append(0.0)
                g_done.append(False)
                shift.append(0.0)
            else:
                g_members[g].append(i)
            group[i] = g
            w, floor = weights[i], floors[i]
            if floor > (start + EPS) * w:  # waits at its floor: fixed load
                state[i] = _WAIT
                if not floors_taken:
                    shift[g] -= floor
                add_event((floor / w, _EV_ACTIVATE, i))
            else:  # rises with the level from the start
                state[i] = _ACTIVE
                g_w[g] += w
                if floors_taken:
                    shift[g] += floor
            add_event((uppers[i] / w, _EV_CAP, i))
        room, load_w, users = self.room, self.load_w, self.users
        for g, res in enumerate(self.g_res):
            w, delta = self.g_w[g], shift[g]
            for r in res:
                users[r].append(g)
                load_w[r] += w
                room[r] += delta
        heap.extend(
            (room[r] / load_w[r], _EV_SATURATE, r)
            for r in range(len(room))
            if load_w[r] > 0
        )
        heapq.heapify(heap)
        return heap

    def loop(self, heap: list[tuple[float, int, int]]) -> None:
        """Process events in level order until every member is frozen."""
        weights, uppers = self.flows.weights, self.flows.uppers
        room, load_w, state = self.room, self.load_w, self.state
        group, g_res, g_w = self.group, self.g_res, self.g_w
        pop = heapq.heappop
        level = 0.0
        while heap:
            t, kind, idx = pop(heap)
            level = max(level, t)
            if kind == _EV_SATURATE:
                self.saturate(heap, t, idx, level)
            elif kind == _EV_ACTIVATE:
                self.activate(heap, t, idx, level)
            elif state[idx] == _ACTIVE:  # _EV_CAP of a flow still rising
                upper, w = uppers[idx], weights[idx]
                g = group[idx]
                for r in g_res[g]:
                    room[r] -= upper
                    load_w[r] -= w
                g_w[g] -= w
                self.rates[idx], self.binding[idx] = upper, CAPPED
                state[idx] = _FROZEN

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
        weights, floors = self.flows.weights, self.flows.floors
        rates, binding = self.rates, self.binding
        for g in self.users[r_sat]:
            if self.g_done[g]:
                continue
            self.g_done[g] = True
            taken = 0.0  # the rising members' rates leave the rising total
            for i in self.g_members[g]:
                st = state[i]
                if st == _FROZEN:
                    continue
                if st == _ACTIVE:
                    rate = weights[i] * level
                    taken += rate
                else:  # still at its floor, already fixed load
                    rate = floors[i]
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
        gained: dict[int, tuple[float, float]] = {}  # group -> (weight, floor)
        while True:
            if state[idx] == _WAIT:
                state[idx] = _ACTIVE
                g = group[idx]
                w, f = gained.get(g, (0.0, 0.0))
                gained[g] = (w + weights[idx], f + floors[idx])
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
