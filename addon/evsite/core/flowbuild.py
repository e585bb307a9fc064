"""Build the allocator's flows: resources, reservations and competing connectors.

The first half of :func:`evsite.core.allocator.allocate`: it turns a
:class:`~evsite.core.allocation_model.Snapshot` into the water-filling
engine's parallel lists (one resource per panel phase and per shared charger
circuit phase; one flow per competing connector) and fixes every other
connector's limit with its reason.

Public API (used by the allocator only):
    floor_step(amps) -> float
    FlowBuilder(snapshot).add_charger(charger)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evsite.config.models import Charger, Phase
from evsite.core.allocation_model import (
    ChargerState,
    ConnectorDemand,
    ConnectorKey,
    ConnectorLimit,
    Reason,
    Snapshot,
)
from evsite.core.capacity import PanelCapacity, panel_capacities
from evsite.core.rotation import RotationCandidate
from evsite.core.waterfill import EPS, FlowTable

STEP_PER_A = 10  # limits in 0.1 A steps (OCPP chargingSchedulePeriod.limit)


def floor_step(amps: float) -> float:
    """Round a current down to 0.1 A (a hair of float noise is forgiven)."""
    return math.floor(amps * STEP_PER_A + 1e-7) / STEP_PER_A if amps > 0 else 0.0


def _ceil_step(amps: float) -> float:
    return math.ceil(amps * STEP_PER_A - 1e-6) / STEP_PER_A


@dataclass(slots=True)
class Flows(FlowTable):
    """Competing connectors as parallel lists: the engine's table plus labels."""

    keys: list[ConnectorKey] = field(default_factory=list)
    upper_reason: list[Reason] = field(default_factory=list)
    phases: list[tuple[Phase, ...]] = field(default_factory=list)
    candidates: list[RotationCandidate] = field(default_factory=list)


