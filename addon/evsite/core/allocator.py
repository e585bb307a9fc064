"""allocate(snapshot) -> Allocation: every connector's limit and reason (SPEC §2.1).

One pass over the whole tree, per phase:
  1. Capacity per panel phase (:mod:`evsite.core.capacity`): limit in force,
     minus unmetered load on metered panels, minus shedding.
  2. Chargers that evsite cannot steer reserve current in every ancestor:
     offline ones their offline allocation (``offline_reserved``), ones that
     reject profiles their full limit (``uncontrollable``).
  3. Every other connector either gets 0 A with a reason (``not_charging``,
     ``maintenance``, ``scope_closed``, ``delayed``, or an upper bound below the
     minimum) or competes: upper bound = min(EV max, charger limit; below a
     stale meter also its previous limit and the charger's offline allocation),
     floor = charger or site minimum current (rounded up to 0.1 A).
  4. Admission (:mod:`evsite.core.rotation`): in priority order, then rotation
     order, each competitor is admitted at its floor where it fits everywhere;
     the others pause (``min_current_rotation``).
  5. Weighted max-min water-filling (:mod:`evsite.core.waterfill`), priority
     class by class (higher first, lower classes keep their floors), over all
     panel phases and shared charger circuits at once.
  6. Limits are rounded down to 0.1 A (OCPP allows one decimal; down so no
     panel phase is exceeded); the reason names what froze each connector.

Invariant (property-tested): per panel phase, Σ limits beneath + reserved ≤
available, unless the reservations alone exceed it (then every controlled
connector beneath gets 0 A). Complexity: O((N·k + R) log(N·k + R)) per
priority class with N connectors, k = phases × (depth + 1), R panel phases.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

from evsite.config.models import Phase
from evsite.core.allocation_model import (
    Allocation,
    ConnectorKey,
    ConnectorLimit,
    PanelAllocation,
    Reason,
    RotationState,
    Snapshot,
)
from evsite.core.flowbuild import STEP_PER_A, FlowBuilder, floor_step
from evsite.core.rotation import admission_order, next_rotation
from evsite.core.waterfill import CAPPED, EPS, admit, fill

__all__ = ["Allocation", "Reason", "Snapshot", "allocate", "floor_step"]


def allocate(snapshot: Snapshot) -> Allocation:
    """Compute every connector's limit for the site at ``snapshot.now``.

    Args:
        snapshot: tree, settings, demands, charger states, measurements, shed
            state, schedule, offline allocations and the previous allocation.

    Returns:
        Limits with reasons, per-panel figures and the new rotation state.

    Raises:
        ValueError: ``snapshot.now`` is naive.
    """
    now = snapshot.now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("snapshot.now must be a timezone-aware datetime")
    build = FlowBuilder(snapshot)
    build.add_all()
    build.finish()
    initial_room = [max(0.0, r) for r in build.room]
    rotation = snapshot.previous.rotation if snapshot.previous else RotationState()
    admitted, blocked, room = _admit(build, rotation, initial_room)
    rates, binding = _fill_by_class(build, admitted, room)
    limits = dict(build.fixed)
    rounded = _competing_limits(
        build,
        limits,
        rates=rates,
        binding=binding,
        blocked=blocked,
        initial_room=initial_room,
    )
    return Allocation(
        computed_at=now,
        connectors=limits,
        panels=_panels(build, rounded, admitted),
        rotation=next_rotation(build.flows.candidates, admitted, rotation, now),
    )


def _admit(
    build: FlowBuilder, rotation: RotationState, initial_room: list[float]
) -> tuple[list[int], dict[int, int], list[float]]:
    """Admit competitors at their floors; order matters only if some do not fit."""
    flows = build.flows
    room = _room_after_all_floors(build, initial_room)
    if room is not None:  # everyone fits: no order, no per-connector checks
        return list(range(len(flows.floors))), {}, room
    room = list(initial_room)
    everyone = range(len(flows.floors))
    admitted, blocked = admit(everyone, flows.resources, flows.floors, room)
    if blocked:  # not everyone fits: admit in priority and rotation order
        room = list(initial_room)
        energy, now = build.snap.energy, build.snap.now
        order = admission_order(
            flows.candidates, rotation, now, energy.rotation_minutes
        )
        admitted, blocked = admit(order, flows.resources, flows.floors, room)
    return admitted, blocked, room


def _room_after_all_floors(
    build: FlowBuilder, initial_room: list[float]
) -> list[float] | None:
    """Room left if every competitor took its floor, or None if that does not fit.

    Floors are summed per distinct path, then spread over the path's resources.
    """
    flows = build.flows
    all_paths = build.plan.paths
    by_path = [0.0] * len(all_paths)
    room = list(initial_room)
    n_panel = build.n_panel_res
    for i, path_id in enumerate(flows.path_ids):
        floor = flows.floors[i]
        by_path[path_id] += floor
        for r in flows.resources[i]:
            if r >= n_panel:  # a shared charger circuit
                room[r] -= floor
    for path_id, total in enumerate(by_path):
        if total:
            for r in all_paths[path_id]:
                room[r] -= total
    return room if min(room, default=0.0) >= -EPS else None


def _fill_by_class(
    build: FlowBuilder, admitted: list[int], room: list[float]
) -> tuple[dict[int, float], dict[int, int]]:
    """Water-fill priority classes, highest first; lower classes keep their floors."""
    flows = build.flows
    classes: dict[int, list[int]] = defaultdict(list)
    for i in admitted:
        classes[flows.candidates.priority[i]].append(i)
    rates: dict[int, float] = {}
    binding: dict[int, int] = {}
    for priority in sorted(classes, reverse=True):
        got, why = fill(classes[priority], flows, room, floors_taken=True)
        rates.update(got)
        binding.update(why)
    return rates, binding


def _competing_limits(
    build: FlowBuilder,
    limits: dict[ConnectorKey, ConnectorLimit],
    *,
    rates: dict[int, float],
    binding: dict[int, int],
    blocked: dict[int, int],
    initial_room: list[float],
) -> list[float]:
    """Round the competing connectors' rates down and name what binds each.

    Returns:
        The rounded limit of every competing connector, by flow index.
    """
    flows = build.flows
    res_reason, n_panel, floors = build.res_reason, build.n_panel_res, flows.floors
    rounded: list[float] = []
    floor, step = math.floor, STEP_PER_A
    for i, key in enumerate(flows.candidates.keys):
        panel_id = None
        if i in blocked:
            r = blocked[i]
            limit = 0.0
            if initial_room[r] >= floors[i] - EPS:
                reason = Reason.MIN_CURRENT_ROTATION  # fits alone: others came first
            else:
                reason, panel_id = res_reason[r]
        else:
            limit = max(floors[i], floor(rates[i] * step + 1e-7) / step)
            r = binding[i]
            if r == CAPPED:
                reason = flows.upper_reason[i]
            else:
                reason, panel_id = res_reason[r]
                # A shared circuit: less than the charger limit is a fair share.
                shared = r >= n_panel and reason is Reason.CHARGER_MAX
                if shared and limit < build.charger_cap[r] - EPS:
                    reason = Reason.FAIR_SHARE
        limits[key] = build.limit_of(key, limit, reason, panel_id, flows.phases[i])
        rounded.append(limit)
    return rounded


def _panels(
    build: FlowBuilder, rounded: list[float], admitted: list[int]
) -> dict[str, PanelAllocation]:
    """Per-panel, per-phase capacity, available, allocated, reserved and measured."""
    allocated = [0.0] * build.n_panel_res
    flows = build.flows
    # Sum per distinct path first: many connectors share a path.
    all_paths = build.plan.paths
    by_path = [0.0] * len(all_paths)
    path_ids = flows.path_ids
    for i in admitted:
        by_path[path_ids[i]] += rounded[i]
    for path_id, amps in enumerate(by_path):
        if amps:
            for r in all_paths[path_id]:
                allocated[r] += amps
    result: dict[str, PanelAllocation] = {}
    for pid, cap in build.caps.items():
        index = build.plan.index[pid]
        result[pid] = PanelAllocation(
            panel_id=pid,
            capacity_a=dict.fromkeys(cap.phases, cap.capacity_a),
            available_a=dict(cap.available_a),
            allocated_a=_per_phase(index, allocated),
            reserved_a=_per_phase(index, build.reserved),
            measured_a=cap.measured_a,
            stale=cap.stale,
            shed=cap.shed,
        )
    return result


def _per_phase(index: Mapping[Phase, int], values: list[float]) -> dict[Phase, float]:
    return {ph: round(values[r], 3) for ph, r in index.items()}
