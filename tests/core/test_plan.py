"""Site plan: resource numbering and charger paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evsite.config.models import Charger, MeterConfig, MeterKind, Panel, Phase
from evsite.core.allocation_model import PanelMeasurement
from evsite.core.capacity import is_stale
from evsite.core.plan import SitePlan, plan_for
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
