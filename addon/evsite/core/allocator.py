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

Connectors the engine cannot tell apart are carried as one merged flow with
a count (:mod:`evsite.core.flowbuild`); they get equal limits by symmetry.

The per-connector and per-flow loops of every step also exist compiled
(:mod:`evsite.core.native`), bit-identical to the Python ones here, which
stay the specification; each dispatches on ``native.NATIVE``.

Invariant (property-tested): per panel phase, Σ limits beneath + reserved ≤
available, unless the reservations alone exceed it (then every controlled
connector beneath gets 0 A). Complexity: O(N) to classify and label N
connectors, plus O((F·k + R) log(F + R)) per priority class for the
water-filling of F merged flows, k = phases × (depth + 1), R panel phases.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from evsite.config.models import Phase
from evsite.core import native
from evsite.core.allocation_model import (
    Allocation,
    ConnectorKey,
    ConnectorLimit,
    PanelAllocation,
    Reason,
    RotationState,
    Snapshot,
    new_limit,
    new_panel_allocation,
)
from evsite.core.flowbuild import STEP_PER_A, FlowBuilder, floor_step
from evsite.core.rotation import (
    EPOCH,
    Candidates,
    admission_order,
    rotate,
    slot_start,
)
from evsite.core.waterfill import CAPPED, EPS, FlowTable, admit, fill_into

__all__ = ["Allocation", "Reason", "Snapshot", "allocate", "floor_step"]

FlowLimit = tuple[float, Reason, str | None, tuple[Phase, ...]]
"""A merged flow's rounded limit, reason, binding panel and phases."""

_UNUSED: FlowLimit = (0.0, Reason.MIN_CURRENT_ROTATION, None, ())
"""Stands for a flow none of whose connectors was admitted (never read)."""


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
    counts, blocked, room = _admit(build, rotation, initial_room)
    per_flow = _fill_and_round(build, counts, room)
    limits = build.fixed  # the builder's own dict: fixed connectors first
    _competing_limits(build, limits, per_flow, blocked, initial_room)
    return Allocation(
        computed_at=now,
        connectors=limits,
        panels=_panels(build, per_flow, counts),
        rotation=rotate(build.flows.keys, blocked, rotation, now),
    )


def _admit(
    build: FlowBuilder, rotation: RotationState, initial_room: list[float]
) -> tuple[list[int], dict[int, int], list[float]]:
    """Admit competitors at their floors; order matters only if some do not fit.

    Returns:
        Admitted connectors per flow, the blocking resource of every refused
        connector (by connector index), and the room left.
    """
    flows = build.flows
    room = _room_after_floors(build, initial_room, flows.counts)
    tight = {r for r, left in enumerate(room) if left < -EPS}
    if not tight:  # everyone fits: no order, no per-connector checks
        return flows.counts, {}, room
    # Not everyone fits: admit connector by connector, in priority and
    # rotation order; connectors of one flow may end up on either side. Only
    # the resources that all floors overfill can refuse anyone, so only they
    # are checked and taken here; the room left is summed per flow after.
    energy, now = build.snap.energy, build.snap.now
    compiled = native.NATIVE
    if compiled is not None:  # the same order and admission in C (native.py)
        order: list[int] = compiled.admission_order(
            flows.keys,
            flows.flow_of,
            flows.priority,
            build.snap.demands,
            rotation.entries,
            slot_start(now, energy.rotation_minutes),
            now,
            EPOCH,
        )
        counts, blocked = compiled.admit_connectors(
            order, flows.flow_of, flows.resources, room, flows.floors, initial_room
        )
        return counts, blocked, _room_after_floors(build, initial_room, counts)
    demands = [build.snap.demands[key] for key in flows.keys]
    cands = Candidates(
        keys=flows.keys,
        priority=[flows.priority[f] for f in flows.flow_of],
        energy_wh=[d.energy_wh for d in demands],
        session_start=[d.session_start for d in demands],
    )
    order = admission_order(cands, rotation, now, energy.rotation_minutes)
    by_res: dict[int, tuple[int, ...]] = {}
    checked = []  # per flow: its tight resources, in path order
    for res in flows.resources:
        kept = by_res.get(id(res))
        if kept is None:
            kept = by_res[id(res)] = tuple(filter(tight.__contains__, res))
        checked.append(kept)
    resources = [checked[f] for f in flows.flow_of]
    floors = [flows.floors[f] for f in flows.flow_of]
    admitted, blocked = admit(order, resources, floors, list(initial_room))
    counts = [0] * len(flows.counts)
    flow_of = flows.flow_of
    for j in admitted:
        counts[flow_of[j]] += 1
    return counts, blocked, _room_after_floors(build, initial_room, counts)


