"""Weighted max-min fair water-filling with per-flow floors over shared resources.

The numeric engine of the allocator (SPEC §2.1), free of any domain type.
Flows are indexed 0..N-1, resources 0..R-1. A flow uses each resource in its
list once per occurrence (a flow listed twice on a resource counts double).

Progressive filling: one level ``λ`` rises; an active flow's rate is
``weight × λ``; a flow with a floor sits at its floor until ``weight × λ``
reaches it; a flow freezes when it reaches its upper bound or when a resource
it uses saturates. Events come off a heap; a resource's saturation level only
falls when a waiting flow activates (it is re-pushed then) and otherwise only
rises (stale heap entries are re-checked lazily). Each flow freezes once, so a
fill costs O((N·k + R) log(N·k + R)) for k resources per flow — the tree depth
times the phases a flow uses, plus its charger circuit.

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
    resources, weights, floors = flows.resources, flows.weights, flows.floors
    n_res = len(room)
    load_w = [0.0] * n_res
    users: list[list[int]] = [[] for _ in range(n_res)]
    state = [0] * len(weights)
    heap: list[tuple[float, int, int]] = []
    # The level starts where the lowest floor is reached: flows whose floor is
    # met there rise from the start, with no separate activation (the usual
    # case: one site minimum, equal weights).
    start = min((floors[i] / weights[i] for i in members), default=0.0)
    for i in members:
        res, w, floor = resources[i], weights[i], floors[i]
        if floor / w > start + EPS:  # waits at its floor: the floor is fixed load
            if floors_taken:
                for r in res:
                    users[r].append(i)
            else:
                for r in res:
                    users[r].append(i)
                    room[r] -= floor
            state[i] = _WAIT
            heap.append((floor / w, _EV_ACTIVATE, i))
        else:  # rises with the level from the start
            give_back = floor if floors_taken else 0.0
            for r in res:
                users[r].append(i)
                load_w[r] += w
                room[r] += give_back
            state[i] = _ACTIVE
        heap.append((flows.uppers[i] / w, _EV_CAP, i))
    for r in range(n_res):
        if load_w[r] > 0:
            heap.append((room[r] / load_w[r], _EV_SATURATE, r))
    heapq.heapify(heap)
    run = _Run(flows, room, load_w, users, state)
    run.loop(heap)
    return run.rates, run.binding


class _Run:
    """The event loop of one fill; arrays are shared with the caller."""

    __slots__ = (
        "binding",
        "flows",
        "load_w",
        "rates",
        "room",
        "saturated",
        "state",
        "users",
    )

    def __init__(
        self,
        flows: FlowTable,
        room: list[float],
        load_w: list[float],
        users: list[list[int]],
        state: list[int],
    ) -> None:
        self.flows, self.room, self.load_w = flows, room, load_w
        self.users, self.state = users, state
        self.saturated = [False] * len(room)
        self.rates: dict[int, float] = {}
        self.binding: dict[int, int] = {}

    def loop(self, heap: list[tuple[float, int, int]]) -> None:
        """Process events in level order until every member is frozen."""
        resources, weights = self.flows.resources, self.flows.weights
        uppers, room, load_w, state = (
            self.flows.uppers,
            self.room,
            self.load_w,
            self.state,
        )
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
                for r in resources[idx]:
                    room[r] -= upper
                    load_w[r] -= w
                self.rates[idx], self.binding[idx] = upper, CAPPED
                state[idx] = _FROZEN

    def saturate(
        self, heap: list[tuple[float, int, int]], t: float, r_sat: int, level: float
    ) -> None:
        """Freeze every flow on resource ``r_sat`` if it is full at this level."""
        room, load_w, state = self.room, self.load_w, self.state
        if self.saturated[r_sat] or load_w[r_sat] <= EPS:
            return
        now_t = room[r_sat] / load_w[r_sat]
        if now_t > t + EPS * (1.0 + t):
            heapq.heappush(heap, (now_t, _EV_SATURATE, r_sat))  # rose: look later
            return
        self.saturated[r_sat] = True
        resources, weights, floors = (
            self.flows.resources,
            self.flows.weights,
            self.flows.floors,
        )
        for i in self.users[r_sat]:
            st = state[i]
            if st == _FROZEN:
                continue
            if st == _ACTIVE:  # its floor was not in room: take its rate out
                w = weights[i]
                rate = w * level
                for r in resources[i]:
                    room[r] -= rate
                    load_w[r] -= w
            else:
                rate = floors[i]
            self.rates[i], self.binding[i] = rate, r_sat
            state[i] = _FROZEN

    def activate(
        self, heap: list[tuple[float, int, int]], t: float, idx: int, level: float
    ) -> None:
        """Let flows whose floor the level reached rise from now on.

        Flows reaching their floor at the same level activate together, so
        each resource they touch is re-queued once, not once per flow.
        """
        resources, weights, floors = (
            self.flows.resources,
            self.flows.weights,
            self.flows.floors,
        )
        room, load_w, state = self.room, self.load_w, self.state
        touched: set[int] = set()
        while True:
            if state[idx] == _WAIT:
                state[idx] = _ACTIVE
                w, floor = weights[idx], floors[idx]
                for r in resources[idx]:
                    room[r] += floor
                    load_w[r] += w
                touched.update(resources[idx])
            if not heap or heap[0][0] != t or heap[0][1] != _EV_ACTIVATE:
                break
            idx = heapq.heappop(heap)[2]
        for r in touched:
            if not self.saturated[r]:
                heapq.heappush(heap, (max(level, room[r] / load_w[r]), _EV_SATURATE, r))
