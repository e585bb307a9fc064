"""Fixtures for the REST API: a real site in a real SQLite file, and clients."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SITE_TABLES
from evsite.context import Services
from evsite.control.clock import ManualClock
from evsite.web.api import create_app
from tests.support import stored_services

TOKEN = "test-admin-token-0123456789"

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]

SITE: dict[str, Any] = {
    "site": {
        "id": "test-site",
        "name": "Test Site",
        "timezone": "Europe/Berlin",
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [
        {"id": "main", "name": "Main", "breaker_a": 100, "phases": 3, "voltage": 400},
        {
            "id": "garage",
            "name": "Garage",
            "parent": "main",
            "breaker_a": 63,
            "phases": 3,
            "voltage": 400,
        },
        {
            "id": "spare",
            "parent": "main",
            "breaker_a": 32,
            "phases": 3,
            "voltage": 400,
        },
    ],
    "chargers": [
        {"id": "CP-1", "parent": "garage", "limit_a": 32, "phases": 3},
        {"id": "CP-2", "parent": "garage", "limit_a": 16, "phases": 3, "connectors": 2},
    ],
}


def site_data() -> dict[str, Any]:
    """A fresh copy of the test site document."""
    return copy.deepcopy(SITE)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """A service context over a real database holding the test site."""
    services = await stored_services(
        tmp_path,
        site_data(),
        clock=ManualClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC)),
        token=TOKEN,
    )
    yield services
    await services.db.close()


@pytest.fixture
def app(services: Services) -> web.Application:
    """The REST app with only the core routes."""
    return create_app(services)


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient, app: web.Application
) -> TestClient[Any, Any]:
    """An unauthenticated client."""
    return await aiohttp_client(app)


@pytest.fixture
async def api(client: TestClient[Any, Any]) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the same server sending the admin token with every request."""
    authorised: TestClient[Any, Any] = TestClient(
        client.server, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    await authorised.start_server()
    yield authorised
    await authorised.session.close()


async def dump_tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every site table, for before/after comparisons."""
    return {
        table: [tuple(r) for r in await db.fetchall(f"SELECT * FROM {table}")]
        for table in SITE_TABLES
    }


def problem_paths(body: dict[str, Any]) -> list[str]:
    """The paths of the problems of an error envelope."""
    return [p["path"] for p in body["error"]["problems"]]
