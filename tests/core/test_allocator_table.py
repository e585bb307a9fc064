"""Allocator rules, one small site per case (SPEC §2.1, §2.2, §2.5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evsite.config.models import (
    Charger,
    Connector,
    EnergySettings,
    MeterConfig,
    MeterKind,
    Panel,
    Phase,
)
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    Reason,
    Snapshot,
)
from evsite.core.allocator import allocate, floor_step
from evsite.core.plan import SitePlan
from evsite.core.tree import PanelTree

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3
METER = MeterConfig(kind=MeterKind.MQTT, topic="m", stale_after_s=3.0)


def panel(pid: str, breaker: float, parent: str | None = None, **kw: Any) -> Panel:
    kw.setdefault("phases", 3)
    return Panel(pid, pid, breaker, voltage=400, parent=parent, **kw)


def charger(
    cid: str, parent: str, limit: float = 32, ports: int = 1, **kw: Any
) -> Charger:
    connectors = tuple(Connector(i + 1) for i in range(ports))
    return Charger(cid, parent, limit, connectors=connectors, **kw)


def want(*keys: str, **kw: Any) -> dict[tuple[str, int], ConnectorDemand]:
    """Demands for ``"c1"`` (port 1) or ``"c1/2"`` (port 2)."""
    result = {}
    for key in keys:
        cid, _, port = key.partition("/")
        demand = ConnectorDemand(cid, int(port or 1), active=True, **kw)
        result[demand.key] = demand
    return result


def run(
    panels: list[Panel], stations: list[Charger], demands: dict[Any, Any], **kw: Any
) -> Allocation:
    kw.setdefault("energy", EnergySettings())
    kw.setdefault("now", NOW)
    return allocate(Snapshot(PanelTree.build(panels, stations), demands=demands, **kw))


def limits(result: Allocation) -> dict[str, tuple[float, str]]:
    return {
        (cid if port == 1 else f"{cid}/{port}"): (c.limit_a, c.reason_text)
        for (cid, port), c in result.connectors.items()
    }


def test_equal_split_under_a_panel_rounds_down_to_a_tenth() -> None:
    chargers = [charger(f"c{i}", "p", phase_connection=L1) for i in range(3)]
    result = run([panel("p", 40, phases=1)], chargers, want("c0", "c1", "c2"))
    assert limits(result) == {f"c{i}": (10.6, "panel:p") for i in range(3)}
    assert result.panels["p"].allocated_a == {L1: 31.8}
    assert result.panels["p"].capacity_a == {L1: 32.0}


def test_weights_split_in_proportion() -> None:
    chargers = [charger("a", "p", weight=1.0), charger("b", "p", weight=3.0)]
    result = run([panel("p", 40, phases=1)], chargers, want("a", "b"))
    assert limits(result) == {"a": (8.0, "panel:p"), "b": (24.0, "panel:p")}


def test_higher_priority_fills_first_lower_keeps_its_minimum() -> None:
    chargers = [
        charger("hi1", "p", priority=2),
        charger("hi2", "p", priority=2),
        charger("lo", "p", priority=0),
    ]
    result = run([panel("p", 40, phases=1)], chargers, want("hi1", "hi2", "lo"))
    assert limits(result) == {
        "hi1": (13.0, "panel:p"),
        "hi2": (13.0, "panel:p"),
        "lo": (6.0, "panel:p"),
    }


def test_demand_priority_overrides_charger_priority() -> None:
    chargers = [charger("a", "p", limit=20), charger("b", "p")]
    demands = {**want("a"), **want("b", priority=5)}
    result = run([panel("p", 40, phases=1)], chargers, demands)
    assert limits(result) == {"a": (6.0, "panel:p"), "b": (26.0, "panel:p")}


@pytest.mark.parametrize(
    ("ev_max", "limit", "expected"),
    [
        (None, 16, (16.0, "charger_max")),
        (10, 16, (10.0, "ev_max")),
        (10.07, 16, (10.0, "ev_max")),
        (5, 16, (0.0, "ev_max")),
        (None, 5, (0.0, "charger_max")),
        (40, 100, (32.0, "panel:p")),
    ],
)
def test_own_bounds(
    ev_max: float | None, limit: float, expected: tuple[float, str]
) -> None:
    result = run(
        [panel("p", 40, phases=1)],
        [charger("a", "p", limit)],
        want("a", ev_max_a=ev_max),
    )
    assert limits(result)["a"] == expected


def test_circuit_sharing_splits_the_charger_limit() -> None:
    big = [panel("p", 200)]
    both = run(big, [charger("a", "p", 32, ports=2)], want("a", "a/2"))
    assert limits(both) == {"a": (16.0, "fair_share"), "a/2": (16.0, "fair_share")}
    one = run(big, [charger("a", "p", 32, ports=2)], want("a/2"))
    assert limits(one) == {"a": (0.0, "not_charging"), "a/2": (32.0, "charger_max")}
    capped = {**want("a", ev_max_a=10), **want("a/2")}
    mixed = run(big, [charger("a", "p", 32, ports=2)], capped)
    assert limits(mixed) == {"a": (10.0, "ev_max"), "a/2": (22.0, "fair_share")}


def test_single_phase_chargers_count_on_their_phase_only() -> None:
    chargers = [
        charger("a", "p", phase_connection=L1),
        charger("b", "p", phase_connection=L1),
        charger("c", "p", phase_connection=L2),
    ]
    result = run([panel("p", 40)], chargers, want("a", "b", "c"))
    assert limits(result) == {
        "a": (16.0, "panel:p"),
        "b": (16.0, "panel:p"),
        "c": (32.0, "charger_max"),
    }
    assert result.panels["p"].allocated_a == {L1: 32.0, L2: 32.0, L3: 0.0}


def test_three_phase_charger_uses_all_phases_and_single_phase_ev_one() -> None:
    chargers = [
        charger("t", "p", 32, phases=3),
        charger("s", "p", 32, phase_connection=L2),
    ]
    result = run([panel("p", 40)], chargers, want("t", "s"))
    assert limits(result) == {"t": (16.0, "panel:p"), "s": (16.0, "panel:p")}
    one_phase_ev = {**want("t", ev_phases=1), **want("s")}
    result = run([panel("p", 40)], chargers, one_phase_ev)
    assert limits(result) == {"t": (32.0, "charger_max"), "s": (32.0, "charger_max")}
    assert result.connectors[("t", 1)].phases == (L1,)


def test_nested_panels_bind_at_the_tightest_level() -> None:
    panels = [panel("main", 50, phases=1), panel("sub", 20, "main", phases=1)]
    chargers = [charger("a", "sub"), charger("b", "sub"), charger("c", "main")]
    result = run(panels, chargers, want("a", "b", "c"))
    # sub carries 16 A (8 + 8); main's 40 A leaves c 24 A.
    assert limits(result) == {
        "a": (8.0, "panel:sub"),
        "b": (8.0, "panel:sub"),
        "c": (24.0, "panel:main"),
    }


def test_minimum_current_pauses_the_lowest_ranked() -> None:
    chargers = [charger(f"c{i}", "p") for i in range(3)]
    demands = {
        **want("c0", energy_wh=5000),
        **want("c1", energy_wh=100),
        **want("c2", energy_wh=2000),
    }
    result = run([panel("p", 20, phases=1)], chargers, demands)
    # 16 A fits two minimums; the longest-charged session pauses.
    assert limits(result) == {
        "c0": (0.0, "min_current_rotation"),
        "c1": (8.0, "panel:p"),
        "c2": (8.0, "panel:p"),
    }


def test_charger_minimum_overrides_site_minimum() -> None:
    chargers = [charger("a", "p", min_current_a=10), charger("b", "p")]
    result = run([panel("p", 20, phases=1)], chargers, want("a", "b"))
    assert limits(result) == {"a": (10.0, "panel:p"), "b": (6.0, "panel:p")}


def test_panel_below_minimum_names_the_panel() -> None:
    panels = [panel("p", 40, phases=1), panel("tiny", 6, "p", phases=1)]
    result = run(panels, [charger("a", "tiny")], want("a"))
    assert limits(result) == {"a": (0.0, "panel:tiny")}


def test_rotation_lets_every_session_charge_in_turn() -> None:
    chargers = [charger(f"c{i}", "p") for i in range(4)]
    energy = EnergySettings(rotation_minutes=15)
    tree = PanelTree.build([panel("p", 20, phases=1)], chargers)
    demands = want("c0", "c1", "c2", "c3")
    previous: Allocation | None = None
    charged: dict[str, int] = dict.fromkeys(("c0", "c1", "c2", "c3"), 0)
    running_counts = []
    for minute in range(0, 120, 1):
        now = NOW + timedelta(minutes=minute)
        previous = allocate(Snapshot(tree, energy, now, demands, previous=previous))
        running = [c for (c, _), v in previous.connectors.items() if v.limit_a > 0]
        running_counts.append(len(running))
        for cid in running:
            charged[cid] += 1
        paused = [v for v in previous.connectors.values() if v.limit_a == 0]
        assert all(v.reason is Reason.MIN_CURRENT_ROTATION for v in paused)
    assert set(running_counts) == {2}
    # Fair turns: each session ran about half of the two hours.
    assert all(50 <= minutes <= 70 for minutes in charged.values()), charged


def test_running_session_keeps_its_slot_when_a_car_arrives() -> None:
    chargers = [charger(f"c{i}", "p") for i in range(3)]
    tree = PanelTree.build([panel("p", 20, phases=1)], chargers)
    energy = EnergySettings()
    first = allocate(Snapshot(tree, energy, NOW, want("c0", "c1")))
    later = NOW + timedelta(minutes=5)
    arrived = allocate(
        Snapshot(tree, energy, later, want("c0", "c1", "c2"), previous=first)
    )
    assert limits(arrived)["c2"] == (0.0, "min_current_rotation")
    after_slot = NOW + timedelta(minutes=16)
    rotated = allocate(
        Snapshot(tree, energy, after_slot, want("c0", "c1", "c2"), previous=arrived)
    )
    assert limits(rotated)["c2"][0] == 8.0
    assert sorted(v[0] for v in limits(rotated).values()) == [0.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("demand", "expected"),
    [
        ({"active": False}, "not_charging"),
        ({"delayed": True}, "delayed"),
        ({"access_closed": True}, "scope_closed"),
        ({"delayed": True, "charge_now": True}, "charger_max"),
    ],
)
def test_zero_reasons(demand: dict[str, Any], expected: str) -> None:
    demands = {("a", 1): ConnectorDemand("a", 1, **{"active": True, **demand})}
    result = run([panel("p", 100)], [charger("a", "p")], demands)
    assert limits(result)["a"][1] == expected
    assert (limits(result)["a"][0] > 0) == (expected == "charger_max")


def test_missing_demand_is_not_charging_and_maintenance_is_zero() -> None:
    chargers = [charger("a", "p"), charger("b", "p")]
    states = {"b": ChargerState("b", maintenance=True)}
    result = run([panel("p", 100)], chargers, want("b"), chargers=states)
    assert limits(result) == {"a": (0.0, "not_charging"), "b": (0.0, "maintenance")}


def test_offline_and_uncontrollable_chargers_reserve_in_every_ancestor() -> None:
    panels = [panel("main", 60, phases=1), panel("sub", 38, "main", phases=1)]
    chargers = [
        charger("off", "sub", 32),
        charger("unc", "main", 16),
        charger("a", "sub"),
    ]
    states = {
        "off": ChargerState("off", online=False),
        "unc": ChargerState("unc", controllable=False),
    }
    result = run(
        panels,
        chargers,
        want("off", "unc", "a"),
        chargers=states,
        offline_allocations={"off": 10.0},
    )
    assert limits(result) == {
        "off": (10.0, "offline_reserved"),
        "unc": (16.0, "uncontrollable"),
        "a": (20.4, "panel:sub"),
    }
    assert result.panels["main"].reserved_a == {L1: 26.0}
    assert result.panels["sub"].reserved_a == {L1: 10.0}
    assert result.panels["main"].allocated_a == {L1: 20.4}


def test_offline_charger_without_known_allocation_reserves_its_limit() -> None:
    chargers = [charger("off", "p", 20), charger("a", "p")]
    states = {"off": ChargerState("off", online=False)}
    result = run([panel("p", 40, phases=1)], chargers, want("a"), chargers=states)
    assert limits(result)["a"] == (12.0, "panel:p")
    state_value = {"off": ChargerState("off", online=False, offline_allocation_a=6)}
    result = run([panel("p", 40, phases=1)], chargers, want("a"), chargers=state_value)
    assert limits(result)["a"] == (26.0, "panel:p")


def test_reservations_above_capacity_leave_zero_for_the_rest() -> None:
    chargers = [charger("u1", "p", 20), charger("u2", "p", 20), charger("a", "p")]
    states = {c: ChargerState(c, controllable=False) for c in ("u1", "u2")}
    result = run([panel("p", 40, phases=1)], chargers, want("a"), chargers=states)
    assert limits(result)["a"] == (0.0, "panel:p")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run([panel("p", 100)], [charger("a", "p")], want("a"), now=datetime(2026, 1, 1))


def test_unknown_demands_are_ignored_and_reason_text() -> None:
    result = run([panel("p", 10, phases=1)], [charger("a", "p")], want("a", "ghost"))
    assert set(result.connectors) == {("a", 1)}
    assert result.connectors[("a", 1)].reason_text == "panel:p"
    assert result.limit("ghost", 1) == 0.0
    assert (
        replace(result.connectors[("a", 1)], reason=Reason.EV_MAX).reason_text
        == "ev_max"
    )


@pytest.mark.parametrize(
    ("amps", "expected"),
    [(10.66, 10.6), (10.0, 10.0), (9.99999999999, 10.0), (0.05, 0.0), (-1.0, 0.0)],
)
def test_floor_step(amps: float, expected: float) -> None:
    assert floor_step(amps) == expected


def test_plan_is_reused_when_it_matches_and_rebuilt_when_not() -> None:
    panels = [panel("p", 40, phases=1)]
    chargers = [charger("a", "p"), charger("b", "p")]
    tree = PanelTree.build(panels, chargers)
    other = PanelTree.build(panels, [charger("a", "p")])
    plain = allocate(Snapshot(tree, EnergySettings(), NOW, want("a", "b")))
    planned = allocate(
        Snapshot(tree, EnergySettings(), NOW, want("a", "b"), plan=SitePlan.build(tree))
    )
    stale_plan = allocate(
        Snapshot(
            tree, EnergySettings(), NOW, want("a", "b"), plan=SitePlan.build(other)
        )
    )
    assert plain.connectors == planned.connectors == stale_plan.connectors
    assert limits(plain) == {"a": (16.0, "panel:p"), "b": (16.0, "panel:p")}


def test_unchanged_limits_are_the_same_objects() -> None:
    tree = PanelTree.build(
        [panel("p", 40, phases=1)], [charger("a", "p"), charger("b", "p")]
    )
    first = allocate(Snapshot(tree, EnergySettings(), NOW, want("a")))
    again = allocate(
        Snapshot(
            tree,
            EnergySettings(),
            NOW + timedelta(seconds=1),
            want("a"),
            previous=first,
        )
    )
    assert again.connectors[("a", 1)] is first.connectors[("a", 1)]
    assert again.connectors[("b", 1)] is first.connectors[("b", 1)]
    changed = allocate(
        Snapshot(tree, EnergySettings(), NOW, want("a", "b"), previous=again)
    )
    assert changed.connectors[("a", 1)] is not again.connectors[("a", 1)]
    assert changed.connectors[("a", 1)].limit_a == 16.0


def test_demand_weight_overrides_charger_weight() -> None:
    chargers = [charger("a", "p"), charger("b", "p")]
    demands = {**want("a"), **want("b", weight=3.0)}
    result = run([panel("p", 40, phases=1)], chargers, demands)
    assert limits(result) == {"a": (8.0, "panel:p"), "b": (24.0, "panel:p")}


def test_single_phase_ev_on_shared_three_phase_station() -> None:
    station = charger("d", "p", 32, ports=2, phases=3)
    demands = {**want("d", ev_phases=1), **want("d/2")}
    result = run([panel("p", 200)], [station], demands)
    assert limits(result) == {"d": (16.0, "fair_share"), "d/2": (16.0, "fair_share")}
    assert result.panels["p"].allocated_a == {L1: 32.0, L2: 16.0, L3: 16.0}


@pytest.mark.parametrize("weight", [0.0, -2.0])
def test_nonsense_demand_weight_falls_back_to_the_charger_weight(weight: float) -> None:
    chargers = [charger("a", "p"), charger("b", "p", weight=3.0)]
    demands = {**want("a"), **want("b", weight=weight)}
    result = run([panel("p", 40, phases=1)], chargers, demands)
    assert limits(result) == {"a": (8.0, "panel:p"), "b": (24.0, "panel:p")}
