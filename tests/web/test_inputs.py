"""Input helpers for route modules: JSON bodies and query parameters."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evsite.config import schema
from evsite.config.validators import choice
from evsite.context import Services
from evsite.web.api import Registry, create_app, json_body, query_int, query_param

from .conftest import TOKEN, AiohttpClient

_routes = Registry()


@_routes.get("/api/v1/test/page", summary="Paged", tag="test")
async def paged(request: web.Request) -> web.StreamResponse:
    limit = query_int(request, "limit", 50, 1, 500)
    order = query_param(request, "order", choice(["asc", "desc"]), "desc")
    return web.json_response({"limit": limit, "order": order})


@_routes.post(
    "/api/v1/test/groups",
    summary="Body",
    tag="test",
    request_schema=schema.DRIVER_GROUP,
)
async def post_group(request: web.Request) -> web.StreamResponse:
    return web.json_response(await json_body(request, schema.DRIVER_GROUP))


@pytest.fixture
async def test_api(
    aiohttp_client: AiohttpClient, services: Services
) -> TestClient[Any, Any]:
    app = create_app(services, [_routes.register])
    return await aiohttp_client(app, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"limit": 50, "order": "desc"}),
        ("?limit=7&order=asc", {"limit": 7, "order": "asc"}),
        ("?limit=+500", {"limit": 500, "order": "desc"}),
    ],
)
async def test_query_parameters(
    test_api: TestClient[Any, Any], query: str, expected: dict[str, Any]
) -> None:
    resp = await test_api.get(f"/api/v1/test/page{query}")
    assert await resp.json() == expected


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=1.5", "limit"),
        ("?order=sideways", "order"),
    ],
)
async def test_bad_query_parameter_is_named(
    test_api: TestClient[Any, Any], query: str, path: str
) -> None:
    resp = await test_api.get(f"/api/v1/test/page{query}")
    assert resp.status == 400
    problems = (await resp.json())["error"]["problems"]
    assert [p["path"] for p in problems] == [path]
    assert problems[0]["message"]


async def test_json_body_normalises_with_the_config_schema(
    test_api: TestClient[Any, Any],
) -> None:
    resp = await test_api.post("/api/v1/test/groups", json={"id": "g1", "name": "G"})
    assert await resp.json() == {"id": "g1", "name": "G", "description": ""}
    resp = await test_api.post("/api/v1/test/groups", json={"id": "g 1", "size": 2})
    assert resp.status == 400
    paths = [p["path"] for p in (await resp.json())["error"]["problems"]]
    assert paths == ["id", "name", "size"]
