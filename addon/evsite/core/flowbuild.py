"""Build the allocator's flows: resources, reservations and competing connectors.

The first half of :func:`evsite.core.allocator.allocate`: it turns a
:class:`~evsite.core.allocation_model.Snapshot` into the water-filling
engine's parallel lists (one resource per panel phase and per shared charger
circuit phase; one flow per competing connector) and fixes every other
connector's limit with its reason. This runs for every connector on every
cycle, so it is written as flat loops over precomputed paths.

Public API (used by the allocator only):
    floor_step(amps) -> float
    FlowBuilder(snapshot); .add_all(); .finish(); then .flows, .fixed, .room
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evsite.config.models import Phase
from evsite.core.allocation_model import (
    ConnectorDemand,
    ConnectorKey,
    ConnectorLimit,
    Reason,
    Snapshot,
)
from evsite.core.capacity import PanelCapacity, panel_capacities
from evsite.core.plan import ChargerPlan, plan_for
from evsite.core.rotation import Candidates
from evsite.core.waterfill import EPS, FlowTable

STEP_PER_A = 10  # limits in 0.1 A steps (OCPP chargingSchedulePeriod.limit)


def floor_step(amps: float) -> float:
    """Round a current down to 0.1 A (a hair of float noise is forgiven)."""
    return math.floor(amps * STEP_PER_A + 1e-7) / STEP_PER_A if amps > 0 else 0.0


def _ceil_step(amps: float) -> float:
    return math.ceil(amps * STEP_PER_A - 1e-6) / STEP_PER_A


@dataclass(slots=True)
class Flows(FlowTable):
    """Competing connectors: the engine's table plus labels for the result."""

    path_ids: list[int] = field(default_factory=list)  # SitePlan.paths: all phases
    upper_reason: list[Reason] = field(default_factory=list)
    phases: list[tuple[Phase, ...]] = field(default_factory=list)
    candidates: Candidates = field(default_factory=Candidates)


def _panel_reason(cap: PanelCapacity) -> tuple[Reason, str | None]:
    if cap.stale:
        return Reason.STALE_METER, cap.panel_id
    return (Reason.LOAD_SHED if cap.shed else Reason.PANEL), cap.panel_id


