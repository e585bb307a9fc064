"""Live state -> allocation snapshot: demands, charger states, measurements."""

from __future__ import annotations

from datetime import timedelta

from evsite.config.load import parse_site
from evsite.config.models import Phase, SiteConfig
from evsite.control.energy_snapshot import (
    ControlInputs,
    Overrides,
    SnapshotMemo,
    build_demands,
    build_snapshot,
    ev_phases,
    wants_current,
)
from evsite.control.live import (
    ChargerLink,
    ConnectorState,
    ConnectorStatus,
    LiveState,
    MeterSample,
)
from evsite.core.tree import PanelTree
from tests.control.energy_fakes import START, site_data


def _setup() -> tuple[SiteConfig, LiveState, ControlInputs]:
    data = site_data(metered=True)
    data["chargers"].append(
        {"id": "CP-4", "parent": "main", "limit_a": 32, "phase_connection": "L2"}
    )
    config = parse_site(data).config
    live = LiveState()
    inputs = ControlInputs(
        tree=PanelTree.from_config(config),
        offline_allocations={"CP-1": 20, "CP-2": 20, "CP-3": 16, "CP-4": 10},
    )
    return config, live, inputs


def test_wants_current_needs_a_transaction_and_a_plugged_status() -> None:
    conn = ConnectorState(1, ConnectorStatus.CHARGING)
    assert not wants_current(conn)
    conn.transaction_id = "7"
    assert wants_current(conn)
    for status in (ConnectorStatus.FINISHING, ConnectorStatus.FAULTED):
        conn.status = status
        assert not wants_current(conn)


def test_ev_phases_from_the_reading() -> None:
    assert ev_phases({}) is None
    assert ev_phases({"L1": 0.2, "L2": 0.1, "L3": 0.0}) is None
    assert ev_phases({"L1": 15.8, "L2": 0.3, "L3": 0.2}) == 1
    assert ev_phases({"L1": 15.8, "L2": 16.0, "L3": 15.9}) == 3


def test_snapshot_maps_links_defaults_and_overrides() -> None:
    config, live, inputs = _setup()
    live.charger("CP-1").link = ChargerLink.CONNECTED
    conn = live.charger("CP-1").connector(1)
    conn.status, conn.transaction_id = ConnectorStatus.CHARGING, "5"
    live.charger("CP-2").link = ChargerLink.UNREACHABLE
    live.charger("CP-3").link = ChargerLink.CONNECTED
    live.charger("CP-3").controllable = False
    inputs = ControlInputs(
        tree=inputs.tree,
        offline_allocations=inputs.offline_allocations,
        defaults_in_force={"CP-2": 12.0, "CP-3": None},
        overrides=Overrides(caps={("CP-1", 1): 13.0}, charge_now={("CP-1", 1)}),
    )
    snap, delayed = build_snapshot(config, live, START, inputs)
    assert list(snap.demands) == [("CP-1", 1)]
    demand = snap.demands[("CP-1", 1)]
    assert (demand.ev_max_a, demand.charge_now, demand.delayed) == (13.0, True, False)
    assert delayed == {}
    states = snap.chargers
    assert states["CP-1"].online
    assert states["CP-1"].offline_allocation_a == 20
    # Unreachable is offline; what it accepted as TxDefault is what it holds.
    assert not states["CP-2"].online
    assert states["CP-2"].offline_allocation_a == 12.0
    # Rejected its TxDefault: when it goes offline nothing holds it below 16 A.
    assert not states["CP-3"].controllable
    assert states["CP-3"].offline_allocation_a == 16
    # Never connected: offline, with its configured offline allocation.
    assert not states["CP-4"].online
    assert states["CP-4"].offline_allocation_a == 10


def test_a_closed_chargers_session_is_access_closed() -> None:
    config, live, inputs = _setup()  # CP-4 has the default scope: closed
    for cid in ("CP-1", "CP-4"):
        live.charger(cid).link = ChargerLink.CONNECTED
        conn = live.charger(cid).connector(1)
        conn.status, conn.transaction_id = ConnectorStatus.CHARGING, cid
    snap, _ = build_snapshot(config, live, START, inputs)
    assert snap.demands[("CP-4", 1)].access_closed
    assert snap.demands[("CP-4", 1)].active  # still plugged in with a session
    assert not snap.demands[("CP-1", 1)].access_closed  # public


def test_measurement_subtracts_only_fresh_charging_draw_on_the_right_phase() -> None:
    config, live, inputs = _setup()
    one = live.charger("CP-4").connector(1)  # 1-phase on L2, reports its line as L1
    one.status, one.current_a, one.last_meter_at = (
        ConnectorStatus.CHARGING,
        {"L1": 10.0},
        START,
    )
    three = live.charger("CP-1").connector(1)
    three.status, three.current_a = (
        ConnectorStatus.CHARGING,
        {"L1": 5, "L2": 6, "L3": 7},
    )
    three.last_meter_at = START - timedelta(seconds=30)
    old = live.charger("CP-2").connector(1)  # stale reading: counts as 0
    old.status, old.current_a = ConnectorStatus.CHARGING, {"L1": 9, "L2": 9, "L3": 9}
    old.last_meter_at = START - timedelta(minutes=5)
    live.record_meter("main", MeterSample(START, {"L1": 40, "L2": 50, "L3": 60}))
    snap, _ = build_snapshot(config, live, START, inputs)
    measured = snap.measurements["main"]
    assert measured.amps == {Phase.L1: 40, Phase.L2: 50, Phase.L3: 60}
    assert measured.controlled_a == {Phase.L1: 5, Phase.L2: 16, Phase.L3: 7}
    # CP-1 accepted 5.5 A since its last reading: it counts at most that.
    capped = ControlInputs(
        tree=inputs.tree,
        offline_allocations=inputs.offline_allocations,
        limits_in_force={("CP-1", 1): 5.5},
    )
    snap, _ = build_snapshot(config, live, START, capped)
    assert snap.measurements["main"].controlled_a == {
        Phase.L1: 5,
        Phase.L2: 15.5,
        Phase.L3: 5.5,
    }


