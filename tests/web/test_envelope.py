"""Every failure answers with the one error envelope."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evsite.context import Services
from evsite.errors import ChargerError, ConflictError, NotFoundError
from evsite.web.api import ApiError, Registry, create_app

from .conftest import TOKEN, AiohttpClient

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
_routes = Registry()


@_routes.get("/api/v1/test/boom", summary="Fails", tag="test")
async def boom(request: web.Request) -> web.StreamResponse:
    raise RuntimeError("secret internal detail /etc/passwd")


@_routes.get("/api/v1/test/missing", summary="Not found", tag="test")
async def missing(request: web.Request) -> web.StreamResponse:
    raise NotFoundError("widget", "w-1")


@_routes.get("/api/v1/test/conflict", summary="Conflict", tag="test")
async def conflict(request: web.Request) -> web.StreamResponse:
    raise ConflictError("already there", path="id")


@_routes.get("/api/v1/test/charger", summary="Charger failed", tag="test")
async def charger_failed(request: web.Request) -> web.StreamResponse:
    raise ChargerError("CP-1 rejected the profile")


@_routes.get("/api/v1/test/teapot", summary="API error", tag="test")
async def teapot(request: web.Request) -> web.StreamResponse:
    raise ApiError(418, "teapot", "short and stout")


def _register(registry: Registry) -> None:
    registry.include(_routes)


@pytest.fixture
async def failing(
    aiohttp_client: AiohttpClient, services: Services
) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(services, [_register]), headers=HEADERS)


def _error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"status", "code", "message", "problems"}
    return error


async def test_unknown_route_is_404_in_envelope(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/api/v1/nope")
    assert resp.status == 404
    error = _error(await resp.json())
    assert error == {
        "status": 404,
        "code": "not_found",
        "message": "Not Found",
        "problems": [],
    }


async def test_wrong_method_is_405_in_envelope(api: TestClient[Any, Any]) -> None:
    resp = await api.post("/api/v1/health", json={})
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert _error(await resp.json())["code"] == "method_not_allowed"


async def test_unexpected_error_is_500_without_details(
    failing: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="evsite.web.errors"):
        resp = await failing.get("/api/v1/test/boom")
    assert resp.status == 500
    text = await resp.text()
    assert "secret" not in text
    assert _error(await resp.json())["code"] == "internal_error"
    assert "secret internal detail" in caplog.text  # the traceback is logged


@pytest.mark.parametrize(
    ("path", "status", "code", "problems"),
    [
        ("/api/v1/test/missing", 404, "not_found", []),
        (
            "/api/v1/test/conflict",
            409,
            "conflict",
            [{"path": "id", "message": "already there"}],
        ),
        ("/api/v1/test/charger", 502, "charger_error", []),
        ("/api/v1/test/teapot", 418, "teapot", []),
    ],
)
async def test_exception_tree_maps_to_status(
    failing: TestClient[Any, Any],
    path: str,
    status: int,
    code: str,
    problems: list[dict[str, str]],
) -> None:
    resp = await failing.get(path)
    assert resp.status == status
    error = _error(await resp.json())
    assert error["status"] == status
    assert error["code"] == code
    assert error["problems"] == problems
    assert error["message"]


async def test_route_registered_twice_is_refused() -> None:
    registry = Registry()
    registry.include(_routes)
    with pytest.raises(ValueError, match="twice"):
        registry.include(_routes)


async def test_oversized_body_is_413_in_envelope(api: TestClient[Any, Any]) -> None:
    body = b'{"alias": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    resp = await api.patch(
        "/api/v1/chargers/CP-1",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 413
    assert _error(await resp.json())["code"] == "payload_too_large"