def _room_after_floors(
    build: FlowBuilder, initial_room: list[float], counts: list[int]
) -> list[float]:
    """Room left once ``counts[f]`` connectors of every flow ``f`` take their floor.

    Floors are summed per distinct path, then spread over the path's resources.
    """
    flows = build.flows
    compiled = native.NATIVE
    if compiled is not None:  # the same loop in C, bit-identical (native.py)
        left: list[float] = compiled.room_after_floors(
            flows.path_ids,
            flows.floors,
            counts,
            flows.circuits,
            build.plan.paths,
            initial_room,
        )
        return left
    all_paths = build.plan.paths
    by_path = [0.0] * len(all_paths)
    room = list(initial_room)
    for path_id, floor, count, circuit in zip(
        flows.path_ids, flows.floors, counts, flows.circuits, strict=True
    ):
        amount = floor * count
        by_path[path_id] += amount
        for r in circuit:  # a shared charger circuit
            room[r] -= amount
    for path_id, total in enumerate(by_path):
        if total:
            for r in all_paths[path_id]:
                room[r] -= total
    return room


def _fill_and_round(
    build: FlowBuilder, counts: list[int], room: list[float]
) -> list[FlowLimit]:
    """Water-fill every class, then round and label each flow's rate."""
    compiled = native.NATIVE
    if compiled is None:
        rates, binding = _fill_by_class(build, counts, room)
        return _flow_limits(build, counts, rates, binding)
    flows = build.flows  # the same two passes in C, bit-identical (native.py)
    per_flow: list[FlowLimit] = compiled.fill_flows(
        flows.resources,
        flows.weights,
        flows.floors,
        flows.uppers,
        flows.priority,
        counts,
        room,
        flows.upper_reason,
        flows.phases,
        build.res_reason,
        build.n_panel_res,
        build.charger_cap,
        Reason.CHARGER_MAX,
        Reason.FAIR_SHARE,
        _UNUSED,
    )
    return per_flow


def _fill_by_class(
    build: FlowBuilder, counts: list[int], room: list[float]
) -> tuple[list[float], list[int]]:
    """Water-fill priority classes, highest first; lower classes keep their floors.

    Returns:
        Per flow its rate and binding (meaningful for flows with a count).
    """
    table, engine_of, priority = _engine_flows(build, counts)
    n = len(table.counts)
    rates, binding = [0.0] * (n or 1), [CAPPED] * (n or 1)
    admitted = [e for e, count in enumerate(table.counts) if count]
    first = priority[0] if n else 0
    if all(p == first for p in priority):  # one class (the usual case)
        fill_into(admitted, table, room, rates, binding, floors_taken=True)
    else:
        classes: dict[int, list[int]] = defaultdict(list)
        for e in admitted:
            classes[priority[e]].append(e)
        for prio in sorted(classes, reverse=True):
            fill_into(classes[prio], table, room, rates, binding, floors_taken=True)
    return [rates[e] for e in engine_of], [binding[e] for e in engine_of]


def _engine_flows(
    build: FlowBuilder, counts: list[int]
) -> tuple[FlowTable, list[int], list[int]]:
    """Merge flows the engine cannot tell apart (labels aside).

    Flows that differ only in their labels (path below the panels that can
    bind, reason of the upper bound) share resources, weight, floor, bound
    and class, so they get one rate.

    Returns:
        The engine's table (``counts``: admitted connectors), each flow's
        engine flow, and each engine flow's priority.
    """
    flows = build.flows
    table = FlowTable()
    priority: list[int] = []
    index: dict[tuple[int, float, float, float, int], int] = {}
    engine_of: list[int] = []
    e_counts = table.counts
    keys = zip(
        map(id, flows.resources),
        flows.weights,
        flows.floors,
        flows.uppers,
        flows.priority,
        strict=True,
    )
    for fid, key in enumerate(keys):
        e = index.get(key)
        if e is None:
            e = index[key] = len(priority)
            table.resources.append(flows.resources[fid])
            table.weights.append(key[1])
            table.floors.append(key[2])
            table.uppers.append(key[3])
            e_counts.append(counts[fid])
            priority.append(key[4])
        else:
            e_counts[e] += counts[fid]
        engine_of.append(e)
    return table, engine_of, priority


