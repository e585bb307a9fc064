"""The water-filling engine on its own: admission, floors, weights, bottlenecks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from evsite.core.waterfill import CAPPED, FlowTable, admit, fill


def table(*flows: tuple[list[int], float, float, float]) -> FlowTable:
    """Flows as (resources, weight, floor, upper)."""
    return FlowTable(
        resources=[list(f[0]) for f in flows],
        weights=[f[1] for f in flows],
        floors=[f[2] for f in flows],
        uppers=[f[3] for f in flows],
    )


def test_equal_and_weighted_shares() -> None:
    flows = table(([0], 1.0, 0.0, 100.0), ([0], 1.0, 0.0, 100.0))
    room = [10.0]
    assert fill([0, 1], flows, room) == ({0: 5.0, 1: 5.0}, {0: 0, 1: 0})
    assert room == [0.0]
    flows = table(([0], 1.0, 0.0, 100.0), ([0], 3.0, 0.0, 100.0))
    rates, _ = fill([0, 1], flows, [10.0])
    assert rates == {0: 2.5, 1: 7.5}


def test_capped_flow_leaves_the_rest_to_others() -> None:
    flows = table(([0], 1.0, 0.0, 2.0), ([0], 1.0, 0.0, 100.0))
    rates, binding = fill([0, 1], flows, [10.0])
    assert rates == {0: 2.0, 1: 8.0}
    assert binding == {0: CAPPED, 1: 0}


def test_floor_holds_until_the_level_reaches_it() -> None:
    # Flow 0 sits at its 6 A floor; flow 1 rises from 0 until r0 is full.
    flows = table(([0], 1.0, 6.0, 100.0), ([0], 1.0, 0.0, 100.0))
    rates, binding = fill([0, 1], flows, [10.0])
    assert rates == {0: 6.0, 1: 4.0}
    assert binding == {0: 0, 1: 0}
    # With more room both pass the floor and end equal.
    rates, _ = fill([0, 1], flows, [20.0])
    assert rates == {0: 10.0, 1: 10.0}


def test_two_levels_of_resources() -> None:
    # r0 is a 10 A branch inside r1 (30 A); flow 2 sits only under r1.
    flows = table(
        ([0, 1], 1.0, 0.0, 99.0), ([0, 1], 1.0, 0.0, 99.0), ([1], 1.0, 0.0, 99.0)
    )
    rates, binding = fill([0, 1, 2], flows, [10.0, 30.0])
    assert rates == {0: 5.0, 1: 5.0, 2: 20.0}
    assert binding == {0: 0, 1: 0, 2: 1}


def test_a_resource_listed_twice_counts_double() -> None:
    rates, _ = fill([0], table(([0, 0], 1.0, 0.0, 99.0)), [10.0])
    assert rates == {0: 5.0}


def test_members_only_and_empty() -> None:
    flows = table(([0], 1.0, 0.0, 99.0), ([0], 1.0, 0.0, 99.0))
    assert fill([1], flows, [10.0]) == ({1: 10.0}, {1: 0})
    assert fill([], flows, [10.0]) == ({}, {})


def test_admit_is_greedy_in_order_and_undoes_partial_reservations() -> None:
    resources = [[0], [0, 1], [1], [0]]
    floors = [6.0, 6.0, 6.0, 6.0]
    room = [12.0, 8.0]
    admitted, blocked = admit([0, 1, 2, 3], resources, floors, room)
    # Flow 1 takes r0 and r1; flow 2 then misses r1; flow 3 misses r0.
    assert admitted == [0, 1]
    assert blocked == {2: 1, 3: 0}
    assert room == [0.0, 2.0]
    room = [12.0, 5.0]
    admitted, blocked = admit([1, 0, 3], resources, floors, room)
    assert admitted == [0, 3]
    assert blocked == {1: 1}
    assert room == [0.0, 5.0]  # flow 1's hold on r0 was given back


@st.composite
def systems(draw: st.DrawFn) -> tuple[FlowTable, list[float]]:
    n_res = draw(st.integers(1, 6))
    n = draw(st.integers(1, 10))
    flows = [
        (
            draw(
                st.lists(st.integers(0, n_res - 1), min_size=1, max_size=4, unique=True)
            ),
            draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])),
            0.0,
            float(draw(st.integers(1, 60))),
        )
        for _ in range(n)
    ]
    room = [float(draw(st.integers(0, 80))) for _ in range(n_res)]
    return table(*flows), room


@settings(max_examples=300, deadline=None)
@given(system=systems())
def test_every_flow_has_a_bottleneck(system: tuple[FlowTable, list[float]]) -> None:
    """Weighted max-min fairness, characterised exactly (Bertsekas & Gallager).

    Feasible, and each flow is at its upper bound or crosses a saturated
    resource on which no other flow has a larger rate per weight.
    """
    flows, room = system
    members = list(range(len(flows.weights)))
    rates, binding = fill(members, flows, list(room))
    load = [0.0] * len(room)
    for i in members:
        assert 0 <= rates[i] <= flows.uppers[i] + 1e-9
        for r in flows.resources[i]:
            load[r] += rates[i]
    assert all(used <= cap + 1e-6 for used, cap in zip(load, room, strict=True))
    for i in members:
        if binding[i] == CAPPED:
            assert abs(rates[i] - flows.uppers[i]) < 1e-9
            continue
        r = binding[i]
        assert r in flows.resources[i]
        assert abs(load[r] - room[r]) < 1e-6  # saturated
        mine = rates[i] / flows.weights[i]
        for j in members:
            if r in flows.resources[j]:
                assert rates[j] / flows.weights[j] <= mine + 1e-6


@st.composite
def counted_systems(
    draw: st.DrawFn,
) -> tuple[FlowTable, list[float]]:
    """Flows with counts, floors and shared resource tuples (as the allocator has)."""
    n_res = draw(st.integers(1, 5))
    paths = [
        tuple(draw(st.lists(st.integers(0, n_res - 1), min_size=0, max_size=4)))
        for _ in range(draw(st.integers(1, 3)))
    ]
    flows = FlowTable()
    for _ in range(draw(st.integers(1, 8))):
        flows.resources.append(draw(st.sampled_from(paths)))
        flows.weights.append(draw(st.sampled_from([0.5, 1.0, 2.0])))
        floor = float(draw(st.sampled_from([0, 0, 2, 6])))
        flows.floors.append(floor)
        flows.uppers.append(floor + draw(st.integers(0, 40)))
        flows.counts.append(draw(st.integers(1, 4)))
    room = [float(draw(st.integers(0, 200))) for _ in range(n_res)]
    return flows, room


@settings(max_examples=300, deadline=None)
@given(system=counted_systems())
def test_a_counted_flow_fills_like_its_copies(
    system: tuple[FlowTable, list[float]],
) -> None:
    """A flow with count k gets the rate each of k separate copies would get."""
    flows, room = system
    expanded = FlowTable()
    origin: list[int] = []
    for i, count in enumerate(flows.counts):
        for _ in range(count):
            expanded.resources.append(list(flows.resources[i]))  # own object each
            expanded.weights.append(flows.weights[i])
            expanded.floors.append(flows.floors[i])
            expanded.uppers.append(flows.uppers[i])
            origin.append(i)
    need = [0.0] * len(room)
    for i, res in enumerate(expanded.resources):
        for r in res:
            need[r] += expanded.floors[i]
    room = [max(cap, need[r]) for r, cap in enumerate(room)]  # floors must fit
    merged_room, copies_room = list(room), list(room)
    rates, binding = fill(range(len(flows.counts)), flows, merged_room)
    copy_rates, _ = fill(range(len(origin)), expanded, copies_room)
    for j, i in enumerate(origin):
        assert abs(copy_rates[j] - rates[i]) < 1e-6, (i, copy_rates[j], rates[i])
        assert flows.floors[i] - 1e-9 <= rates[i] <= flows.uppers[i] + 1e-9
        if binding[i] == CAPPED:
            assert abs(rates[i] - flows.uppers[i]) < 1e-9 or rates[i] == flows.floors[i]
    for a, b in zip(merged_room, copies_room, strict=True):
        assert abs(a - b) < 1e-6


def test_admit_counts_a_repeated_resource_once_per_occurrence() -> None:
    # A 3-phase load on a 1-phase panel lists its resource three times.
    resources = [(0, 0, 0), (0,), (1, 0)]
    room = [17.0, 10.0]
    admitted, blocked = admit([0, 1, 2], resources, [6.0, 6.0, 6.0], room)
    assert blocked == {0: 0}  # needs 18 A on r0: its partial hold is given back
    assert admitted == [1, 2]
    assert room == [5.0, 4.0]
