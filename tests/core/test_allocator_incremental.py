"""What one allocation reuses from the previous one never changes a result.

``allocate`` keeps per-charger classifications and per-flow limits of the
previous cycle (``Allocation.memo``). Over random sites and random sequences
of changes (demands, charger states, meters, schedules, shedding, the site
minimum current, a new plan or a new tree), every incremental allocation
must equal one computed from scratch from the same inputs (the same previous
limits and rotation state, without the memo).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import timedelta
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsite.config.models import Charger, EnergySettings, Panel, Phase
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    ConnectorLimit,
    Reason,
    Snapshot,
    new_limit,
)
from evsite.core.allocator import allocate
from evsite.core.flowbuild import CycleMemo
from evsite.core.offline import offline_allocations
from evsite.core.plan import SitePlan
from evsite.core.shedding import ShedState
from evsite.core.tree import PanelTree
from tests.core.test_allocator_properties import NOW, measurements_for, trees

CHANGES = (
    *("demands", "demands", "none", "state", "schedule"),
    *("shed", "minimum", "plan", "tree"),
)


def _demand(draw: st.DrawFn, key: tuple[str, int]) -> ConnectorDemand:
    return ConnectorDemand(
        key[0],
        key[1],
        active=draw(st.integers(0, 4)) > 0,
        ev_max_a=draw(st.one_of(st.none(), st.sampled_from([4.0, 10.0, 16.0, 32.0]))),
        ev_phases=draw(st.sampled_from([None, 1, 3])),
        energy_wh=draw(st.integers(0, 50_000)),
        delayed=draw(st.integers(0, 9)) == 0,
        charge_now=draw(st.booleans()),
        access_closed=draw(st.integers(0, 19)) == 0,
        priority=draw(st.sampled_from([None, None, None, 0, 2])),
        weight=draw(st.sampled_from([None, None, None, 2.0])),
    )


def _state(draw: st.DrawFn, cid: str) -> ChargerState | None:
    roll = draw(st.integers(0, 11))
    if roll == 0:
        return ChargerState(cid, online=False)
    if roll == 1:
        return ChargerState(cid, controllable=False)
    if roll == 2:
        return ChargerState(cid, maintenance=True)
    if roll == 3:
        return ChargerState(cid, offline_allocation_a=draw(st.sampled_from([0.0, 6.0])))
    return None


def _resized(tree: PanelTree, factor: float) -> PanelTree:
    """The same site with every breaker scaled (a configuration change)."""
    panels = [
        replace(p, breaker_a=max(1, round(p.breaker_a * factor)))
        for p in tree.panels.values()
    ]
    chargers: list[Charger] = list(tree.chargers.values())
    return PanelTree.build(panels, chargers)


def _fresh(snap: Snapshot) -> Allocation:
    """The allocation from scratch: the previous values, not its memo."""
    previous = snap.previous
    if previous is not None:
        previous = replace(previous, memo=None)
    return allocate(replace(snap, previous=previous))


def _same(incremental: Allocation, fresh: Allocation) -> None:
    assert incremental.connectors == fresh.connectors
    assert incremental.panels == fresh.panels
    assert incremental.rotation == fresh.rotation


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tree=trees(max_chargers=10), data=st.data())
def test_incremental_equals_fresh_over_random_changes(
    tree: PanelTree, data: st.DataObject
) -> None:
    draw = cast(st.DrawFn, data.draw)  # the same call, typed as DrawFn
    energy = EnergySettings(min_current_a=6.0)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: _demand(draw, key) for key in keys}
    states: dict[str, ChargerState] = {}
    plan = SitePlan.build(tree)
    scheduled: dict[str, float] = {}
    shedding: dict[str, ShedState] = {}
    previous: Allocation | None = None
    for step in range(draw(st.integers(2, 8))):
        now = NOW + timedelta(minutes=5 * step)
        change = draw(st.sampled_from(CHANGES))
        if change == "demands" and keys:
            for key in draw(st.lists(st.sampled_from(keys), max_size=3)):
                demands[key] = _demand(draw, key)
        elif change == "state" and tree.chargers:
            cid = draw(st.sampled_from(sorted(tree.chargers)))
            new_state = _state(draw, cid)
            if new_state is None:
                states.pop(cid, None)
            else:
                states[cid] = new_state
        elif change == "schedule":
            pid = draw(st.sampled_from(sorted(tree.panels)))
            scheduled = {pid: float(draw(st.integers(0, 100)))}
        elif change == "shed":
            pid = draw(st.sampled_from(sorted(tree.panels)))
            shedding = {pid: ShedState(pid, active=True, since=now)}
        elif change == "minimum":
            energy = EnergySettings(min_current_a=draw(st.sampled_from([6.0, 8.0])))
        elif change == "plan":
            plan = SitePlan.build(tree)  # same tree, a new plan object
        elif change == "tree":
            tree = _resized(tree, draw(st.sampled_from([0.5, 2.0])))
            plan = SitePlan.build(tree)
        snap = Snapshot(
            tree,
            energy,
            now,
            dict(demands),
            chargers=dict(states),
            measurements=measurements_for(draw, tree, now, False),
            offline_allocations=offline_allocations(tree, energy),
            scheduled_limits_a=scheduled,
            shedding=shedding,
            previous=previous,
            plan=plan,
        )
        result = allocate(snap)
        _same(result, _fresh(snap))
        previous = result


def _site() -> tuple[PanelTree, dict[Any, ConnectorDemand]]:
    panels = [
        Panel("main", "main", 40, 3, 400),
        Panel("sub", "sub", 25, 3, 400, "main"),
    ]
    chargers = [
        Charger("a", "main", 32),
        Charger("b", "sub", 32),
        Charger("c", "sub", 16, phases=1),
    ]
    tree = PanelTree.build(panels, chargers)
    demands = {
        (cid, 1): ConnectorDemand(cid, 1, active=True, ev_max_a=32.0)
        for cid in ("a", "b", "c")
    }
    return tree, demands


def _memo(result: Allocation) -> CycleMemo:
    assert isinstance(result.memo, CycleMemo)
    return result.memo


def test_unchanged_chargers_reuse_their_classification() -> None:
    tree, demands = _site()
    energy = EnergySettings()
    first = allocate(Snapshot(tree, energy, NOW, demands))
    demands[("b", 1)] = ConnectorDemand("b", 1, active=True, ev_max_a=10.0)
    snap = Snapshot(tree, energy, NOW + timedelta(seconds=1), demands, previous=first)
    second = allocate(snap)
    rows = [row[0] for row in _memo(second).plan.rows]
    before, after = _memo(first).rows, _memo(second).rows
    assert after[rows.index("a")] is before[rows.index("a")]  # reused
    assert after[rows.index("b")] is not before[rows.index("b")]  # demand changed
    assert second.connectors[("a", 1)] is first.connectors[("a", 1)]
    _same(second, _fresh(snap))


def test_a_new_plan_or_minimum_starts_from_scratch() -> None:
    tree, demands = _site()
    energy = EnergySettings()
    first = allocate(Snapshot(tree, energy, NOW, demands))
    later = NOW + timedelta(seconds=1)
    for snap in (
        Snapshot(
            tree, energy, later, demands, previous=first, plan=SitePlan.build(tree)
        ),
        Snapshot(
            tree, EnergySettings(min_current_a=8.0), later, demands, previous=first
        ),
        # The previous allocation's limits replaced: its memo no longer applies.
        Snapshot(
            tree,
            energy,
            later,
            demands,
            previous=replace(first, connectors=dict(first.connectors)),
        ),
    ):
        result = allocate(snap)
        before, after = _memo(first).rows, _memo(result).rows
        assert all(a is not b for a, b in zip(after, before, strict=True))
        _same(result, _fresh(snap))


@given(
    limit=st.floats(0, 80),
    reason=st.sampled_from(list(Reason)),
    panel=st.one_of(st.none(), st.text(max_size=3)),
    phases=st.sampled_from([(), (Phase.L1,), (Phase.L1, Phase.L2), tuple(Phase)]),
)
def test_new_limit_is_the_dataclass_value(
    limit: float, reason: Reason, panel: str | None, phases: tuple[Phase, ...]
) -> None:
    made = new_limit("c", 2, limit, reason, panel, phases)
    assert made == ConnectorLimit("c", 2, limit, reason, panel, phases)
    assert hash(made) == hash(ConnectorLimit("c", 2, limit, reason, panel, phases))
    assert repr(made) == repr(ConnectorLimit("c", 2, limit, reason, panel, phases))
    with pytest.raises(FrozenInstanceError):
        made.limit_a = 1.0  # type: ignore[misc]


def test_classifications_are_not_kept_while_every_demand_changes() -> None:
    tree, demands = _site()
    energy = EnergySettings()
    previous = allocate(Snapshot(tree, energy, NOW, demands))
    kept = []
    for step in range(1, 13):
        demands = {
            key: ConnectorDemand(*key, active=True, ev_max_a=10.0 + step % 3)
            for key in demands
        }
        snap = Snapshot(
            tree, energy, NOW + timedelta(seconds=step), demands, previous=previous
        )
        previous = allocate(snap)
        _same(previous, _fresh(snap))
        kept.append(_memo(previous).rows is not None)
    # Nothing reused in the cycle after one that kept them: none kept for
    # eight cycles, then kept once (a probe), reused by nobody, paused again.
    assert kept == [False] * 8 + [True, False, False, False]
