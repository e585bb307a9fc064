"""Merged flows: sites full of identical chargers, checked per connector.

The allocator carries connectors that the water-filling cannot tell apart as
one flow with a count, and merges flows again when they differ only in labels
(a path below the panels that can bind). These sites are built to merge a lot
(copies of a few charger templates); the results are checked connector by
connector against the exact LP solver and the invariants, which know nothing
about merging.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsite.config.models import Charger, Connector, EnergySettings, Panel
from evsite.core.allocation_model import ConnectorDemand, Reason, Snapshot
from evsite.core.allocator import allocate
from evsite.core.offline import offline_allocations
from evsite.core.tree import PanelTree
from tests.core.test_allocator_fairness_lp import flow_phases, lp_max_min
from tests.core.test_allocator_properties import (
    CONNECTIONS,
    NOW,
    TOL,
    check_capacity,
    check_connectors,
    panel_resource,
)


@st.composite
def copied_sites(
    draw: st.DrawFn, *, minimum: bool
) -> tuple[PanelTree, dict[Any, ConnectorDemand]]:
    """A 3-phase tree whose chargers are copies of a few templates."""
    panels = [Panel("p0", "p0", draw(st.integers(20, 300)), 3, 400)]
    for i in range(1, draw(st.integers(1, 5))):
        parent = draw(st.sampled_from([p.id for p in panels]))
        panels.append(
            Panel(f"p{i}", f"p{i}", draw(st.integers(10, 200)), 3, 400, parent)
        )
    chargers, demands = [], {}
    for t in range(draw(st.integers(1, 4))):
        parent = draw(st.sampled_from([p.id for p in panels]))
        single = draw(st.booleans())
        ports = draw(st.integers(1, 2))
        template = Charger(
            "template",
            parent,
            draw(st.sampled_from([16, 32])),
            connectors=tuple(Connector(k + 1) for k in range(ports)),
            phases=1 if single else 3,
            phase_connection=draw(st.sampled_from(CONNECTIONS)) if single else None,
            weight=draw(st.sampled_from([1.0, 2.0])),
            priority=draw(st.integers(0, 1)) if minimum else 0,
        )
        ev_max = draw(st.sampled_from([None, 10.0, 16.0]))
        ev_phases = draw(st.sampled_from([None, 1, 3]))
        for copy in range(draw(st.integers(1, 6))):
            cid = f"t{t}c{copy}"
            chargers.append(replace(template, id=cid))
            for k in range(ports):
                demands[(cid, k + 1)] = ConnectorDemand(
                    cid,
                    k + 1,
                    active=draw(st.integers(0, 5)) > 0,
                    ev_max_a=ev_max,
                    ev_phases=ev_phases,
                    energy_wh=float(copy),
                )
    return PanelTree.build(panels, chargers), demands


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=copied_sites(minimum=False))
def test_merged_flows_match_the_exact_lp_per_connector(
    site: tuple[PanelTree, dict[Any, ConnectorDemand]],
) -> None:
    tree, demands = site
    active = sorted(k for k, d in demands.items() if d.active)
    chargers = tree.chargers
    weights = [chargers[k[0]].weight for k in active]
    uppers = [min(chargers[k[0]].limit_a, demands[k].ev_max_a or 1e4) for k in active]
    rows: dict[Any, tuple[list[int], float]] = {}
    for i, key in enumerate(active):
        charger, demand = chargers[key[0]], demands[key]
        for ph in flow_phases(tree, charger, demand):
            rows.setdefault(("c", charger.id, ph), ([], charger.limit_a))[0].append(i)
            for pid in tree.ancestors(charger.parent):
                cap = tree.panels[pid].capacity_a
                res = (pid, panel_resource(tree, pid, ph))
                rows.setdefault(res, ([], cap))[0].append(i)
    expected = lp_max_min(list(rows.values()), weights, uppers) if active else []
    energy = EnergySettings(min_current_a=0.0)
    result = allocate(Snapshot(tree, energy, NOW, demands))
    for key, exact in zip(active, expected, strict=True):
        got = result.connectors[key].limit_a
        assert exact - 0.1 - TOL <= got <= exact + TOL, (key, got, exact)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    site=copied_sites(minimum=True),
    squeeze=st.sampled_from([0.2, 0.5, 1.0]),
)
def test_merged_flows_keep_the_invariants_and_rotate(
    site: tuple[PanelTree, dict[Any, ConnectorDemand]], squeeze: float
) -> None:
    tree, demands = site
    small = PanelTree.build(
        [
            Panel(p.id, p.name, max(1, round(p.capacity_a * squeeze)), 3, 400, p.parent)
            for p in tree.panels.values()
        ],
        tree.chargers.values(),
    )
    energy = EnergySettings()
    offline = offline_allocations(small, energy)
    previous = None
    for minute in (0, 20, 40):  # past the 15-minute rotation slot each time
        snap = Snapshot(
            small,
            energy,
            NOW + timedelta(minutes=minute),
            demands,
            offline_allocations=offline,
            previous=previous,
        )
        result = allocate(snap)
        check_capacity(snap, result)
        check_connectors(snap, result)
        entries = result.rotation.entries
        assert set(entries) <= {k for k, d in demands.items() if d.active}
        by_template: dict[str, set[float]] = {}
        for key, limit in result.connectors.items():
            if limit.limit_a > 0:
                assert entries[key].admitted_since is not None
                if len(small.chargers[key[0]].connectors) == 1:
                    template = key[0].split("c")[0]
                    by_template.setdefault(template, set()).add(limit.limit_a)
            if limit.reason is Reason.MIN_CURRENT_ROTATION:
                assert entries[key].paused_since is not None
        # Copies that run share one flow: the same limit.
        assert all(len(limits) == 1 for limits in by_template.values())
        previous = result
