"""Fixtures of the storage tests: databases and sites built in code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from evsite.adapters.storage.db import Database
from evsite.config.load import LoadedSite, parse_site


def rich_site() -> dict[str, Any]:
    """A site touching every stored field, with ids YAML would misread if unquoted."""
    return {
        "site": {
            "id": "garage-1",
            "name": "Garage Süd",
            "timezone": "Europe/Berlin",
            "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 250},
            "currency": "EUR",
            "location": {"address": "Hauptstr. 1", "latitude": 48.1, "longitude": 11.5},
            "org_category": None,
            "org_type": "multifamily",
            "just_charge_allowed": True,
        },
        "panels": [
            # Children listed before their parents: storage must keep file order.
            {
                "id": "on",
                "parent": "12:30",
                "breaker_a": 32,
                "phases": 1,
                "voltage": 230,
                "phase_connection": "L2",
            },
            {
                "id": "12:30",
                "name": "Sub panel",
                "parent": "main",
                "breaker_a": 63,
                "phases": 3,
                "voltage": 400,
                "continuous_factor": 1.0,
                "scheduled_limits": [
                    {"start": "16:00", "end": "24:00", "limit_a": 40},
                    {
                        "start": "22:00",
                        "end": "06:30",
                        "days": ["sat", "sun"],
                        "limit_a": 50,
                    },
                ],
            },
            {
                "id": "main",
                "breaker_a": 200,
                "phases": 3,
                "voltage": 400,
                "meter": {
                    "kind": "modbus_tcp",
                    "host": "10.0.0.5",
                    "register_map": "generic",
                    "registers": [
                        {"quantity": "current_l1", "address": 6},
                        {"quantity": "current_l2", "address": 8, "scale": 0.1},
                    ],
                },
            },
        ],
        "chargers": [
            {
                "id": "007",
                "parent": "on",
                "limit_a": 16,
                "alias": "Bay 7",
                "qr_alias": "bay7",
                "connectors": 2,
                "scope": "groups",
                "driver_groups": ["tenants", "null"],
                "overrides": {"delay_cancel": True, "offline_allocation_a": 8},
            },
            {
                "id": "1e3",
                "parent": "12:30",
                "limit_a": 32,
                "phases": 3,
                "scope": "public",
                "connectors": [{"id": 1, "payment_terminal": "pt-1"}],
                "location": {"address": "Level -1"},
                "priority": 3,
                "weight": 2.5,
                "make": "ACME",
                "firmware": "1.2.3",
            },
            {
                "id": "yes",
                "parent": "main",
                "limit_a": 16,
                "phase_connection": "L3",
                "min_current_a": 8,
            },
        ],
        "energy": {"min_current_a": 7, "rotation_minutes": 20},
        "driver_groups": [
            {"id": "tenants", "name": "Tenants"},
            {"id": "null", "name": "Null Corp", "description": "YAML's favourite"},
        ],
        "delay_windows": [
            {"id": "night", "start": "21:00", "end": "07:00", "scopes": ["public"]},
        ],
    }


def small_site(site_id: str = "home") -> dict[str, Any]:
    """One panel, one charger."""
    return {
        "site": {
            "id": site_id,
            "name": "Home",
            "timezone": "UTC",
            "main_service": {"voltage": 230, "phases": 1, "main_breaker_a": 63},
        },
        "panels": [{"id": "main", "breaker_a": 40, "phases": 1, "voltage": 230}],
        "chargers": [{"id": "wallbox", "parent": "main", "limit_a": 32}],
    }


def loaded(data: dict[str, Any]) -> LoadedSite:
    """Validate a site dict as an import would."""
    return parse_site(data)


BUILTIN_SITES: dict[str, Callable[[], dict[str, Any]]] = {
    "rich": rich_site,
    "small": small_site,
}


@pytest.fixture
def builtin_sites() -> dict[str, Callable[[], dict[str, Any]]]:
    """Site dicts by name, built fresh on each call."""
    return BUILTIN_SITES


@pytest.fixture
def rich() -> LoadedSite:
    """The rich site, validated."""
    return loaded(rich_site())


@pytest.fixture
def small() -> LoadedSite:
    """The small site, validated."""
    return loaded(small_site())


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database file in tmp_path."""
    database = await Database.open(tmp_path / "data" / "evsite.db")
    yield database
    await database.close()


async def table_contents(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the migration log, sorted."""
    names = [
        r[0]
        for r in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'"
            " ORDER BY name"
        )
    ]
    return {
        name: sorted(
            (tuple(r) for r in await db.fetchall(f'SELECT * FROM "{name}"')), key=repr
        )
        for name in names
    }


@pytest.fixture
def contents() -> Callable[[Database], Any]:
    """``await contents(db)``: every row of every table, for comparisons."""
    return table_contents
