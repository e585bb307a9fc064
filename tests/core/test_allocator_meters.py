"""Allocator rules for metered panels, schedules and shedding (SPEC §2.1, §2.2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from evsite.config.models import EnergySettings, Panel
from evsite.core.allocation_model import (
    PanelMeasurement,
    Snapshot,
)
from evsite.core.allocator import allocate
from evsite.core.shedding import ExternalShed, ShedState
from evsite.core.tree import PanelTree
from tests.core.test_allocator_table import (
    L1,
    L2,
    METER,
    NOW,
    charger,
    limits,
    panel,
    run,
    want,
)


def metered(now: datetime, amps: float, controlled: float, age_s: float = 1.0) -> Any:
    return {
        "p": PanelMeasurement(
            "p",
            dict.fromkeys((L1,), amps),
            now - timedelta(seconds=age_s),
            dict.fromkeys((L1,), controlled),
        )
    }


def test_metered_panel_subtracts_unmetered_load() -> None:
    panels = [panel("p", 100, phases=1, meter=METER)]
    chargers = [charger("a", "p", 80)]
    result = run(panels, chargers, want("a"), measurements=metered(NOW, 50, 20))
    assert limits(result)["a"] == (50.0, "panel:p")  # 80 - (50 - 20)
    assert result.panels["p"].measured_a == {L1: 50}
    lagging = run(panels, chargers, want("a"), measurements=metered(NOW, 10, 20))
    assert limits(lagging)["a"] == (80.0, "charger_max")  # never negative load


@pytest.mark.parametrize("age_s", [3.5, 60.0, -10.0])
def test_stale_meter_freezes_limits_at_previous_and_offline(age_s: float) -> None:
    panels = [panel("p", 100, phases=1, meter=METER)]
    chargers = [charger("a", "p", 80), charger("b", "p", 80)]
    energy = EnergySettings()
    tree = PanelTree.build(panels, chargers)
    fresh = metered(NOW, 20, 0)
    before = allocate(Snapshot(tree, energy, NOW, want("a"), measurements=fresh))
    assert limits(before)["a"] == (60.0, "panel:p")
    later = NOW + timedelta(seconds=2)
    stale = metered(later, 0, 0, age_s=age_s)
    after = allocate(
        Snapshot(
            tree,
            energy,
            later,
            want("a", "b"),
            measurements=stale,
            previous=before,
            offline_allocations={"a": 32.0, "b": 32.0},
        )
    )
    assert limits(after) == {"a": (32.0, "stale_meter"), "b": (0.0, "stale_meter")}
    assert after.panels["p"].stale


def test_missing_sample_or_phase_is_stale() -> None:
    panels = [panel("p", 100, meter=METER)]
    chargers = [charger("a", "p", 32, phases=3)]
    assert limits(run(panels, chargers, want("a")))["a"] == (0.0, "stale_meter")
    partial = {"p": PanelMeasurement("p", {L1: 1.0, L2: 1.0}, NOW)}
    result = run(panels, chargers, want("a"), measurements=partial)
    assert result.panels["p"].stale


def test_scheduled_limit_lowers_capacity() -> None:
    result = run(
        [panel("p", 100, phases=1)],
        [charger("a", "p", 80)],
        want("a"),
        scheduled_limits_a={"p": 24.0},
    )
    assert limits(result)["a"] == (24.0, "panel:p")
    assert result.panels["p"].capacity_a == {L1: 24.0}


def test_active_meter_shed_keeps_hysteresis_free() -> None:
    panels = [panel("p", 100, phases=1, meter=METER)]
    shed = {"p": ShedState("p", active=True, since=NOW)}
    result = run(
        panels,
        [charger("a", "p", 80)],
        want("a"),
        measurements=metered(NOW, 50, 20),
        shedding=shed,
        energy=EnergySettings(shed_restore_hysteresis_a=2.0),
    )
    assert limits(result)["a"] == (48.0, "load_shed")
    assert result.panels["p"].shed


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (ExternalShed(percent=50), 40.0),
        (ExternalShed(limit_a=10), 10.0),
        (ExternalShed(percent=50, limit_a=30), 30.0),
        (ExternalShed(percent=100), 0.0),
        (ExternalShed(percent=50, panel_id="sub"), 24.0),
    ],
)
def test_external_shed(level: ExternalShed, expected: float) -> None:
    panels = [panel("p", 100, phases=1), panel("sub", 60, "p", phases=1)]
    result = run(panels, [charger("a", "sub", 80)], want("a"), external_shed=level)
    assert limits(result)["a"] == (expected, "load_shed")


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        # Root 3-phase 400 V: 11 kW = 11000 / (√3 · 400) = 15.88 A per phase,
        # rounded down to a tenth.
        (ExternalShed(limit_kw=11), 15.8),
        (ExternalShed(limit_kw=11, percent=90), 8.0),  # 10 % of 80 A is tighter
        (ExternalShed(limit_kw=11, limit_a=12), 12.0),
        # The 1-phase 230 V sub-panel: 2.3 kW = 10 A.
        (ExternalShed(limit_kw=2.3, panel_id="sub"), 10.0),
    ],
)
def test_external_shed_kw(level: ExternalShed, expected: float) -> None:
    panels = [
        Panel("p", "p", 100, phases=3, voltage=400),
        Panel("sub", "sub", 60, phases=1, voltage=230, parent="p"),
    ]
    one = charger("a", "p", 80, phases=3)
    if level.panel_id == "sub":
        one = charger("a", "sub", 32)
    result = run(panels, [one], want("a"), external_shed=level)
    assert limits(result)["a"] == (expected, "load_shed")