class FlowBuilder:
    """Turns a snapshot into resources, reservations and flows."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        plan = snap.plan
        if plan is None or plan.tree is not snap.tree:
            plan = plan_for(snap.tree)
        self.plan = plan
        self.caps: dict[str, PanelCapacity] = panel_capacities(snap)
        self.room: list[float] = []
        self.res_reason: list[tuple[Reason, str | None]] = []
        self.stale_panels: set[str] = set()
        for pid in plan.panel_order:  # children first: the numbering of the plan
            cap = self.caps[pid]
            reason = _panel_reason(cap)
            for ph in plan.index[pid]:
                self.room.append(cap.available_a[ph])
                self.res_reason.append(reason)
        for pid in reversed(plan.panel_order):  # parents first
            parent = snap.tree.panels[pid].parent
            if self.caps[pid].stale or (
                parent is not None and parent in self.stale_panels
            ):
                self.stale_panels.add(pid)
        self.n_panel_res = len(self.room)
        self.reserved = [0.0] * self.n_panel_res
        self.charger_cap: dict[int, float] = {}  # charger resource -> its cap
        self.fixed: dict[ConnectorKey, ConnectorLimit] = {}
        self.flows = Flows()
        self._before = snap.previous.connectors if snap.previous is not None else {}
        self._rows: list[tuple[Any, ...]] = []
        self._floors: dict[float | None, float] = {}

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
        old = self._before.get(key)
        if (
            old is not None
            and old.limit_a == limit
            and old.reason is reason
            and old.panel_id == panel_id
            and old.phases == phases
        ):
            return old
        return ConnectorLimit(key[0], key[1], limit, reason, panel_id, phases)

    def add_all(self) -> None:
        """Classify every charger of the plan."""
        states = self.snap.chargers
        for cp in self.plan.chargers:
            state = states.get(cp.charger.id)
            if state is None:
                self._add_online(cp, None)
            elif not state.online:
                # Unknown offline allocation: assume the charger may draw its limit.
                amps = state.offline_allocation_a
                if amps is None:
                    amps = self.snap.offline_allocations.get(
                        cp.charger.id, cp.charger.limit_a
                    )
                self._reserve(cp, amps, Reason.OFFLINE_RESERVED)
            elif not state.controllable:
                self._reserve(cp, cp.charger.limit_a, Reason.UNCONTROLLABLE)
            elif state.maintenance:
                self._fix_all(cp, 0.0, Reason.MAINTENANCE)
            else:
                self._add_online(cp, state.offline_allocation_a)

    def _fix_all(self, cp: ChargerPlan, limit: float, reason: Reason) -> None:
        for key in cp.keys:
            self.fixed[key] = self.limit_of(key, limit, reason, None, cp.phases)

    def _reserve(self, cp: ChargerPlan, amps: float, reason: Reason) -> None:
        """Reserve ``amps`` per phase for a charger in every ancestor."""
        room, reserved = self.room, self.reserved
        for r in self.plan.paths[cp.path]:
            reserved[r] += amps
            room[r] -= amps
        self._fix_all(cp, floor_step(amps), reason)

    def _add_online(self, cp: ChargerPlan, offline_in_force: float | None) -> None:
        """Fix idle connectors at 0 with a reason; register the competing ones."""
        demands = self.snap.demands
        competing = []
        for key in cp.keys:
            demand = demands.get(key)
            if demand is None or not demand.active:
                reason = Reason.NOT_CHARGING
            elif demand.access_closed:
                reason = Reason.SCOPE_CLOSED
            elif demand.delayed and not demand.charge_now:
                reason = Reason.DELAYED
            else:
                competing.append((key, demand))
                continue
            self.fixed[key] = self.limit_of(key, 0.0, reason, None, cp.phases)
        if competing:
            self._add_competing(cp, competing, offline_in_force)

    def _add_competing(
        self,
        cp: ChargerPlan,
        competing: list[tuple[ConnectorKey, ConnectorDemand]],
        offline_in_force: float | None,
    ) -> None:
        """Register competing connectors, or fix them at 0 below their floor."""
        charger = cp.charger
        stale = charger.parent in self.stale_panels
        cap, cap_reason = charger.limit_a, Reason.CHARGER_MAX
        if stale:
            # Fall back to the offline allocation (unknown: nothing more).
            offline = offline_in_force
            if offline is None:
                offline = self.snap.offline_allocations.get(charger.id, 0.0)
            if offline < cap:
                cap, cap_reason = offline, Reason.STALE_METER
        shared = self._circuit(cp, cap, cap_reason) if len(competing) > 1 else None
        floor = self._floor(charger.min_current_a)
        previous = self.snap.previous if stale else None
        rows = self._rows
        three = len(cp.phases) == 3
        for key, demand in competing:  # hot loop: every competing connector
            upper, upper_reason = cap, cap_reason
            ev_max = demand.ev_max_a
            if ev_max is not None and ev_max <= upper:
                upper, upper_reason = ev_max, Reason.EV_MAX
            if stale:  # no increase above the previous limit
                before = previous.limit(*key) if previous is not None else 0.0
                if before <= upper:
                    upper, upper_reason = before, Reason.STALE_METER
            upper = math.floor(upper * STEP_PER_A + 1e-7) / STEP_PER_A
            one = three and demand.ev_phases == 1
            phases = cp.one_phase if one else cp.phases
            if upper < floor - EPS:
                self.fixed[key] = self.limit_of(key, 0.0, upper_reason, None, phases)
                continue
            priority = demand.priority
            rows.append(
                (
                    key,
                    cp.one_phase_path if one else cp.path,
                    tuple(shared[ph] for ph in phases) if shared else (),
                    weight
                    if (weight := demand.weight) and weight > 0
                    else charger.weight,
                    floor,
                    upper,
                    upper_reason,
                    phases,
                    charger.priority if priority is None else priority,
                    demand.energy_wh,
                    demand.session_start,
                )
            )

    def _circuit(self, cp: ChargerPlan, cap: float, reason: Reason) -> dict[Phase, int]:
        """Resources for a shared charger circuit (ports split its limit)."""
        shared = {}
        for ph in cp.phases:
            shared[ph] = len(self.room)
            self.charger_cap[len(self.room)] = cap
            self.room.append(cap)
            self.res_reason.append((reason, None))
        return shared

    def _floor(self, charger_min: float | None) -> float:
        """A charger's minimum current rounded up to 0.1 A (memoised per value)."""
        floor = self._floors.get(charger_min)
        if floor is None:
            floor = _ceil_step(charger_min or self.snap.energy.min_current_a)
            self._floors[charger_min] = floor
        return floor

    def finish(self) -> None:
        """Turn the collected rows into the flow table, pruning idle resources.

        A panel phase whose room covers the upper bounds of every flow crossing
        it can never saturate this cycle, so the engine need not track it; on
        an oversubscribed but sensibly sized site that drops most of the deep
        panels from the work. Sums are taken per distinct path, not per flow.
        """
        if not self._rows:
            return
        f = self.flows
        cols = list(zip(*self._rows, strict=True))
        keys, path_ids, shared, f.weights, f.floors, f.uppers = (
            list(c) for c in cols[:6]
        )
        f.upper_reason, f.phases = list(cols[6]), list(cols[7])
        cands = f.candidates
        cands.keys, cands.priority = keys, list(cols[8])
        cands.energy_wh, cands.session_start = list(cols[9]), list(cols[10])
        all_paths = self.plan.paths
        f.path_ids = path_ids
        need_by_path = [0.0] * len(all_paths)
        for path_id, upper in zip(path_ids, f.uppers, strict=True):
            need_by_path[path_id] += upper
        need = [0.0] * self.n_panel_res
        for path_id, total in enumerate(need_by_path):
            if total:
                for r in all_paths[path_id]:
                    need[r] += total
        room = self.room
        pruned = [
            tuple(r for r in path if need[r] > room[r] - EPS) if need_by_path[k] else ()
            for k, path in enumerate(all_paths)
        ]
        f.resources = [
            pruned[path_id] + extra if extra else pruned[path_id]
            for path_id, extra in zip(path_ids, shared, strict=True)
        ]
