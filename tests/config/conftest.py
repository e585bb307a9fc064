"""Small valid sites that the config tests mutate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "panel_config"


def us_site() -> dict[str, Any]:
    """A 240 V split-phase site: main -> garage-a, garage-b; four chargers."""
    return {
        "site": {
            "id": "oak-street",
            "name": "Oak Street Lofts",
            "timezone": "America/Denver",
            "org_type": "multifamily",
            "main_service": {"voltage": 240, "phases": 1, "main_breaker_a": 200},
        },
        "panels": [
            {"id": "main", "breaker_a": 200, "phases": 1, "voltage": 240},
            {
                "id": "garage-a",
                "parent": "main",
                "breaker_a": 100,
                "phases": 1,
                "voltage": 240,
            },
            {
                "id": "garage-b",
                "parent": "main",
                "breaker_a": 60,
                "phases": 1,
                "voltage": 240,
            },
        ],
        "chargers": [
            {
                "id": "A-01",
                "parent": "garage-a",
                "limit_a": 32,
                "scope": "private",
                "private_driver": "resident-1",
                "qr_alias": "oak-a-01",
            },
            {
                "id": "A-02",
                "parent": "garage-a",
                "limit_a": 32,
                "scope": "private",
                "qr_alias": "oak-a-02",
            },
            {
                "id": "B-01",
                "parent": "garage-b",
                "limit_a": 40,
                "scope": "groups",
                "driver_groups": ["staff"],
            },
            {"id": "B-02", "parent": "garage-b", "limit_a": 40, "scope": "public"},
        ],
        "driver_groups": [{"id": "staff", "name": "Building staff"}],
        "delay_windows": [
            {"id": "night", "start": "21:00", "end": "07:00", "scopes": ["private"]}
        ],
    }


def eu_site() -> dict[str, Any]:
    """A 400 V three-phase site with a single-phase sub-board on L2."""
    return {
        "site": {
            "id": "depot",
            "name": "Depot",
            "timezone": "Europe/Berlin",
            "currency": "EUR",
            "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 160},
        },
        "panels": [
            {
                "id": "main",
                "breaker_a": 160,
                "phases": 3,
                "voltage": 400,
                "meter": {"kind": "modbus_tcp", "host": "10.0.0.5"},
            },
            {
                "id": "ev",
                "parent": "main",
                "breaker_a": 63,
                "phases": 3,
                "voltage": 400,
            },
            {
                "id": "wall",
                "parent": "ev",
                "breaker_a": 32,
                "phases": 1,
                "voltage": 230,
                "phase_connection": "L2",
            },
        ],
        "chargers": [
            {"id": "E-1", "parent": "ev", "limit_a": 32, "phases": 3, "scope": "open"},
            {
                "id": "E-2",
                "parent": "ev",
                "limit_a": 32,
                "phase_connection": "L1",
                "scope": "account",
            },
            {"id": "W-1", "parent": "wall", "limit_a": 16, "scope": "account"},
        ],
    }


def na_site() -> dict[str, Any]:
    """A 208Y/120 V three-phase site: 208 V chargers wired line-to-line.

    main (3-phase) -> ev (3-phase) -> wall (1-phase 208 V on L2-L3).
    """
    three = {"phases": 3, "voltage": 208}
    return {
        "site": {
            "id": "harbor-office",
            "name": "Harbor Office",
            "timezone": "America/New_York",
            "main_service": {"voltage": 208, "phases": 3, "main_breaker_a": 400},
        },
        "panels": [
            {"id": "main", "breaker_a": 400, **three},
            {"id": "ev", "parent": "main", "breaker_a": 200, **three},
            {
                "id": "wall",
                "parent": "ev",
                "breaker_a": 60,
                "phases": 1,
                "voltage": 208,
                "phase_connection": "L2-L3",
            },
        ],
        "chargers": [
            {"id": "L-1", "parent": "ev", "limit_a": 32, "phase_connection": "L1-L2"},
            {"id": "L-2", "parent": "ev", "limit_a": 32, "phase_connection": "L2-L3"},
            {"id": "L-3", "parent": "ev", "limit_a": 32, "phase_connection": "L3-L1"},
            {"id": "W-1", "parent": "wall", "limit_a": 40},
            {"id": "W-2", "parent": "wall", "limit_a": 16, "phase_connection": "L2-L3"},
        ],
    }


@pytest.fixture
def us() -> dict[str, Any]:
    """A fresh valid single-phase site dict."""
    return us_site()


@pytest.fixture
def eu() -> dict[str, Any]:
    """A fresh valid three-phase site dict."""
    return eu_site()


@pytest.fixture(params=sorted(p.name for p in EXAMPLES_DIR.glob("*.yaml")))
def example(request: pytest.FixtureRequest) -> Path:
    """Each example site file in panel_config/."""
    path: Path = EXAMPLES_DIR / request.param
    return path
