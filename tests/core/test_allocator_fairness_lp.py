"""Max-min fairness checked against an exact solver (SPEC §2.1).

Water-filling level by level with scipy's LP: maximise the smallest share,
fix the flows that cannot grow, repeat. The allocator must match within 0.1 A.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from evsite.config.models import Charger, EnergySettings, Phase
from evsite.core.allocation_model import ConnectorDemand, Snapshot
from evsite.core.allocator import allocate
from evsite.core.tree import PanelTree
from tests.core.test_allocator_properties import NOW, TOL, panel_resource, trees


def lp_max_min(
    rows: list[tuple[list[int], float]], weights: list[float], uppers: list[float]
) -> list[float]:
    """Weighted max-min fair rates, level by level with scipy's LP (HiGHS)."""
    n = len(weights)
    a_res = np.zeros((len(rows), n + 1))
    b_res = np.array([cap for _, cap in rows])
    for k, (members, _) in enumerate(rows):
        for i in members:
            a_res[k, i] += 1.0
    fixed: dict[int, float] = {}
    while len(fixed) < n:
        free = [i for i in range(n) if i not in fixed]
        bounds = [
            (fixed[i], fixed[i]) if i in fixed else (0, uppers[i]) for i in range(n)
        ]
        share = np.zeros((len(free), n + 1))
        for k, i in enumerate(free):
            share[k, i], share[k, n] = -1.0, weights[i]
        c = np.zeros(n + 1)
        c[n] = -1.0
        top = linprog(
            c,
            A_ub=np.vstack([a_res, share]),
            b_ub=np.concatenate([b_res, np.zeros(len(free))]),
            bounds=[*bounds, (0, None)],
            method="highs",
        )
        assert top.status == 0
        level = top.x[n] - 1e-9
        # Free flows that cannot exceed their share at this level are saturated.
        floor_bounds = list(bounds)
        for j in free:
            floor_bounds[j] = (min(weights[j] * level, uppers[j]), uppers[j])
        newly = []
        for i in free:
            obj = np.zeros(n + 1)
            obj[i] = -1.0
            best = linprog(
                obj,
                A_ub=a_res,
                b_ub=b_res,
                bounds=[*floor_bounds, (0, 0)],
                method="highs",
            )
            assert best.status == 0
            if best.x[i] <= weights[i] * level + 1e-7:
                newly.append(i)
        assert newly, "some flow must saturate at each level"
        for i in newly:
            fixed[i] = min(uppers[i], max(0.0, weights[i] * level))
    return [fixed[i] for i in range(n)]


@st.composite
def fair_cases(draw: st.DrawFn) -> tuple[PanelTree, dict[Any, Any]]:
    tree = draw(trees(meters=False, max_chargers=6))
    demands = {}
    for charger in tree.chargers.values():
        for conn in charger.connectors:
            demands[(charger.id, conn.id)] = ConnectorDemand(
                charger.id,
                conn.id,
                active=True,
                ev_max_a=draw(st.one_of(st.none(), st.integers(1, 40))),
                ev_phases=draw(st.sampled_from([None, 1, 3])),
            )
    return tree, demands


def flow_phases(
    tree: PanelTree, charger: Charger, demand: ConnectorDemand
) -> tuple[Phase, ...]:
    if charger.phases == 3 and demand.ev_phases == 1:
        return (charger.phase_connection or Phase.L1,)
    return tree.charger_phases(charger)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=fair_cases())
def test_water_filling_matches_exact_lp_max_min(
    case: tuple[PanelTree, dict[Any, Any]],
) -> None:
    tree, demands = case
    # No minimum current and one priority class: pure weighted max-min fairness.
    chargers = {c.id: c for c in tree.chargers.values()}
    keys = sorted(demands)
    weights = [chargers[k[0]].weight for k in keys]
    uppers = [float(demands[k].ev_max_a or 1e4) for k in keys]
    rows: dict[Any, tuple[list[int], float]] = {}
    for i, key in enumerate(keys):
        charger, demand = chargers[key[0]], demands[key]
        for ph in flow_phases(tree, charger, demand):
            rows.setdefault(("c", charger.id, ph), ([], charger.limit_a))[0].append(i)
            for pid in tree.ancestors(charger.parent):
                cap = tree.panels[pid].capacity_a
                rows.setdefault((pid, panel_resource(tree, pid, ph)), ([], cap))[
                    0
                ].append(i)
    expected = lp_max_min(list(rows.values()), weights, uppers) if keys else []
    flat = PanelTree.build(
        tree.panels.values(),
        [
            Charger(
                c.id,
                c.parent,
                c.limit_a,
                connectors=c.connectors,
                phases=c.phases,
                phase_connection=c.phase_connection,
                weight=c.weight,
            )
            for c in tree.chargers.values()
        ],
    )
    result = allocate(Snapshot(flat, EnergySettings(min_current_a=0.0), NOW, demands))
    for key, exact in zip(keys, expected, strict=True):
        got = result.connectors[key].limit_a
        assert exact - 0.1 - TOL <= got <= exact + TOL, (key, got, exact)


# ---- rotation: nobody starves -----------------------------------------------------
