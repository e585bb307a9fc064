"""Site plan: resource numbering and charger paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evsite.config.models import (
    Charger,
    EnergySettings,
    MeterConfig,
    MeterKind,
    Panel,
    Phase,
)
from evsite.core.allocation_model import PanelMeasurement, Reason, Snapshot
from evsite.core.capacity import is_stale, panel_capacities
from evsite.core.plan import SitePlan, plan_for
from evsite.core.shedding import ShedState
from evsite.core.tree import PanelTree

L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3


def test_numbering_children_first_and_paths() -> None:
    tree = PanelTree.build(
        [
            Panel("main", "main", 100, 3, 400),
            Panel("sub", "sub", 40, 3, 400, parent="main"),
            Panel("one", "one", 32, 1, 230, parent="sub", phase_connection=L2),
        ],
        [
            Charger("t", "sub", 32, phases=3),
            Charger("s", "one", 16),
            Charger("x", "main", 16, phase_connection=L3),
        ],
    )
    plan = SitePlan.build(tree)
    assert plan.panel_order == ("one", "sub", "main")
    assert plan.index == {
        "one": {L2: 0},
        "sub": {L1: 1, L2: 2, L3: 3},
        "main": {L1: 4, L2: 5, L3: 6},
    }
    assert plan.n_panel_resources == 7
    by_id = {cp.charger.id: cp for cp in plan.chargers}
    assert plan.paths[by_id["t"].path] == (1, 2, 3, 4, 5, 6)
    assert by_id["t"].one_phase == (L1,)
    assert plan.paths[by_id["t"].one_phase_path] == (1, 4)
    assert by_id["s"].phases == (L2,)
    assert plan.paths[by_id["s"].path] == (0, 2, 5)
    assert plan.paths[by_id["x"].path] == (6,)
    assert by_id["x"].keys == (("x", 1),)


def test_three_phase_load_on_a_single_phase_panel_counts_three_times() -> None:
    tree = PanelTree.build(
        [Panel("p", "p", 40, 1, 230)], [Charger("t", "p", 16, phases=3)]
    )
    plan = SitePlan.build(tree)
    assert plan.paths[plan.chargers[0].path] == (0, 0, 0)


NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
METERED = Panel(
    "p", "p", 40, 1, 230, meter=MeterConfig(MeterKind.MQTT, stale_after_s=3)
)


@pytest.mark.parametrize(
    ("panel", "age_s", "stale"),
    [
        (Panel("p", "p", 40, 1, 230), None, False),
        (METERED, None, True),
        (METERED, 0.0, False),
        (METERED, 3.0, False),
        (METERED, 3.5, True),
        (METERED, -3.5, True),
    ],
)
def test_is_stale(panel: Panel, age_s: float | None, stale: bool) -> None:
    sample = None
    if age_s is not None:
        sample = PanelMeasurement("p", {L1: 1.0}, NOW - timedelta(seconds=age_s))
    assert is_stale(panel, sample, NOW) is stale


def test_plan_for_memoises_by_tree_identity() -> None:
    def tree() -> PanelTree:
        return PanelTree.build([Panel("p", "p", 40, 1, 230)], [Charger("a", "p", 16)])

    first = tree()
    assert plan_for(first) is plan_for(first)
    twin = tree()  # equal content, another object: its own plan
    assert plan_for(twin) is not plan_for(first)
    assert plan_for(twin).tree is twin
    others = [tree() for _ in range(5)]
    plans = [plan_for(t) for t in others]  # pushes ``first`` out of the memo
    assert all(p.tree is t for p, t in zip(plans, others, strict=True))
    again = plan_for(first)
    assert again.tree is first
    assert again.paths == plans[0].paths


def test_rows_path_phases_and_plain_capacities() -> None:
    tree = PanelTree.build(
        [
            Panel("main", "main", 100, 3, 400),
            Panel("sub", "sub", 40, 3, 400, parent="main"),
        ],
        [
            Charger("t", "sub", 32, phases=3, weight=2.0, priority=1),
            Charger("s", "main", 16, phase_connection=L3, min_current_a=8),
        ],
    )
    plan = SitePlan.build(tree)
    t, s = plan.rows
    assert (t[0], t[1], t[2], t[4], t[5], t[6]) == ("t", (("t", 1),), 32, 2.0, 1, "sub")
    assert t[3] is None
    assert (t[9], t[10]) == ((L1, L2, L3), (L1,))
    assert plan.path_phases[t[7]] == (L1, L2, L3)
    assert plan.path_phases[t[8]] == (L1,)
    assert (s[0], s[2], s[3], s[4], s[5], s[6]) == ("s", 16, 8, 1.0, 0, "main")
    assert s[7] == s[8]  # a 1-phase charger has one path
    assert plan.path_phases[s[7]] == (L3,)
    for pid, cap in plan.plain.items():
        assert cap.available_a == dict.fromkeys(tree.panel_phases(pid), cap.capacity_a)
        assert not cap.stale
        assert not cap.shed
        assert cap.measured_a is None
    assert plan.plain["sub"].capacity_a == tree.panels["sub"].capacity_a
    # Per resource, in numbering order: the plain room and the panel reason.
    assert len(plan.plain_room) == len(plan.plain_reasons) == plan.n_panel_resources
    for pid, by_phase in plan.index.items():
        for ph, r in by_phase.items():
            assert plan.plain_room[r] == plan.plain[pid].available_a[ph]
            assert plan.plain_reasons[r] == (Reason.PANEL, pid)


def test_panel_capacities_reuse_the_plain_object_only_when_nothing_applies() -> None:
    tree = PanelTree.build(
        [
            Panel("main", "main", 100, 3, 400, meter=METERED.meter),
            Panel("a", "a", 40, 3, 400, parent="main"),
            Panel("b", "b", 40, 3, 400, parent="main"),
            Panel("c", "c", 40, 3, 400, parent="main"),
            Panel("d", "d", 40, 3, 400, parent="main"),
        ],
        [],
    )
    plan = SitePlan.build(tree)
    sample = PanelMeasurement("d", dict.fromkeys((L1, L2, L3), 10.0), NOW)
    snap = Snapshot(
        tree,
        EnergySettings(),
        NOW,
        measurements={"d": sample},
        scheduled_limits_a={"b": 20.0},
        shedding={"c": ShedState("c", active=True)},
    )
    caps = panel_capacities(snap, plan.plain)
    assert caps["a"] is plan.plain["a"]
    for pid in ("main", "b", "c", "d"):
        assert caps[pid] is not plan.plain[pid]
    assert caps == panel_capacities(snap)  # the same figures either way
    assert caps["b"].available_a[L1] == 20.0
    # A sample counts even without a meter.
    assert caps["d"].available_a[L1] == tree.panels["d"].capacity_a - 10.0
