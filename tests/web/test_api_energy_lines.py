"""`GET /allocation` panel figures: one number per line a panel carries."""

from __future__ import annotations

from datetime import UTC, datetime

from evsite.config.models import Charger, EnergySettings, LinePair, Panel, Phase
from evsite.core.allocation_model import ConnectorDemand, Snapshot
from evsite.core.allocator import allocate
from evsite.core.tree import PanelTree
from evsite.web.api_energy import _panel

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_panel_fed_by_a_line_pair_shows_both_of_its_lines() -> None:
    tree = PanelTree.build(
        [
            Panel("main", "main", 100, 3, 208),
            Panel("wall", "wall", 40, 1, 208, "main", LinePair.L3_L1),
            Panel("one", "one", 20, 1, 120, "main", Phase.L2),
        ],
        [Charger("w", "wall", 24), Charger("o", "one", 16)],
    )
    demands = {(c, 1): ConnectorDemand(c, 1, active=True) for c in ("w", "o")}
    result = allocate(Snapshot(tree, EnergySettings(), NOW, demands))
    wall = _panel(result.panels["wall"], None)
    assert wall["phases"] == ["L1", "L3"]
    assert wall["capacity_a"] == {"L1": 32.0, "L3": 32.0}
    assert wall["allocated_a"] == {"L1": 24.0, "L3": 24.0}
    one = _panel(result.panels["one"], None)  # one line: a number, as before
    assert (one["phases"], one["capacity_a"], one["allocated_a"]) == (
        ["L2"],
        16.0,
        16.0,
    )
