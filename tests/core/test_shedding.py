"""Load shedding state machine and external shed levels (SPEC §2.2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evsite.config.models import Phase
from evsite.core.shedding import (
    ExternalShed,
    ShedEventKind,
    ShedSource,
    ShedState,
    external_shed_events,
    kw_to_amps,
    step_meter_shed,
)

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3


def sample(
    state: ShedState | None,
    seconds: float,
    amps: dict[Phase, float],
    chargers: set[str],
) -> tuple[ShedState, list[ShedEventKind]]:
    new, events = step_meter_shed(
        state,
        panel_id="main",
        limit_a=80.0,
        measured_a=amps,
        hysteresis_a=2.0,
        now=T0 + timedelta(seconds=seconds),
        chargers=chargers,
        hold_s=30.0,
    )
    assert all(e.source is ShedSource.METER and e.panel_id == "main" for e in events)
    return new, [e.kind for e in events]


def test_under_the_limit_nothing_happens() -> None:
    state, kinds = sample(None, 0, {L1: 80.0, L2: 10.0}, {"c1"})
    assert (state.active, kinds) == (False, [])


def test_full_event_start_deepen_hold_end() -> None:
    state, kinds = sample(None, 0, {L1: 81.0, L2: 10.0}, {"c1"})
    assert kinds == [ShedEventKind.START]
    assert (state.active, state.since, state.depth_a) == (True, T0, 1.0)
    state, kinds = sample(state, 1, {L1: 79.0, L2: 84.5}, {"c2"})
    assert kinds == [ShedEventKind.DEEPEN]
    assert state.depth_a == 4.5
    assert state.chargers == {"c1", "c2"}
    # Below the limit but inside the hysteresis band: still shedding.
    state, kinds = sample(state, 2, {L1: 79.0, L2: 79.0}, set())
    assert (state.active, state.below_since, kinds) == (True, None, [])
    state, kinds = sample(state, 3, {L1: 78.0, L2: 70.0}, set())
    assert (state.active, state.below_since, kinds) == (
        True,
        T0 + timedelta(seconds=3),
        [],
    )
    # A relapse restarts the hold.
    state, kinds = sample(state, 10, {L1: 79.5}, set())
    assert (state.below_since, kinds) == (None, [])
    state, kinds = sample(state, 11, {L1: 70.0}, set())
    state, kinds = sample(state, 40, {L1: 70.0}, set())
    assert kinds == []
    new, events = step_meter_shed(
        state,
        panel_id="main",
        limit_a=80.0,
        measured_a={L1: 70.0},
        hysteresis_a=2.0,
        now=T0 + timedelta(seconds=41),
        chargers=(),
        hold_s=30.0,
    )
    assert [e.kind for e in events] == [ShedEventKind.END]
    end = events[0]
    assert (end.start, end.end, end.depth_a) == (T0, T0 + timedelta(seconds=41), 4.5)
    assert end.chargers == {"c1", "c2"}
    assert new == ShedState("main")


def test_per_phase_limits() -> None:
    limits = {L1: 80.0, L2: 40.0, L3: 80.0}
    state, events = step_meter_shed(
        None,
        panel_id="p",
        limit_a=limits,
        measured_a={L1: 50.0, L2: 41.0, L3: 0.0},
        hysteresis_a=1.0,
        now=T0,
        chargers={"x"},
    )
    assert state.active
    assert [(e.kind, e.depth_a) for e in events] == [(ShedEventKind.START, 1.0)]


@pytest.mark.parametrize(
    ("level", "available", "expected"),
    [
        (ExternalShed(), 50.0, 50.0),
        (ExternalShed(percent=25), 80.0, 60.0),
        (ExternalShed(percent=100), 80.0, 0.0),
        (ExternalShed(limit_a=16), 80.0, 16.0),
        (ExternalShed(limit_a=16), 10.0, 10.0),
        (ExternalShed(percent=50, limit_a=16), 80.0, 16.0),
        (ExternalShed(percent=50, limit_a=60), 80.0, 40.0),
    ],
)
def test_external_level_apply(
    level: ExternalShed, available: float, expected: float
) -> None:
    assert level.apply(available, 400.0, 3) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kw", "voltage", "phases", "amps"),
    [
        (11.0, 400.0, 3, 11_000 / (math.sqrt(3) * 400)),  # 15.88 A
        (22.0, 400.0, 3, 22_000 / (math.sqrt(3) * 400)),  # 31.75 A
        (10.0, 208.0, 3, 10_000 / (math.sqrt(3) * 208)),  # 27.76 A
        (7.36, 230.0, 1, 32.0),
        (9.6, 240.0, 1, 40.0),
        (0.0, 400.0, 3, 0.0),
    ],
)
def test_kw_to_amps(kw: float, voltage: float, phases: int, amps: float) -> None:
    assert kw_to_amps(kw, voltage, phases) == pytest.approx(amps)


@pytest.mark.parametrize(
    ("level", "voltage", "phases", "available", "expected"),
    [
        # 3-phase 400 V: 11 kW is 15.88 A per phase.
        (ExternalShed(limit_kw=11), 400.0, 3, 80.0, 15.877),
        (ExternalShed(limit_kw=11), 400.0, 3, 10.0, 10.0),
        # 1-phase 230 V: 2.3 kW is 10 A.
        (ExternalShed(limit_kw=2.3), 230.0, 1, 40.0, 10.0),
        # The tightest of the three wins.
        (ExternalShed(percent=50, limit_a=30, limit_kw=11), 400.0, 3, 80.0, 15.877),
        (ExternalShed(percent=90, limit_a=30, limit_kw=11), 400.0, 3, 80.0, 8.0),
        (ExternalShed(limit_a=12, limit_kw=11), 400.0, 3, 80.0, 12.0),
        (ExternalShed(limit_kw=0), 400.0, 3, 80.0, 0.0),
    ],
)
def test_external_level_kw(
    level: ExternalShed, voltage: float, phases: int, available: float, expected: float
) -> None:
    assert level.apply(available, voltage, phases) == pytest.approx(expected, abs=1e-3)


def test_external_level_cap_a() -> None:
    assert ExternalShed(percent=20).cap_a(400.0, 3) is None
    assert ExternalShed(limit_a=20).cap_a(400.0, 3) == 20.0
    assert ExternalShed(limit_kw=4.6).cap_a(230.0, 1) == pytest.approx(20.0)
    assert ExternalShed(limit_a=16, limit_kw=4.6).cap_a(230.0, 1) == 16.0


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"percent": 101}, "percent", "not within 0-100"),
        ({"percent": -1}, "percent", "negative"),
        ({"limit_a": -2}, "limit_a", "negative"),
        ({"limit_kw": -0.5}, "limit_kw", "negative"),
        ({"limit_kw": "11"}, "limit_kw", "not a number"),
        ({"limit_kw": True}, "limit_kw", "not a number"),
        ({"limit_kw": float("nan")}, "limit_kw", "not a finite number"),
        ({"limit_a": float("inf")}, "limit_a", "not a finite number"),
    ],
)
def test_external_level_rejects_nonsense(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}: .*{message}"):
        ExternalShed(**kwargs)


def test_external_shed_events() -> None:
    level = ExternalShed(percent=30)
    deeper = ExternalShed(percent=60)
    assert external_shed_events(None, None, T0, ()) == []
    assert external_shed_events(level, level, T0, ()) == []
    (start,) = external_shed_events(None, level, T0, {"a"})
    assert (start.kind, start.source, start.start, start.level) == (
        ShedEventKind.START,
        ShedSource.EXTERNAL,
        T0,
        level,
    )
    later = T0 + timedelta(minutes=10)
    (change,) = external_shed_events(level, deeper, later, {"a", "b"}, started=T0)
    assert (change.kind, change.start, change.end, change.level) == (
        ShedEventKind.DEEPEN,
        T0,
        None,
        deeper,
    )
    end_time = T0 + timedelta(hours=1)
    (end,) = external_shed_events(deeper, None, end_time, {"a"}, started=T0)
    assert (end.kind, end.start, end.end, end.chargers) == (
        ShedEventKind.END,
        T0,
        end_time,
        frozenset({"a"}),
    )
