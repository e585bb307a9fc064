"""The compiled loops (evsite.core._native) against their Python references.

Each compiled function must give bit-identical results to the Python code it
replaces, so these tests compare the two paths exactly (``==`` on floats), on
random inputs and on benchmark-sized sites. ``./dev test`` sets
``EVSITE_REQUIRE_NATIVE=1``: there a missing compiled module fails instead of
skipping.
"""

from __future__ import annotations

import gc
import math
import os
import random
import sys
from dataclasses import FrozenInstanceError, dataclass, replace
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsite.config.models import EnergySettings, Phase
from evsite.core import native
from evsite.core.allocation_model import (
    ChargerState,
    ConnectorDemand,
    ConnectorLimit,
    Reason,
    Snapshot,
)
from evsite.core.allocator import allocate
from evsite.core.offline import offline_allocations
from evsite.core.plan import SitePlan
from evsite.core.waterfill import FlowTable, fill_into

from .test_allocator_properties import Case, cases

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from allocation import T0, big_tree, meter_samples, random_demand

pytestmark = pytest.mark.skipif(
    not native.available() and not os.environ.get("EVSITE_REQUIRE_NATIVE"),
    reason="evsite.core._native was not built (no C compiler at install time)",
)


def test_the_compiled_module_was_built() -> None:
    assert native.available()


@st.composite
def fill_inputs(
    draw: st.DrawFn,
) -> tuple[list[int], FlowTable, list[float], bool]:
    """Counted flows with floors, weights, shared and repeated resource tuples."""
    n_res = draw(st.integers(1, 6))
    paths = [
        tuple(draw(st.lists(st.integers(0, n_res - 1), min_size=0, max_size=5)))
        for _ in range(draw(st.integers(1, 4)))
    ]
    flows = FlowTable()
    n = draw(st.integers(1, 12))
    for _ in range(n):
        path = draw(st.sampled_from(paths))
        # Sometimes an equal tuple that is another object: its own group.
        flows.resources.append(tuple(path) if draw(st.booleans()) else path)
        flows.weights.append(draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])))
        floor = draw(st.sampled_from([0.0, 0.0, 2.0, 6.0, 6.1, 8.0]))
        flows.floors.append(floor)
        flows.uppers.append(floor + draw(st.sampled_from([0.0, 0.1, 4.0, 10.0, 26.0])))
        flows.counts.append(draw(st.integers(1, 5)))
    if draw(st.booleans()):
        flows.counts = [] if all(c == 1 for c in flows.counts) else flows.counts
    members = sorted(draw(st.sets(st.integers(0, n - 1), min_size=0, max_size=n)))
    room = [draw(st.floats(0, 300, allow_nan=False)) for _ in range(n_res)]
    need = [0.0] * n_res
    counts = flows.counts or [1] * n
    for i in members:
        for r in flows.resources[i]:
            need[r] += flows.floors[i] * counts[i]
    floors_taken = draw(st.booleans())
    # The floors must fit; taken: deducted from the room already (as admit does).
    room = [
        (max(cap, need[r]) - need[r]) if floors_taken else max(cap, need[r])
        for r, cap in enumerate(room)
    ]
    return members, flows, room, floors_taken


def _fill(
    enabled: bool, members: list[int], flows: FlowTable, room: list[float], taken: bool
) -> tuple[list[float], list[int], list[float]]:
    n = len(flows.weights)
    rates, binding, room = [-1.0] * n, [-7] * n, list(room)
    with native.use_native(enabled):
        fill_into(members, flows, room, rates, binding, floors_taken=taken)
    return rates, binding, room


@settings(max_examples=1500, deadline=None)
@given(inputs=fill_inputs())
def test_fill_into_is_bit_identical(
    inputs: tuple[list[int], FlowTable, list[float], bool],
) -> None:
    members, flows, room, taken = inputs
    assert _fill(True, members, flows, room, taken) == _fill(
        False, members, flows, room, taken
    )


def test_fill_into_rejects_bad_input_with_a_clear_error() -> None:
    flows = FlowTable([(0,)], [1.0], [0.0], [10.0], [1])
    with native.use_native(True), pytest.raises(IndexError, match="resource 3"):
        fill_into([0], FlowTable([(3,)], [1.0], [0.0], [10.0], [1]), [5.0], [0.0], [0])
    with native.use_native(True), pytest.raises(IndexError, match="member 2"):
        fill_into([2], flows, [5.0], [0.0], [0])
    with native.use_native(True), pytest.raises(TypeError):
        fill_into([0], FlowTable([(0,)], ["x"], [0.0], [10.0], [1]), [5.0], [0.0], [0])  # type: ignore[list-item]


