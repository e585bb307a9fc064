"""Build the allocator's flows: resources, reservations and competing connectors.

The first half of :func:`evsite.core.allocator.allocate`: it turns a
:class:`~evsite.core.allocation_model.Snapshot` into the water-filling
engine's parallel lists (one resource per panel phase and per shared charger
circuit phase) and fixes every other connector's limit with its reason.

Competing connectors that cannot be told apart by the engine (same path,
shared circuit, weight, floor, upper bound and its reason, priority) become
one *merged flow* with a count: max-min fairness gives them equal rates by
symmetry, so the engine and the rounding work per flow, not per connector.
This runs for every connector on every cycle, so it is written as flat loops
over the plan's precomputed charger rows.

Public API (used by the allocator only):
    floor_step(amps) -> float
    FlowBuilder(snapshot); .add_all(); .finish(); then .flows, .fixed, .room
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evsite.config.models import Phase
from evsite.core import native
from evsite.core.allocation_model import (
    ConnectorDemand,
    ConnectorKey,
    ConnectorLimit,
    Reason,
    Snapshot,
    new_limit,
)
from evsite.core.capacity import PanelCapacity, panel_capacities
from evsite.core.plan import ChargerRow, plan_for
from evsite.core.waterfill import EPS, FlowTable

STEP_PER_A = 10  # limits in 0.1 A steps (OCPP chargingSchedulePeriod.limit)

FlowKey = tuple[int, int, float, float, float, Reason, int]
"""(path, circuit, weight, floor, upper, upper reason, priority) of a flow."""


def floor_step(amps: float) -> float:
    """Round a current down to 0.1 A (a hair of float noise is forgiven)."""
    return math.floor(amps * STEP_PER_A + 1e-7) / STEP_PER_A if amps > 0 else 0.0


def _ceil_step(amps: float) -> float:
    return math.ceil(amps * STEP_PER_A - 1e-6) / STEP_PER_A


@dataclass(slots=True)
class Flows(FlowTable):
    """Merged flows (the engine's table plus labels) and the connectors in them."""

    path_ids: list[int] = field(default_factory=list)  # SitePlan.paths: all phases
    circuits: list[tuple[int, ...]] = field(default_factory=list)  # shared circuit
    upper_reason: list[Reason] = field(default_factory=list)
    phases: list[tuple[Phase, ...]] = field(default_factory=list)
    priority: list[int] = field(default_factory=list)
    # Competing connectors in registration order, and the flow each is in.
    keys: list[ConnectorKey] = field(default_factory=list)
    flow_of: list[int] = field(default_factory=list)


_Competing = tuple[ConnectorKey, ConnectorDemand]


# What the compiled classification needs to name (native.classify).
_REASONS = (
    Reason.NOT_CHARGING,
    Reason.SCOPE_CLOSED,
    Reason.DELAYED,
    Reason.CHARGER_MAX,
    Reason.EV_MAX,
    Reason.OFFLINE_RESERVED,
    Reason.UNCONTROLLABLE,
    Reason.MAINTENANCE,
)


def _panel_reason(cap: PanelCapacity) -> tuple[Reason, str | None]:
    if cap.stale:
        return Reason.STALE_METER, cap.panel_id
    return (Reason.LOAD_SHED if cap.shed else Reason.PANEL), cap.panel_id


class FlowBuilder:
    """Turns a snapshot into resources, reservations and merged flows."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        plan = snap.plan
        if plan is None or plan.tree is not snap.tree:
            plan = plan_for(snap.tree)
        self.plan = plan
        self.caps: dict[str, PanelCapacity] = panel_capacities(snap, plan.plain)
        # The plain panels' room and reasons come from the plan; only panels
        # with a meter, schedule or shedding in force are worked out here.
        self.room: list[float] = list(plan.plain_room)
        self.res_reason: list[tuple[Reason, str | None]] = list(plan.plain_reasons)
        self.stale_panels: set[str] = set()
        plain, index = plan.plain, plan.index
        for pid, cap in self.caps.items():
            if cap is plain[pid]:
                continue
            reason = _panel_reason(cap)
            for ph, r in index[pid].items():
                self.room[r] = cap.available_a[ph]
                self.res_reason[r] = reason
            if cap.stale:
                self.stale_panels.add(pid)
        if self.stale_panels:
            for pid in reversed(plan.panel_order):  # parents first
                parent = snap.tree.panels[pid].parent
                if parent is not None and parent in self.stale_panels:
                    self.stale_panels.add(pid)
        self.n_panel_res = len(self.room)
        self.reserved = [0.0] * self.n_panel_res
        self.charger_cap: dict[int, float] = {}  # charger resource -> its cap
        self.fixed: dict[ConnectorKey, ConnectorLimit] = {}
        self.flows = Flows()
        self._index: dict[FlowKey, int] = {}
        # The flow key columns, when the compiled classification made them.
        self._cols: tuple[list[Any], ...] = ()
        self.before = snap.previous.connectors if snap.previous is not None else {}
        self._floors: dict[float | None, float] = {}
        self._circuit_phases: dict[int, tuple[Phase, ...]] = {}  # first -> phases

    def limit_of(
        self,
        key: ConnectorKey,
        limit: float,
        reason: Reason,
        panel_id: str | None,
        phases: tuple[Phase, ...],
    ) -> ConnectorLimit:
        """A connector's limit; the previous value object when nothing changed.

        Most limits repeat from one cycle to the next, and comparing is several
        times cheaper than building a frozen dataclass.
        """
        old = self.before.get(key)
        if (
            old is not None
            and old.limit_a == limit
            and old.reason is reason
            and old.panel_id == panel_id
            and old.phases == phases
        ):
            return old
        return new_limit(key[0], key[1], limit, reason, panel_id, phases)

    def add_all(self) -> None:
        """Classify every connector: fixed with a reason, or into a merged flow.

        The hot loop of a cycle (every connector of the site), so it is one flat
        loop with its lookups hoisted: a method call per charger or connector
        would cost a third as much again.
        """
        compiled = native.NATIVE
        if compiled is not None:  # the same loop in C, bit-identical (native.py)
            # Given the class, C fills a new value's slots as new_limit does.
            self._cols = compiled.classify(
                self, self.plan.rows, _REASONS, ConnectorLimit
            )
            return
        states, get = self.snap.chargers, self.snap.demands.get
        fixed, limit_of, stale_panels = self.fixed, self.limit_of, self.stale_panels
        before = self.before
        flows, index, floors = self.flows, self._index, self._floors
        counts, keys, flow_of = flows.counts, flows.keys, flows.flow_of
        floor, step = math.floor, STEP_PER_A
        charger_max, ev_max_reason = Reason.CHARGER_MAX, Reason.EV_MAX
        for row in self.plan.rows:
            (
                _,
                ckeys,
                cap,
                min_a,
                c_weight,
                c_prio,
                parent,
                path,
                one_path,
                phases,
                one_ph,
            ) = row
            offline_in_force = None
            if states and (state := states.get(row[0])) is not None:
                if not state.online or not state.controllable or state.maintenance:
                    self._not_steered(row, state.online, state.controllable)
                    continue
                offline_in_force = state.offline_allocation_a
            cap_reason, circuit = charger_max, 0
            stale = parent in stale_panels if stale_panels else False
            if stale:
                cap, cap_reason = self._stale_cap(row, offline_in_force)
            if len(ckeys) > 1 and self._competing(ckeys) > 1:
                circuit = self._circuit(phases, cap, cap_reason)
            for key in ckeys:
                demand = get(key)
                if demand is None or not demand.active:
                    reason = Reason.NOT_CHARGING
                elif demand.access_closed:
                    reason = Reason.SCOPE_CLOSED
                elif demand.delayed and not demand.charge_now:
                    reason = Reason.DELAYED
                else:  # competing: upper bound, then its flow
                    upper, reason = cap, cap_reason
                    ev_max = demand.ev_max_a
                    if ev_max is not None and ev_max <= upper:
                        upper, reason = ev_max, ev_max_reason
                    if stale:
                        upper, reason = self._no_increase(key, upper, reason)
                    upper = floor(upper * step + 1e-7) / step
                    # A 1-phase charger's one-phase path is its path.
                    one = demand.ev_phases == 1
                    floor_a = floors.get(min_a) or self._floor(min_a)
                    if upper < floor_a - EPS:
                        fixed[key] = limit_of(
                            key, 0.0, reason, None, one_ph if one else phases
                        )
                        continue
                    weight, priority = demand.weight, demand.priority
                    fkey = (
                        one_path if one else path,
                        circuit,
                        weight if weight and weight > 0 else c_weight,
                        floor_a,
                        upper,
                        reason,
                        c_prio if priority is None else priority,
                    )
                    fid = index.get(fkey)
                    if fid is None:
                        fid = index[fkey] = len(counts)
                        counts.append(1)
                    else:
                        counts[fid] += 1
                    keys.append(key)
                    flow_of.append(fid)
                    continue
                old = before.get(key)  # idle connectors mostly stay idle
                if (
                    old is None
                    or old.reason is not reason
                    or old.limit_a != 0.0
                    or old.panel_id is not None
                    or old.phases != phases
                ):
                    old = new_limit(key[0], key[1], 0.0, reason, None, phases)
                fixed[key] = old

    def _competing(self, ckeys: tuple[ConnectorKey, ...]) -> int:
        """How many of a charger's connectors compete (want current and may)."""
        demands = self.snap.demands
        n = 0
        for key in ckeys:
            d = demands.get(key)
            if d is not None and d.active and not d.access_closed:
                n += not d.delayed or d.charge_now
        return n

    def _not_steered(self, row: ChargerRow, online: bool, controllable: bool) -> None:
        """Offline and uncontrollable chargers reserve current; maintenance is 0 A."""
        cid, limit_a = row[0], row[2]
        if not online:
            # Unknown offline allocation: assume the charger may draw its limit.
            state = self.snap.chargers[cid]
            amps = state.offline_allocation_a
            if amps is None:
                amps = self.snap.offline_allocations.get(cid, limit_a)
            self._reserve(row, amps, Reason.OFFLINE_RESERVED)
        elif not controllable:
            self._reserve(row, limit_a, Reason.UNCONTROLLABLE)
        else:
            self._fix_all(row, 0.0, Reason.MAINTENANCE)

    def _fix_all(self, row: ChargerRow, limit: float, reason: Reason) -> None:
        for key in row[1]:
            self.fixed[key] = self.limit_of(key, limit, reason, None, row[9])

    def _reserve(self, row: ChargerRow, amps: float, reason: Reason) -> None:
        """Reserve ``amps`` per phase for a charger in every ancestor."""
        room, reserved = self.room, self.reserved
        for r in self.plan.paths[row[7]]:
            reserved[r] += amps
            room[r] -= amps
        self._fix_all(row, floor_step(amps), reason)

    def _stale_cap(
        self, row: ChargerRow, offline_in_force: float | None
    ) -> tuple[float, Reason]:
        """Below a stale meter, the offline allocation caps the charger."""
        cap, cap_reason = row[2], Reason.CHARGER_MAX
        # Fall back to the offline allocation (unknown: nothing more).
        offline = offline_in_force
        if offline is None:
            offline = self.snap.offline_allocations.get(row[0], 0.0)
        if offline < cap:
            cap, cap_reason = offline, Reason.STALE_METER
        return cap, cap_reason

    def _no_increase(
        self, key: ConnectorKey, upper: float, reason: Reason
    ) -> tuple[float, Reason]:
        """Below a stale meter a connector may not rise above its previous limit."""
        previous = self.snap.previous
        before = previous.limit(*key) if previous is not None else 0.0
        if before <= upper:
            return before, Reason.STALE_METER
        return upper, reason

    def _circuit(self, phases: tuple[Phase, ...], cap: float, reason: Reason) -> int:
        """Resources for a shared charger circuit (ports split its limit).

        Returns:
            The circuit's first resource (always > 0: panel resources come first).
        """
        first = len(self.room)
        self._circuit_phases[first] = phases
        for _ in phases:
            self.charger_cap[len(self.room)] = cap
            self.room.append(cap)
            self.res_reason.append((reason, None))
        return first

    def _floor(self, charger_min: float | None) -> float:
        """A charger's minimum current rounded up to 0.1 A (memoised per value)."""
        floor = self._floors.get(charger_min)
        if floor is None:
            floor = _ceil_step(charger_min or self.snap.energy.min_current_a)
            self._floors[charger_min] = floor
        return floor

    def finish(self) -> None:
        """Fill the flow columns and give every flow its resources.

        A panel phase whose room covers the upper bounds of every flow crossing
        it can never saturate this cycle, so the engine need not track it; on
        an oversubscribed but sensibly sized site that drops most of the deep
        panels from the work. Sums are taken per distinct path, not per flow.
        """
        f = self.flows
        if not f.counts:
            return
        # The index holds the flow keys in flow order (dicts keep insertion order).
        cols = self._cols or tuple(map(list, zip(*self._index, strict=True)))
        (
            f.path_ids,
            circuits,
            f.weights,
            f.floors,
            f.uppers,
            f.upper_reason,
            f.priority,
        ) = cols
        compiled = native.NATIVE
        if compiled is not None:  # the same passes in C, bit-identical (native.py)
            f.phases, f.circuits, f.resources = compiled.flow_resources(
                f.path_ids,
                circuits,
                f.uppers,
                f.counts,
                self.plan.paths,
                self.plan.path_phases,
                self.room,
                self.n_panel_res,
                self._circuit_phases,
            )
            return
        path_phases = self.plan.path_phases
        f.phases = [path_phases[p] for p in f.path_ids]
        f.circuits = [
            self._circuit_resources(c, ph) if c else ()
            for c, ph in zip(circuits, f.phases, strict=True)
        ]
        pruned = self._pruned_paths()
        f.resources = [
            pruned[path_id] + extra if extra else pruned[path_id]
            for path_id, extra in zip(f.path_ids, self._live_circuits(), strict=True)
        ]

    def _live_circuits(self) -> list[tuple[int, ...]]:
        """Each flow's shared-circuit resources, without those that cannot bind.

        A circuit binds only if its ports together may want more than its cap.
        """
        f = self.flows
        need: dict[int, float] = {}
        for extra, upper, count in zip(f.circuits, f.uppers, f.counts, strict=True):
            for r in extra:
                need[r] = need.get(r, 0.0) + upper * count
        room = self.room
        live = {r for r, total in need.items() if total > room[r] - EPS}
        return [
            tuple(r for r in extra if r in live) if extra else extra
            for extra in f.circuits
        ]

    def _circuit_resources(
        self, first: int, phases: tuple[Phase, ...]
    ) -> tuple[int, ...]:
        """A shared circuit's resources for ``phases`` (a 1-phase EV: its own)."""
        circuit_phases = self._circuit_phases[first]
        return tuple(first + circuit_phases.index(ph) for ph in phases)

    def _pruned_paths(self) -> list[tuple[int, ...]]:
        """Every path without the panel phases its flows cannot saturate."""
        f = self.flows
        all_paths = self.plan.paths
        need_by_path = [0.0] * len(all_paths)
        for path_id, upper, count in zip(f.path_ids, f.uppers, f.counts, strict=True):
            need_by_path[path_id] += upper * count
        need = [0.0] * self.n_panel_res
        for path_id, total in enumerate(need_by_path):
            if total:
                for r in all_paths[path_id]:
                    need[r] += total
        room = self.room
        hot = {r for r, total in enumerate(need) if total > room[r] - EPS}
        # Equal tuples become one object: the engine groups flows by it, and
        # paths that differ only below the panels that can bind fall together.
        same: dict[tuple[int, ...], tuple[int, ...]] = {}
        result: list[tuple[int, ...]] = []
        keep = hot.__contains__
        for k, path in enumerate(all_paths):
            kept = tuple(filter(keep, path)) if need_by_path[k] else ()
            result.append(same.setdefault(kept, kept))
        return result