class FlowBuilder:
    """Turns a snapshot into resources, reservations and flows; then solves."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.caps: dict[str, PanelCapacity] = panel_capacities(snap)
        self.index: dict[str, dict[Phase, int]] = {}
        self.room: list[float] = []
        self.res_reason: list[tuple[Reason, str | None]] = []
        # Children before parents: a tie between levels names the nearest panel.
        for pid in reversed(snap.tree.depth_first()):
            cap = self.caps[pid]
            self.index[pid] = {}
            for ph in cap.phases:
                self.index[pid][ph] = len(self.room)
                self.room.append(cap.available_a[ph])
                self.res_reason.append(self._panel_reason(cap))
        self.n_panel_res = len(self.room)
        self.reserved = [0.0] * self.n_panel_res
        self.charger_cap: dict[int, float] = {}  # charger resource -> its cap
        self.fixed: dict[ConnectorKey, ConnectorLimit] = {}
        self.flows = Flows()
        self._paths: dict[tuple[str, tuple[Phase, ...]], list[int]] = {}
        self._stale: dict[str, bool] = {}

    @staticmethod
    def _panel_reason(cap: PanelCapacity) -> tuple[Reason, str | None]:
        if cap.stale:
            return Reason.STALE_METER, cap.panel_id
        return (Reason.LOAD_SHED if cap.shed else Reason.PANEL), cap.panel_id

    def path(self, panel_id: str, phases: tuple[Phase, ...]) -> list[int]:
        """Panel resources a load on ``phases`` under ``panel_id`` uses."""
        key = (panel_id, phases)
        cached = self._paths.get(key)
        if cached is None:
            cached = []
            for anc in self.snap.tree.ancestors(panel_id):
                by_phase = self.index[anc]
                single = next(iter(by_phase.values())) if len(by_phase) == 1 else None
                # A 1-phase panel carries any phase on its one line.
                cached.extend(
                    single if single is not None else by_phase[ph] for ph in phases
                )
            self._paths[key] = cached
        return cached

    def under_stale(self, panel_id: str) -> bool:
        """Whether ``panel_id`` or an ancestor has a stale meter."""
        known = self._stale.get(panel_id)
        if known is None:
            parent = self.snap.tree.panels[panel_id].parent
            known = self.caps[panel_id].stale or (
                parent is not None and self.under_stale(parent)
            )
            self._stale[panel_id] = known
        return known

    def set_fixed(self, charger: Charger, limit: float, reason: Reason) -> None:
        """Give every connector of ``charger`` a fixed limit."""
        phases = self.snap.tree.charger_phases(charger)
        for conn in charger.connectors:
            key = (charger.id, conn.id)
            self.fixed[key] = ConnectorLimit(
                charger.id, conn.id, limit, reason, None, phases
            )

    def reserve(self, charger: Charger, amps: float, reason: Reason) -> None:
        """Reserve ``amps`` per phase for ``charger`` in every ancestor."""
        phases = self.snap.tree.charger_phases(charger)
        for r in self.path(charger.parent, phases):
            self.reserved[r] += amps
            self.room[r] -= amps
        self.set_fixed(charger, floor_step(amps), reason)

    def offline_amount(
        self, charger: Charger, state: ChargerState, default: float
    ) -> float:
        """The offline allocation in force at ``charger``."""
        if state.offline_allocation_a is not None:
            return state.offline_allocation_a
        return self.snap.offline_allocations.get(charger.id, default)

    def add_charger(self, charger: Charger) -> None:
        """Classify one charger: reserve, fix at 0 with a reason, or compete."""
        state = self.snap.chargers.get(charger.id) or ChargerState(charger.id)
        if not state.online:
            # Unknown offline allocation: assume the charger may draw its limit.
            self.reserve(
                charger,
                self.offline_amount(charger, state, charger.limit_a),
                Reason.OFFLINE_RESERVED,
            )
            return
        if not state.controllable:
            self.reserve(charger, charger.limit_a, Reason.UNCONTROLLABLE)
            return
        if state.maintenance:
            self.set_fixed(charger, 0.0, Reason.MAINTENANCE)
            return
        stale = self.under_stale(charger.parent)
        cap, cap_reason = charger.limit_a, Reason.CHARGER_MAX
        if stale:
            # Fall back to the offline allocation (unknown: nothing more).
            offline = self.offline_amount(charger, state, 0.0)
            if offline < cap:
                cap, cap_reason = offline, Reason.STALE_METER
        competing = [d for d in self._demands(charger) if d is not None]
        shared: dict[Phase, int] = {}
        if len(competing) > 1:  # circuit sharing: ports split the charger limit
            for ph in self.snap.tree.charger_phases(charger):
                shared[ph] = len(self.room)
                self.charger_cap[len(self.room)] = cap
                self.room.append(cap)
                self.res_reason.append((cap_reason, None))
        for demand in competing:
            self._add_flow(charger, demand, stale, shared, (cap, cap_reason))

    def _demands(self, charger: Charger) -> list[ConnectorDemand | None]:
        """Competing demands of a charger; the rest get their fixed 0 A here."""
        result: list[ConnectorDemand | None] = []
        for conn in charger.connectors:
            demand = self.snap.demands.get((charger.id, conn.id))
            reason = None
            if demand is None or not demand.active:
                reason = Reason.NOT_CHARGING
            elif demand.access_closed:
                reason = Reason.SCOPE_CLOSED
            elif demand.delayed and not demand.charge_now:
                reason = Reason.DELAYED
            if reason is not None:
                phases = self.snap.tree.charger_phases(charger)
                self.fixed[(charger.id, conn.id)] = ConnectorLimit(
                    charger.id, conn.id, 0.0, reason, None, phases
                )
                demand = None
            result.append(demand)
        return result

    def _add_flow(
        self,
        charger: Charger,
        demand: ConnectorDemand,
        stale: bool,
        shared: dict[Phase, int],
        cap: tuple[float, Reason],
    ) -> None:
        """Register a competing connector, or fix it at 0 below its floor."""
        snap = self.snap
        phases = snap.tree.charger_phases(charger)
        if len(phases) == 3 and demand.ev_phases == 1:
            phases = (charger.phase_connection or Phase.L1,)
        bounds: list[tuple[float, Reason]] = []
        if stale:
            previous = snap.previous.limit(*demand.key) if snap.previous else 0.0
            bounds.append((previous, Reason.STALE_METER))
        if demand.ev_max_a is not None:
            bounds.append((demand.ev_max_a, Reason.EV_MAX))
        if not shared:
            bounds.append(cap)
        upper, upper_reason = min(bounds, key=lambda b: b[0]) if bounds else cap
        upper = floor_step(min(upper, cap[0]))
        minimum = charger.min_current_a or snap.energy.min_current_a
        floor = _ceil_step(minimum)
        if upper < floor - EPS:
            self.fixed[demand.key] = ConnectorLimit(
                charger.id, demand.connector_id, 0.0, upper_reason, None, phases
            )
            return
        f = self.flows
        f.keys.append(demand.key)
        circuit = [shared[ph] for ph in phases if ph in shared]
        f.resources.append([*self.path(charger.parent, phases), *circuit])
        f.weights.append(demand.weight or charger.weight)
        f.floors.append(floor)
        f.uppers.append(upper)
        f.upper_reason.append(upper_reason)
        f.phases.append(phases)
        priority = charger.priority if demand.priority is None else demand.priority
        f.candidates.append(
            RotationCandidate(
                demand.key, priority, demand.energy_wh, demand.session_start
            )
        )