def test_a_line_to_line_charger_is_taken_back_on_both_of_its_lines() -> None:
    data = site_data(metered=True)
    data["chargers"].append(
        {"id": "CP-5", "parent": "main", "limit_a": 32, "phase_connection": "L3-L1"}
    )
    config = parse_site(data).config
    live = LiveState()
    inputs = ControlInputs(tree=PanelTree.from_config(config), offline_allocations={})
    pair = live.charger("CP-5").connector(1)  # reports its one current as L1
    pair.status, pair.current_a, pair.last_meter_at = (
        ConnectorStatus.CHARGING,
        {"L1": 12.0},
        START,
    )
    live.record_meter("main", MeterSample(START, {"L1": 40, "L2": 50, "L3": 60}))
    snap, _ = build_snapshot(config, live, START, inputs)
    assert snap.measurements["main"].controlled_a == {Phase.L3: 12.0, Phase.L1: 12.0}


def test_delay_window_marks_demands_and_charge_now_lifts_it() -> None:
    data = site_data()
    data["delay_windows"] = [{"id": "night", "start": "21:00", "end": "07:00"}]
    config = parse_site(data).config
    live = LiveState()
    conn = live.charger("CP-1").connector(1)
    conn.status, conn.transaction_id = ConnectorStatus.SUSPENDED_EVSE, "1"
    inputs = ControlInputs(tree=PanelTree.from_config(config), offline_allocations={})
    snap, delayed = build_snapshot(config, live, START, inputs)
    assert snap.demands[("CP-1", 1)].delayed
    until = delayed[("CP-1", 1)]
    assert until is not None
    assert until.isoformat() == "2026-01-05T21:00:00+01:00"
    lifted = ControlInputs(
        tree=inputs.tree,
        offline_allocations={},
        overrides=Overrides(delay_cancel=frozenset({"CP-1"})),
    )
    snap, delayed = build_snapshot(config, live, START, lifted)
    assert not snap.demands[("CP-1", 1)].delayed
    assert delayed == {}


def test_the_memo_reuses_a_demand_only_while_its_inputs_are_equal() -> None:
    config, live, _ = _setup()
    memo = SnapshotMemo()
    conn = live.charger("CP-1").connector(1)
    conn.status, conn.transaction_id = ConnectorStatus.CHARGING, "7"
    conn.session_energy_wh = 1200.0
    key = ("CP-1", 1)
    first, _ = build_demands(config, live, START, Overrides(), memo)
    again, _ = build_demands(config, live, START, Overrides(), memo)
    assert again[key] is first[key]  # nothing changed: the same object
    conn.session_energy_wh = 1500.0
    later, _ = build_demands(config, live, START, Overrides(), memo)
    assert later[key] is not first[key]
    fresh, _ = build_demands(config, live, START, Overrides())
    assert later == fresh  # equal to a demand built from scratch
    capped, _ = build_demands(config, live, START, Overrides(caps={key: 10.0}), memo)
    assert capped[key].ev_max_a == 10.0
    # A new configuration (even an equal one) drops every memoised demand.
    reloaded = parse_site(site_data(metered=True)).config
    after_reload, _ = build_demands(reloaded, live, START, Overrides(), memo)
    assert after_reload[key] is not capped[key]
    assert after_reload[key] == fresh[key]


def test_a_reading_counts_up_to_exactly_the_freshness_bound_either_side() -> None:
    """|sample time - reading time| <= 60 s counts; one microsecond more does not."""
    config, live, inputs = _setup()
    memo = SnapshotMemo()
    inputs = ControlInputs(
        tree=inputs.tree, offline_allocations=inputs.offline_allocations, memo=memo
    )
    conn = live.charger("CP-1").connector(1)
    conn.status, conn.current_a = ConnectorStatus.CHARGING, {"L1": 5, "L2": 5}
    live.record_meter("main", MeterSample(START, {"L1": 40, "L2": 50, "L3": 60}))
    bound = timedelta(seconds=60)
    tick = timedelta(microseconds=1)
    for seen, counted in (
        (START - bound, True),
        (START + bound, True),  # a charger clock ahead of the meter's
        (START - bound - tick, False),
        (START + bound + tick, False),
    ):
        conn.last_meter_at = seen
        snap, _ = build_snapshot(config, live, START, inputs)
        expected = {Phase.L1: 5, Phase.L2: 5} if counted else {}
        assert snap.measurements["main"].controlled_a == expected, seen