def _both(snapshot: Snapshot) -> tuple[object, object]:
    with native.use_native(True):
        compiled = allocate(snapshot)
    with native.use_native(False):
        python = allocate(snapshot)
    return compiled, python


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_allocate_is_identical_on_random_sites(case: Case) -> None:
    for snapshot in (case.first, case.snapshot):
        compiled, python = _both(snapshot)
        assert compiled == python


BERLIN = timezone(timedelta(hours=1), "CET")


def varied_demand(
    key: tuple[str, int], rng: random.Random, mixed_zones: bool = False
) -> ConnectorDemand:
    """The benchmark's demand, now and then with overrides, closed or delayed.

    ``mixed_zones``: some session starts in another zone object than ``now``'s
    (the compiled admission order then sorts with Python comparisons).
    """
    demand = random_demand(key, rng)
    if rng.random() < 0.7:  # a session start, often shared (ties sort on)
        minutes = rng.choice([0, 5, 5, 30, rng.randrange(600)])
        start = T0 - timedelta(minutes=minutes)
        if mixed_zones and rng.random() < 0.5:
            start = start.astimezone(BERLIN)
        demand = replace(demand, session_start=start)
    if rng.random() < 0.3:
        demand = replace(demand, energy_wh=rng.choice([0.0, 1000.0]))
    roll = rng.random()
    if roll < 0.05:
        return replace(demand, weight=rng.choice([0.5, 2.0, 0.0]), priority=2)
    if roll < 0.08:
        return replace(demand, access_closed=True)
    if roll < 0.12:
        return replace(demand, delayed=True, charge_now=rng.random() < 0.5)
    if roll < 0.15:
        return replace(demand, ev_max_a=rng.choice([3.0, 5.9, 6, 7.25]))
    return demand


@pytest.mark.parametrize(
    ("connectors", "squeeze"),
    [(1000, 1.0), (1000, 0.25), (300, 0.05), (5000, 1.0)],
)
@pytest.mark.parametrize("mixed_zones", [False, True])
def test_allocate_is_identical_on_benchmark_sites(
    connectors: int, squeeze: float, mixed_zones: bool
) -> None:
    """The benchmark's depth-5 sites, several cycles each, previous fed back."""
    rng = random.Random(connectors)
    tree = big_tree(connectors, rng, squeeze)
    plan, energy = SitePlan.build(tree), EnergySettings()
    offline = offline_allocations(tree, energy)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: varied_demand(key, rng, mixed_zones) for key in keys}
    states = {
        cid: rng.choice(
            [
                ChargerState(cid, online=False),
                ChargerState(cid, online=False, offline_allocation_a=6.0),
                ChargerState(cid, controllable=False),
                ChargerState(cid, maintenance=True),
                ChargerState(cid, offline_allocation_a=10.0),
            ]
        )
        for cid in rng.sample(sorted(tree.chargers), len(tree.chargers) // 20)
    }
    previous = None
    # Cycles 7 minutes apart (rotation slots run out); the last two without a
    # new meter sample: stale feeders (no increases, offline allocations as caps).
    sampled = T0
    for cycle in range(6):
        now = T0 + timedelta(minutes=7 * cycle)
        if cycle < 4:
            sampled = now
        for key in rng.sample(keys, len(keys) // 10):
            demands[key] = varied_demand(key, rng, mixed_zones)
        snapshot = Snapshot(
            tree,
            energy,
            now,
            dict(demands),
            chargers=states,
            measurements=meter_samples(tree, sampled, rng),
            offline_allocations=offline,
            previous=previous,
            plan=plan,
        )
        compiled, python = _both(snapshot)
        assert compiled == python
        previous = compiled  # type: ignore[assignment]


@settings(max_examples=3000, deadline=None)
@given(
    x=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(-1000, 1000),
        st.integers(-100_000, 100_000).map(lambda k: k / 1000 + 0.0005),
        st.integers(0, 10_000).map(lambda k: k * 0.1),
    )
)
def test_round3_is_python_round(x: float) -> None:
    """The panel figures' rounding: ``round(x, 3)``, sign of zero included."""
    from evsite.core import _native

    got, want = _native.round3(x), round(x, 3)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want
        assert math.copysign(1.0, got) == math.copysign(1.0, want)


def test_limits_made_in_c_are_the_dataclass_values() -> None:
    """C fills new ConnectorLimit slots directly; the values are the same."""
    rng = random.Random(7)
    tree = big_tree(300, rng, 0.25)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: varied_demand(key, rng) for key in keys}
    snapshot = Snapshot(tree, EnergySettings(), T0, demands)
    with native.use_native(True):
        result = allocate(snapshot)
    assert len(result.connectors) == len(keys)
    for limit in result.connectors.values():
        assert type(limit) is ConnectorLimit
        built = ConnectorLimit(
            limit.charger_id,
            limit.connector_id,
            limit.limit_a,
            limit.reason,
            limit.panel_id,
            limit.phases,
        )
        assert (limit, hash(limit), repr(limit)) == (built, hash(built), repr(built))
        assert gc.is_tracked(limit) == gc.is_tracked(built)
        with pytest.raises(FrozenInstanceError):
            limit.limit_a = 1.0  # type: ignore[misc]


