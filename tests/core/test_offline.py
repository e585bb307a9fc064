"""Offline allocations: safe defaults, overrides and the invariant (SPEC §2.3)."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from evsite.config.models import (
    Charger,
    ChargerOverrides,
    Connector,
    EnergySettings,
    MeterConfig,
    MeterKind,
    Panel,
    Phase,
    ScheduledLimit,
    TimeWindow,
)
from evsite.core.offline import (
    check_offline,
    check_override,
    explicit_offline,
    offline_allocations,
)
from evsite.core.tree import PanelTree

L1, L2 = Phase.L1, Phase.L2


def panel(
    pid: str, breaker: float, parent: str | None = None, phases: int = 1
) -> Panel:
    return Panel(pid, pid, breaker, phases, 230, parent=parent)


def charger(
    cid: str, parent: str, limit: float = 32, offline: float | None = None, **kw: Any
) -> Charger:
    return Charger(
        cid,
        parent,
        limit,
        overrides=ChargerOverrides(offline_allocation_a=offline),
        **kw,
    )


def test_defaults_are_fair_shares_of_every_ancestor() -> None:
    tree = PanelTree.build(
        [panel("main", 100), panel("a", 40, "main"), panel("b", 100, "main")],
        [
            charger("a1", "a"),
            charger("a2", "a"),
            charger("b1", "b", 80),
            charger("b2", "b", 20),
        ],
    )
    result = offline_allocations(tree, EnergySettings())
    # a: 32 A for two; main: 80 A, so b's two share 80 - 32 = 48 -> 20 (limit) + 28.
    assert result == {"a1": 16.0, "a2": 16.0, "b1": 28.0, "b2": 20.0}
    assert check_offline(tree, result) == []


def test_overrides_and_site_default_come_first() -> None:
    tree = PanelTree.build(
        [panel("main", 50)],
        [
            charger("x", "main", offline=20),
            charger("y", "main", 8),
            charger("z", "main"),
        ],
    )
    energy = EnergySettings(offline_allocation_a=10)
    assert explicit_offline(tree, energy) == {"x": 20, "y": 8, "z": 10}
    assert offline_allocations(tree, energy) == {"x": 20, "y": 8, "z": 10}
    assert explicit_offline(tree, EnergySettings()) == {"x": 20}
    # Without a site default y and z share what x leaves: 40 - 20.
    assert offline_allocations(tree, EnergySettings()) == {"x": 20, "y": 8.0, "z": 12.0}


def test_share_below_minimum_is_zero_not_a_trickle() -> None:
    tree = PanelTree.build(
        [panel("main", 20)], [charger(f"c{i}", "main") for i in range(3)]
    )
    result = offline_allocations(tree, EnergySettings())
    assert sorted(result.values()) == [0.0, 8.0, 8.0]


def test_circuit_sharing_station_gets_one_allocation() -> None:
    dual = Charger("d", "main", 32, connectors=(Connector(1), Connector(2)))
    tree = PanelTree.build([panel("main", 100)], [dual, charger("s", "main")])
    assert offline_allocations(tree, EnergySettings()) == {"d": 32.0, "s": 32.0}


def test_phases_are_checked_separately_on_three_phase_panels() -> None:
    tree = PanelTree.build(
        [panel("main", 40, phases=3)],
        [
            charger("a", "main", offline=32, phase_connection=L1),
            charger("b", "main", offline=32, phase_connection=L2),
            charger("t", "main", phases=3),
        ],
    )
    assert check_offline(tree, explicit_offline(tree, EnergySettings())) == []
    result = offline_allocations(tree, EnergySettings())
    assert result["t"] == 0.0  # L1 and L2 are full
    problems = check_offline(tree, {**result, "t": 6.0})
    assert [p.path for p in problems] == ["panels.main", "panels.main"]
    assert "panel 'main' add up to 38 A on L1" in problems[0].message
    assert "38 A on L2" in problems[1].message


def test_check_offline_names_every_panel_over_capacity() -> None:
    tree = PanelTree.build(
        [panel("main", 50), panel("sub", 20, "main")],
        [charger("a", "sub"), charger("b", "sub")],
    )
    problems = check_offline(tree, {"a": 24.0, "b": 24.0})
    assert [p.path for p in problems] == ["panels.main", "panels.sub"]
    assert "48 A on L1, above its capacity 16 A" in problems[1].message


def test_single_phase_panel_sums_every_phase_beneath_it() -> None:
    tree = PanelTree.build(
        [panel("main", 100, phases=3), panel("sub", 20, "main")],
        [
            charger("a", "sub", phase_connection=L1),
            charger("b", "sub", phase_connection=L2),
        ],
    )
    (problem,) = check_offline(tree, {"a": 10.0, "b": 10.0})
    assert "panel 'sub'" in problem.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (40.0, "above the charger limit"),
        (3.0, "below the minimum current"),
        (30.0, "panel 'sub'"),
    ],
)
def test_check_override_rejects(value: float, fragment: str) -> None:
    tree = PanelTree.build(
        [panel("main", 100), panel("sub", 40, "main")],
        [charger("a", "sub", offline=10), charger("b", "sub")],
    )
    problems = check_override(tree, EnergySettings(), "b", value)
    assert problems
    assert fragment in problems[0].message


@pytest.mark.parametrize("value", [None, 0.0, 6.0, 22.0])
def test_check_override_accepts(value: float | None) -> None:
    tree = PanelTree.build(
        [panel("main", 100), panel("sub", 40, "main")],
        [charger("a", "sub", offline=10), charger("b", "sub")],
    )
    assert check_override(tree, EnergySettings(), "b", value) == []


def test_meters_and_schedules_do_not_shrink_the_defaults() -> None:
    metered = Panel(
        "main",
        "main",
        50,
        1,
        230,
        meter=MeterConfig(kind=MeterKind.MQTT, topic="m"),
        scheduled_limits=(ScheduledLimit(TimeWindow(time(0), time(0)), 0.0),),
    )
    tree = PanelTree.build([metered], [charger("a", "main"), charger("b", "main")])
    assert offline_allocations(tree, EnergySettings()) == {"a": 20.0, "b": 20.0}
