"""The example sites in panel_config/ load cleanly and show what they claim."""

from __future__ import annotations

import dataclasses
import os
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from evsite.config.build import build_site_config, site_config_dict
from evsite.config.load import LoadedSite, load_site_file, parse_site
from evsite.config.models import (
    MeterKind,
    OrgType,
    Phase,
    Scope,
    ServiceSettings,
    SiteConfig,
)
from evsite.core.tree import PanelTree
from evsite.errors import ConfigError

from .conftest import EXAMPLES_DIR

SERVICE_KEYS = {f.name for f in dataclasses.fields(ServiceSettings)}
REPO = EXAMPLES_DIR.parent


def _load(name: str) -> LoadedSite:
    return load_site_file(EXAMPLES_DIR / name)


def _site_data(normalized: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in normalized.items() if k not in SERVICE_KEYS}


def _offline_loads(config: SiteConfig) -> dict[str, dict[Phase, float]]:
    """Σ of every charger's effective offline allocation, per panel and phase."""
    default = config.energy.offline_allocation_a or 0.0
    allocations = {
        c.id: c.overrides.offline_allocation_a
        if c.overrides.offline_allocation_a is not None
        else min(default, c.limit_a)
        for c in config.chargers
    }
    return PanelTree.from_config(config).load_per_phase(allocations)


def test_there_are_three_examples() -> None:
    names = sorted(p.name for p in EXAMPLES_DIR.glob("*.yaml"))
    assert names == [
        "apartment-building.yaml",
        "small-mixed.yaml",
        "workplace-garage.yaml",
    ]


def test_example_loads_without_problems(example: Path) -> None:
    loaded = load_site_file(example)
    assert loaded.warnings == []
    assert loaded.config.chargers


def test_example_round_trips_through_the_model(example: Path) -> None:
    normalized = load_site_file(example).normalized
    exported = site_config_dict(build_site_config(normalized))
    assert exported == _site_data(normalized)
    # export -> import gives the same site again (evsite export / import).
    assert _site_data(parse_site(exported).normalized) == exported


def test_example_offline_allocations_fit_every_panel(example: Path) -> None:
    config = load_site_file(example).config
    loads = _offline_loads(config)
    for panel in config.panels:
        assert max(loads[panel.id].values()) <= panel.capacity_a, panel.id


def test_apartment_building() -> None:
    config = _load("apartment-building.yaml").config
    site = config.site
    assert site.org_type is OrgType.MULTIFAMILY
    assert site.org_category == "Apartments/Condos"
    assert (site.main_service.voltage, site.main_service.phases) == (240, 1)
    assert site.main_service.main_breaker_a == config.root.breaker_a == 200
    assert config.root.meter is not None
    assert config.root.meter.kind is MeterKind.MODBUS_TCP
    subpanels = [p for p in config.panels if p.parent == config.root.id]
    assert len(subpanels) == 2
    private = [c for c in config.chargers if c.scope is Scope.PRIVATE]
    shared = [c for c in config.chargers if c.scope in (Scope.ACCOUNT, Scope.PUBLIC)]
    assert len(private) >= 24
    assert len(shared) == 2
    assert all(c.overrides.delay_cancel for c in shared)
    (night,) = config.delay_windows
    assert night.scopes == (Scope.PRIVATE,)
    assert (night.window.start, night.window.end) == (time(21), time(7))
    # The offline sums are exactly at capacity, as the file's comment works out.
    loads = _offline_loads(config)
    assert loads["garage-p1"][Phase.L1] == 80
    assert loads["ev-main"][Phase.L1] == 160


def test_workplace_garage() -> None:
    config = _load("workplace-garage.yaml").config
    assert config.site.org_category == "Employer"
    assert (config.site.main_service.voltage, config.site.main_service.phases) == (
        400,
        3,
    )
    assert len(config.chargers) >= 20
    tenants = {g.id for g in config.driver_groups}
    assert len(tenants) == 2
    for tenant in tenants:
        assert any(
            c.scope is Scope.GROUPS and c.driver_groups == (tenant,)
            for c in config.chargers
        )
    public = [c for c in config.chargers if c.scope is Scope.PUBLIC]
    assert len(public) == 2
    tree = PanelTree.from_config(config)
    single = [c for c in config.chargers if c.phases == 1]
    assert {tree.charger_phases(c)[0] for c in single} == set(Phase)
    assert any(c.phases == 3 for c in config.chargers)
    loads = _offline_loads(config)
    assert loads["lv-main"] == {Phase.L1: 74, Phase.L2: 86, Phase.L3: 68}


def test_small_mixed_site() -> None:
    loaded = _load("small-mixed.yaml")
    config = loaded.config
    assert any(c.circuit_sharing for c in config.chargers)
    assert {c.scope for c in config.chargers} >= {Scope.OPEN, Scope.ACCOUNT}
    limits = [s for p in config.panels for s in p.scheduled_limits]
    assert [(s.window.start, s.window.end) for s in limits] == [(time(16), time(21))]
    assert config.service.mqtt.enabled
    assert loaded.normalized["mqtt"]["host"] == "core-mosquitto"


def test_unquoted_yaml_times_mean_hours_and_minutes(tmp_path: Path) -> None:
    text = (EXAMPLES_DIR / "apartment-building.yaml").read_text(encoding="utf-8")
    quoted = 'start: "21:00"\n    end: "07:00"'
    assert quoted in text
    path = tmp_path / "site.yaml"
    # YAML 1.1 reads 21:00 as 1260 and 7:00 as 420; 07:00 stays a string.
    path.write_text(text.replace(quoted, "start: 21:00\n    end: 7:00"))
    (window,) = load_site_file(path).normalized["delay_windows"]
    assert (window["start"], window["end"]) == ("21:00", "07:00")


@pytest.mark.parametrize(
    ("written", "normalized"),
    [("0:30", "00:30"), ("24:00", "24:00"), ("23:59", "23:59"), ('"6:05"', "06:05")],
)
def test_yaml_time_forms(written: str, normalized: str) -> None:
    text = (EXAMPLES_DIR / "apartment-building.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text.replace('end: "07:00"', f"end: {written}"))
    assert parse_site(data).normalized["delay_windows"][0]["end"] == normalized


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_site_file(tmp_path / "nowhere.yaml")
    assert info.value.problems[0].path.endswith("nowhere.yaml")


def test_no_file_but_the_addon_is_named_config() -> None:
    # The Supervisor treats every config.yaml|yml|json as an add-on.
    found = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
        found += [
            Path(folder, f).relative_to(REPO).as_posix()
            for f in files
            if f in ("config.yaml", "config.yml", "config.json")
        ]
    assert set(found) <= {"addon/config.yaml"}