@dataclass(frozen=True)
class _PlainLimit:
    """A limit class without slots: C must call it, not fill it."""

    charger_id: str
    connector_id: int
    limit_a: float
    reason: Reason
    panel_id: str | None
    phases: tuple[Phase, ...]


def test_other_limit_classes_are_called() -> None:
    from evsite.core import _native

    limits: dict[tuple[str, int], object] = {}
    out = (7.5, Reason.PANEL, "p1", (Phase.L1,))
    _native.connector_limits(
        [("c", 1)],
        [out],
        [0],
        {},
        limits,
        _PlainLimit,
        {},
        [0.0],
        [6.0],
        [()],
        [],
        Reason.MIN_CURRENT_ROTATION,
    )
    assert limits == {("c", 1): _PlainLimit("c", 1, *out)}


def test_a_module_older_than_its_source_is_stale(tmp_path: Path) -> None:
    """An edited _native.c not rebuilt yet: the Python loops run instead."""
    import types

    built = tmp_path / "_native.cpython-311-x86_64-linux-gnu.so"
    built.write_bytes(b"")
    module = types.ModuleType("evsite.core._native")
    module.__file__ = str(built)
    assert not native._is_stale(module)  # no source beside it (a wheel)
    source = tmp_path / "_native.c"
    source.write_text("/* */")
    os.utime(source, (1_000, 1_000))
    os.utime(built, (2_000, 2_000))
    assert not native._is_stale(module)
    os.utime(source, (3_000, 3_000))
    assert native._is_stale(module)


def test_no_references_leak_over_many_cycles() -> None:
    """Reasons, phases and keys end with the references they started with.

    Every tuple, limit, dict and list the compiled loops make holds some of
    these; one leaked per cycle would show as a growing reference count.
    """
    rng = random.Random(11)
    tree = big_tree(300, rng, 0.25)
    plan, energy = SitePlan.build(tree), EnergySettings()
    offline = offline_allocations(tree, energy)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: varied_demand(key, rng, mixed_zones=True) for key in keys}
    states = {
        cid: ChargerState(cid, online=False, controllable=i % 2 == 0)
        for i, cid in enumerate(list(tree.chargers)[:12])
    }
    probes = [*Reason, *Phase, *keys[:40], *(row[9] for row in plan.rows[:40])]
    previous = None

    def run(cycles: range) -> None:
        nonlocal previous
        for cycle in cycles:
            i = cycle % 40  # the inputs repeat every 40 cycles
            now = T0 + timedelta(minutes=7 * i)
            sampled = now if i % 3 else T0  # every third cycle: stale feeders
            previous = allocate(
                Snapshot(
                    tree,
                    energy,
                    now,
                    demands,
                    chargers=states,
                    measurements=meter_samples(tree, sampled, random.Random(i)),
                    offline_allocations=offline,
                    previous=previous,
                    plan=plan,
                )
            )

    # Compared at the same point of the input cycle (the previous allocation
    # holds references too), once the rotation state has settled.
    with native.use_native(True):
        run(range(80))
        gc.collect()
        before = [sys.getrefcount(p) for p in probes]
        run(range(80, 200))
        gc.collect()
        after = [sys.getrefcount(p) for p in probes]
    assert after == before