def _flow_limits(
    build: FlowBuilder,
    counts: list[int],
    rates: list[float],
    binding: list[int],
) -> list[FlowLimit]:
    """Round each admitted flow's rate down to 0.1 A and name what binds it."""
    flows = build.flows
    res_reason, n_panel = build.res_reason, build.n_panel_res
    floor, step = math.floor, STEP_PER_A
    result: list[FlowLimit] = []
    for fid, count in enumerate(counts):
        if not count:
            result.append(_UNUSED)
            continue
        limit = floor(rates[fid] * step + 1e-7) / step
        if limit < flows.floors[fid]:  # noqa: PLR1730 (a branch beats a max() call)
            limit = flows.floors[fid]
        r = binding[fid]
        if r == CAPPED:
            reason, panel_id = flows.upper_reason[fid], None
        else:
            reason, panel_id = res_reason[r]
            # A shared circuit: less than the charger limit is a fair share.
            shared = r >= n_panel and reason is Reason.CHARGER_MAX
            if shared and limit < build.charger_cap[r] - EPS:
                reason = Reason.FAIR_SHARE
        result.append((limit, reason, panel_id, flows.phases[fid]))
    return result


def _competing_limits(
    build: FlowBuilder,
    limits: dict[ConnectorKey, ConnectorLimit],
    per_flow: list[FlowLimit],
    blocked: dict[int, int],
    initial_room: list[float],
) -> None:
    """Give every competing connector its flow's limit (0 A if refused)."""
    flows = build.flows
    compiled = native.NATIVE
    if compiled is not None:  # the same loop in C, bit-identical (native.py)
        compiled.connector_limits(
            flows.keys,
            per_flow,
            flows.flow_of,
            build.before,
            limits,
            ConnectorLimit,  # C fills a new value's slots as new_limit does
            blocked,
            initial_room,
            flows.floors,
            flows.phases,
            build.res_reason,
            Reason.MIN_CURRENT_ROTATION,
        )
        return
    get = build.before.get
    outs: Iterable[FlowLimit] = map(per_flow.__getitem__, flows.flow_of)
    if blocked:
        outs = [
            _refused(build, blocked[j], fid, initial_room) if j in blocked else out
            for j, (fid, out) in enumerate(zip(flows.flow_of, outs, strict=True))
        ]
    for key, (limit, reason, panel_id, phases) in zip(flows.keys, outs, strict=True):
        old = get(key)  # reuse the previous object when nothing changed
        if (
            old is not None
            and old.limit_a == limit
            and old.reason is reason
            and old.panel_id == panel_id
            and old.phases == phases
        ):
            limits[key] = old
        else:
            limits[key] = new_limit(key[0], key[1], limit, reason, panel_id, phases)


def _refused(
    build: FlowBuilder, r: int, fid: int, initial_room: list[float]
) -> FlowLimit:
    """0 A for a connector refused at resource ``r``, and why."""
    flows = build.flows
    if initial_room[r] >= flows.floors[fid] - EPS:
        # It would fit alone: others came first (priority, rotation).
        return 0.0, Reason.MIN_CURRENT_ROTATION, None, flows.phases[fid]
    reason, panel_id = build.res_reason[r]
    return 0.0, reason, panel_id, flows.phases[fid]


def _panels(
    build: FlowBuilder, per_flow: list[FlowLimit], counts: list[int]
) -> dict[str, PanelAllocation]:
    """Per-panel, per-phase capacity, available, allocated, reserved and measured."""
    all_paths = build.plan.paths
    index, plain, reserved = build.plan.index, build.plan.plain, build.reserved
    compiled = native.NATIVE
    if compiled is not None:  # the same sums and loop in C (native.py)
        allocated = compiled.panel_sums(
            build.flows.path_ids, per_flow, counts, all_paths, build.n_panel_res
        )
        figures: dict[str, PanelAllocation] = compiled.panel_figures(
            build.caps, index, plain, allocated, reserved, new_panel_allocation
        )
        return figures
    allocated = [0.0] * build.n_panel_res
    # Sum per distinct path first: many connectors share a path.
    by_path = [0.0] * len(all_paths)
    for path_id, out, count in zip(build.flows.path_ids, per_flow, counts, strict=True):
        by_path[path_id] += out[0] * count  # an unused flow has a count of 0
    for path_id, amps in enumerate(by_path):
        if amps:
            for r in all_paths[path_id]:
                allocated[r] += amps
    result: dict[str, PanelAllocation] = {}
    for pid, cap in build.caps.items():
        by_phase = index[pid]
        # A plain panel's figures are the plan's own read-only mappings.
        available = cap.available_a
        capacity = (
            available
            if cap is plain[pid]
            else dict.fromkeys(cap.phases, cap.capacity_a)
        )
        result[pid] = new_panel_allocation(
            pid,
            capacity,
            available if cap is plain[pid] else dict(available),
            {ph: round(allocated[r], 3) for ph, r in by_phase.items()},
            {ph: round(reserved[r], 3) for ph, r in by_phase.items()},
            cap.measured_a,
            cap.stale,
            cap.shed,
        )
    return result
