"""Bad input on every write route: a clear error naming the field, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from evsite.context import Services

from .conftest import dump_tables, problem_paths

MAIN_SERVICE = {"voltage": 400, "phases": 3, "main_breaker_a": 100}
SITE = {"id": "test-site", "name": "S", "timezone": "UTC", "main_service": MAIN_SERVICE}
PANEL = {"id": "p9", "parent": "main", "breaker_a": 40, "phases": 3, "voltage": 400}
CHARGER = {"id": "CP-9", "parent": "garage", "limit_a": 16, "phases": 3}

# (method, path, body, status, a problem path the error must name)
CASES: list[tuple[str, str, Any, int, str]] = [
    # site
    ("PUT", "/api/v1/site", {**SITE, "timezone": "Mars/Base"}, 400, "timezone"),
    ("PUT", "/api/v1/site", {"name": "no id"}, 400, "id"),
    ("PUT", "/api/v1/site", {**SITE, "colour": "red"}, 400, "colour"),
    (
        "PATCH",
        "/api/v1/site",
        {"main_service": {**MAIN_SERVICE, "phases": 2}},
        400,
        "main_service.phases",
    ),
    # A valid site field that breaks another entity keeps that entity's site path.
    (
        "PATCH",
        "/api/v1/site",
        {"main_service": {**MAIN_SERVICE, "main_breaker_a": 50}},
        400,
        "panels[0].breaker_a",
    ),
    ("PATCH", "/api/v1/site", {"currency": "euro"}, 400, "currency"),
    # panels
    ("POST", "/api/v1/panels", {**PANEL, "breaker_a": "lots"}, 400, "breaker_a"),
    ("POST", "/api/v1/panels", {**PANEL, "parent": "nope"}, 400, "parent"),
    (
        "POST",
        "/api/v1/panels",
        {k: v for k, v in PANEL.items() if k != "id"},
        400,
        "id",
    ),
    ("POST", "/api/v1/panels", {**PANEL, "id": "garage"}, 409, "id"),
    (
        "PUT",
        "/api/v1/panels/garage",
        {**PANEL, "id": "garage", "voltage": 999},
        400,
        "voltage",
    ),
    ("PUT", "/api/v1/panels/garage", {**PANEL, "id": "other"}, 400, "id"),
    ("PUT", "/api/v1/panels/garage", {"parent": "main"}, 400, "breaker_a"),
    ("PATCH", "/api/v1/panels/garage", {"parent": "nope"}, 400, "parent"),
    ("PATCH", "/api/v1/panels/garage", {"parent": "garage"}, 400, "parent"),
    (
        "PATCH",
        "/api/v1/panels/garage",
        {"continuous_factor": 2},
        400,
        "continuous_factor",
    ),
    ("DELETE", "/api/v1/panels/garage", None, 409, ""),
    ("DELETE", "/api/v1/panels/main", None, 409, ""),
    # chargers
    ("POST", "/api/v1/chargers", {**CHARGER, "limit_a": 80}, 400, "limit_a"),
    ("POST", "/api/v1/chargers", {"id": "CP-9", "limit_a": 16}, 400, "parent"),
    ("POST", "/api/v1/chargers", {**CHARGER, "id": "CP-1"}, 409, "id"),
    ("POST", "/api/v1/chargers", {**CHARGER, "connectors": 9}, 400, "connectors"),
    (
        "POST",
        "/api/v1/chargers",
        {**CHARGER, "overrides": {"offline_allocation_a": 32}},
        400,
        "overrides.offline_allocation_a",
    ),
    (
        "PUT",
        "/api/v1/chargers/CP-1",
        {"parent": "garage", "limit_a": 5},
        400,
        "limit_a",
    ),
    ("PUT", "/api/v1/chargers/CP-1", {**CHARGER, "id": "CP-2"}, 400, "id"),
    ("PATCH", "/api/v1/chargers/CP-1", {"limit_a": 100}, 400, "limit_a"),
    ("PATCH", "/api/v1/chargers/CP-1", {"phases": 1}, 400, "phase_connection"),
    ("PATCH", "/api/v1/chargers/CP-1", {"scope": "everyone"}, 400, "scope"),
    ("PATCH", "/api/v1/chargers/CP-2", {"qr_alias": "q", "parent": "x"}, 400, "parent"),
    ("DELETE", "/api/v1/chargers/CP-404", None, 404, ""),
]


def _case_id(case: tuple[str, str, Any, int, str]) -> str:
    method, path, _, status, field = case
    return f"{method} {path} {status} {field}"


@pytest.mark.parametrize("case", CASES, ids=map(_case_id, CASES))
async def test_bad_write_is_refused_and_stores_nothing(
    api: TestClient[Any, Any],
    services: Services,
    case: tuple[str, str, Any, int, str],
) -> None:
    method, path, body, status, field = case
    before = await dump_tables(services.db)
    config, version = services.site.config, services.site.version
    resp = await api.request(method, path, json=body)
    assert resp.status == status, await resp.text()
    error = (await resp.json())["error"]
    assert error["status"] == status
    assert error["message"]
    if field:
        assert field in problem_paths({"error": error}), error
    assert await dump_tables(services.db) == before
    assert services.site.config is config
    assert services.site.version == version


async def test_every_problem_is_reported_at_once(api: TestClient[Any, Any]) -> None:
    body = {"id": "bad id!", "parent": "garage", "limit_a": 1, "phases": 2}
    resp = await api.post("/api/v1/chargers", json=body)
    assert resp.status == 400
    paths = problem_paths(await resp.json())
    assert {"id", "limit_a", "phases"} <= set(paths)


async def test_delete_conflict_names_the_dependents(api: TestClient[Any, Any]) -> None:
    resp = await api.delete("/api/v1/panels/garage")
    assert resp.status == 409
    message = (await resp.json())["error"]["message"]
    assert "'CP-1'" in message
    assert "'CP-2'" in message


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/panels/nope"),
        ("PUT", "/api/v1/panels/nope"),
        ("PATCH", "/api/v1/panels/nope"),
        ("DELETE", "/api/v1/panels/nope"),
        ("GET", "/api/v1/chargers/nope"),
        ("PUT", "/api/v1/chargers/nope"),
        ("PATCH", "/api/v1/chargers/nope"),
        ("DELETE", "/api/v1/chargers/nope"),
    ],
)
async def test_unknown_id_is_404(
    api: TestClient[Any, Any], services: Services, method: str, path: str
) -> None:
    before = await dump_tables(services.db)
    resp = await api.request(method, path, json={"limit_a": 16})
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "not_found"
    assert "'nope'" in error["message"]
    assert await dump_tables(services.db) == before


@pytest.mark.parametrize(
    "case",
    [
        (
            b'{"limit_a": 16,',
            {"Content-Type": "application/json"},
            400,
            "malformed_json",
        ),
        (b"", {"Content-Type": "application/json"}, 400, "missing_body"),
        (
            b"limit_a=16",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (
            b'{"limit_a": 16}',
            {"Content-Type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "invalid_input"),
        (b"null", {"Content-Type": "application/json"}, 400, "invalid_input"),
    ],
)
async def test_body_that_is_not_a_json_object(
    api: TestClient[Any, Any],
    services: Services,
    case: tuple[bytes, dict[str, str], int, str],
) -> None:
    data, headers, status, code = case
    before = await dump_tables(services.db)
    for method, path in (
        ("PATCH", "/api/v1/chargers/CP-1"),
        ("POST", "/api/v1/panels"),
    ):
        resp = await api.request(method, path, data=data, headers=headers)
        assert resp.status == status
        assert (await resp.json())["error"]["code"] == code
    assert await dump_tables(services.db) == before
