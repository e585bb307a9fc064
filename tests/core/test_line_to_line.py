"""1-phase chargers wired line-to-line (208 V on 208Y/120 V) count on both lines.

Each line of a line pair carries the charger's whole current, so its limit
counts on both lines of every panel above it: in the allocation, in
reservations, in offline sums, in shared circuits and in meter arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from evsite.config.models import (
    Charger,
    ChargerOverrides,
    Connector,
    EnergySettings,
    LinePair,
    MeterConfig,
    MeterKind,
    Panel,
    Phase,
)
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    PanelMeasurement,
    Reason,
    Snapshot,
)
from evsite.core.allocator import allocate
from evsite.core.offline import check_offline, offline_allocations
from evsite.core.plan import SitePlan
from evsite.core.tree import PanelTree

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3
L1_L2, L2_L3 = LinePair.L1_L2, LinePair.L2_L3
METER = MeterConfig(kind=MeterKind.MQTT, topic="m", stale_after_s=3.0)


def board(pid: str, breaker: float, parent: str | None = None, **kw: Any) -> Panel:
    """A 208Y/120 V panel (3-phase unless ``phases=1``)."""
    kw.setdefault("phases", 3)
    return Panel(pid, pid, breaker, voltage=208, parent=parent, **kw)


def charger(cid: str, parent: str, limit: float = 32, **kw: Any) -> Charger:
    ports = kw.pop("ports", 1)
    connectors = tuple(Connector(i + 1) for i in range(ports))
    return Charger(cid, parent, limit, connectors=connectors, **kw)


def run(
    panels: list[Panel], stations: list[Charger], keys: list[str], **kw: Any
) -> Allocation:
    demands = {}
    for key in keys:
        cid, _, port = key.partition("/")
        demand = ConnectorDemand(cid, int(port or 1), active=True, ev_phases=1)
        demands[demand.key] = demand
    tree = PanelTree.build(panels, stations)
    return allocate(Snapshot(tree, EnergySettings(), NOW, demands, **kw))


def test_a_208_v_charger_draws_on_both_lines() -> None:
    # 40 A breaker: 32 A per line. L1 carries a and b; L2 carries a only.
    result = run(
        [board("p", 40)],
        [
            charger("a", "p", phase_connection=L1_L2),
            charger("b", "p", phase_connection=L1),
        ],
        ["a", "b"],
    )
    a, b = result.connectors[("a", 1)], result.connectors[("b", 1)]
    assert (a.limit_a, b.limit_a) == (16.0, 16.0)
    # The EV said it charges on one phase: a line pair stays on both lines.
    assert a.phases == (L1, L2)
    assert result.panels["p"].allocated_a == {L1: 32.0, L2: 16.0, L3: 0.0}


def test_line_pairs_share_the_line_they_have_in_common() -> None:
    # a (L1-L2) and b (L2-L3) meet on L2: 32 A between them, whatever L1 and L3 hold.
    result = run(
        [board("main", 100), board("ev", 40, "main")],
        [
            charger("a", "ev", 40, phase_connection=L1_L2),
            charger("b", "ev", 40, phase_connection=L2_L3),
        ],
        ["a", "b"],
    )
    assert result.limit("a", 1) + result.limit("b", 1) == 32.0
    for pid in ("ev", "main"):
        assert result.panels[pid].allocated_a == {L1: 16.0, L2: 32.0, L3: 16.0}


def test_a_line_pair_panel_limits_both_of_its_lines() -> None:
    # A 1-phase 208 V sub-panel on L2-L3 (40 A: 32 A per line) with a 120 V
    # charger on L3 and a 208 V charger across the pair (its default).
    panels = [board("main", 100), board("wall", 40, "main", phases=1,
                                          phase_connection=L2_L3)]  # fmt: skip
    result = run(
        panels,
        [charger("pair", "wall"), charger("one", "wall", phase_connection=L3)],
        ["pair", "one"],
    )
    assert result.connectors[("pair", 1)].phases == (L2, L3)
    assert (result.limit("pair", 1), result.limit("one", 1)) == (16.0, 16.0)
    assert result.panels["wall"].allocated_a == {L2: 16.0, L3: 32.0}
    assert result.panels["main"].allocated_a == {L1: 0.0, L2: 16.0, L3: 32.0}


def test_an_offline_208_v_charger_reserves_on_both_lines() -> None:
    result = run(
        [board("p", 40)],
        [
            charger("gone", "p", phase_connection=L1_L2),
            charger("x", "p", 32, phase_connection=L2),
            charger("y", "p", 32, phase_connection=L3),
        ],
        ["x", "y"],
        chargers={"gone": ChargerState("gone", online=False, offline_allocation_a=20)},
    )
    assert result.connectors[("gone", 1)].reason is Reason.OFFLINE_RESERVED
    assert result.panels["p"].reserved_a == {L1: 20.0, L2: 20.0, L3: 0.0}
    assert (result.limit("x", 1), result.limit("y", 1)) == (12.0, 32.0)


def test_a_shared_208_v_circuit_splits_its_limit_on_both_lines() -> None:
    result = run(
        [board("p", 100)],
        [charger("d", "p", 32, ports=2, phase_connection=L1_L2)],
        ["d/1", "d/2"],
    )
    assert (result.limit("d", 1), result.limit("d", 2)) == (16.0, 16.0)
    assert result.panels["p"].allocated_a == {L1: 32.0, L2: 32.0, L3: 0.0}


def test_a_metered_panel_takes_back_its_own_208_v_load_on_both_lines() -> None:
    # The meter reads 30 A of background on L3 only; the rest is evsite's own
    # 208 V charger, seen on L1 and L2. Its own load is not background.
    meter = PanelMeasurement(
        "p", {L1: 20.0, L2: 20.0, L3: 30.0}, NOW - timedelta(seconds=1),
        {L1: 20.0, L2: 20.0},
    )  # fmt: skip
    result = run(
        [board("p", 50, meter=METER)],
        [charger("a", "p", 40, phase_connection=L1_L2)],
        ["a"],
        measurements={"p": meter},
    )
    assert result.panels["p"].available_a == {L1: 40.0, L2: 40.0, L3: 10.0}
    assert result.limit("a", 1) == 40.0


def test_offline_defaults_count_on_both_lines() -> None:
    tree = PanelTree.build(
        [board("p", 40)],
        [
            charger("a", "p", phase_connection=L1_L2),
            charger("b", "p", phase_connection=L2_L3),
        ],
    )
    result = offline_allocations(tree, EnergySettings())
    assert result == {"a": 16.0, "b": 16.0}  # L2 carries both: 32 A
    assert check_offline(tree, result) == []
    problems = check_offline(tree, {"a": 16.0, "b": 16.5})
    assert [p.message for p in problems] == [
        "offline allocations under panel 'p' add up to 32.5 A on L2, above its "
        "capacity 32 A"
    ]


def test_a_line_pair_panel_checks_its_lines_separately() -> None:
    # On L2-L3 the two 120 V chargers are on different lines: 20 A each fits.
    sub = board("wall", 30, "main", phases=1, phase_connection=L2_L3)
    tree = PanelTree.build(
        [board("main", 100), sub],
        [
            charger("x", "wall", 20, phase_connection=L2),
            charger("y", "wall", 20, phase_connection=L3),
            charger("z", "wall", 20, overrides=ChargerOverrides(0)),
        ],
    )
    assert check_offline(tree, {"x": 20.0, "y": 20.0, "z": 0.0}) == []
    # z sits across the pair: its 6 A come on top on both lines.
    problems = check_offline(tree, {"x": 20.0, "y": 20.0, "z": 6.0})
    assert len(problems) == 2
    assert "26 A on L2" in problems[0].message
    assert "26 A on L3" in problems[1].message


def test_the_plan_keeps_a_line_pair_on_both_lines_for_a_1_phase_ev() -> None:
    tree = PanelTree.build(
        [board("p", 40)],
        [charger("a", "p", phase_connection=L1_L2), charger("t", "p", phases=3)],
    )
    plans = {cp.charger.id: cp for cp in SitePlan.build(tree).chargers}
    assert plans["a"].phases == plans["a"].one_phase == (L1, L2)
    assert plans["a"].path == plans["a"].one_phase_path
    assert plans["t"].one_phase == (L1,)
