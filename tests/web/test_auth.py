"""Bearer-token authentication and roles."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evsite.config.models import ApiSettings, ServiceSettings
from evsite.context import Services
from evsite.web.api import (
    ADMIN_ONLY,
    ANY_ROLE,
    Principal,
    Registry,
    Role,
    create_app,
    principal_of,
    resolve_token,
)
from evsite.web.auth import authenticator_for

from .conftest import TOKEN, AiohttpClient

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def test_health_is_public(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["db_ok"] is True
    assert body["site_id"] == "test-site"
    assert body["uptime_s"] >= 0


async def test_openapi_is_public(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"bearer {TOKEN}x"],
)
async def test_protected_route_refuses_bad_credentials(
    client: TestClient[Any, Any], header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await client.get("/api/v1/site", headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["error"]["status"] == 401
    assert body["error"]["code"] == "unauthorized"
    assert TOKEN not in await resp.text()


async def test_right_token_is_accepted(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/site", headers=HEADERS)
    assert resp.status == 200
    lower = await client.get(
        "/api/v1/site", headers={"Authorization": f"bearer {TOKEN}"}
    )
    assert lower.status == 200


async def test_no_configured_token_refuses_everything(
    aiohttp_client: AiohttpClient, services: Services
) -> None:
    services.token = ""
    client = await aiohttp_client(create_app(services))
    assert (await client.get("/api/v1/site", headers=HEADERS)).status == 401
    assert (
        await client.get("/api/v1/site", headers={"Authorization": "Bearer "})
    ).status == 401
    assert (await client.get("/api/v1/health")).status == 200


_test_routes = Registry()


@_test_routes.get("/api/v1/test/whoami", summary="Who am I", tag="test", roles=ANY_ROLE)
async def whoami(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    assert principal is not None
    return web.json_response({"name": principal.name, "role": principal.role})


@_test_routes.post("/api/v1/test/admin", summary="Admin", tag="test", roles=ADMIN_ONLY)
async def admin_only(request: web.Request) -> web.StreamResponse:
    return await whoami(request)


def _role_routes(registry: Registry) -> None:
    registry.include(_test_routes)


async def test_roles_are_checked_per_route(
    aiohttp_client: AiohttpClient, services: Services
) -> None:
    auth = authenticator_for(TOKEN)
    auth.add_token("viewer-token", Principal("viewer", Role.VIEWER))

    async def lookup(token: str) -> Principal | None:
        return Principal("tech", Role.TECHNICIAN) if token == "from-db" else None

    auth.add_resolver(lookup)
    client = await aiohttp_client(
        create_app(services, [_role_routes], authenticator=auth)
    )
    viewer = {"Authorization": "Bearer viewer-token"}
    resp = await client.get("/api/v1/test/whoami", headers=viewer)
    assert await resp.json() == {"name": "viewer", "role": "viewer"}
    resp = await client.post("/api/v1/test/admin", headers=viewer)
    assert resp.status == 403
    body = await resp.json()
    assert body["error"]["code"] == "forbidden"
    assert "admin" in body["error"]["message"]
    resp = await client.get(
        "/api/v1/test/whoami", headers={"Authorization": "Bearer from-db"}
    )
    assert (await resp.json())["role"] == "technician"
    resp = await client.post("/api/v1/test/admin", headers=HEADERS)
    assert (await resp.json())["role"] == "admin"
    # A viewer cannot add a charger (SPEC §1: admin only).
    resp = await client.post("/api/v1/chargers", headers=viewer, json={})
    assert resp.status == 403


def test_token_comes_from_config_then_environment() -> None:
    with_token = ServiceSettings(api=ApiSettings(token="from-config"))
    assert resolve_token(with_token, {"EVSITE_TOKEN": "env"}) == "from-config"
    assert resolve_token(ServiceSettings(), {"EVSITE_TOKEN": "env"}) == "env"
    assert resolve_token(ServiceSettings(), {}) is None
    assert resolve_token(ServiceSettings(), {"EVSITE_TOKEN": ""}) is None


def test_empty_token_cannot_be_added() -> None:
    with pytest.raises(ValueError, match="empty"):
        authenticator_for(None).add_token("", Principal("x", Role.ADMIN))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {"get"}),
        (Role.TECHNICIAN, {"get"}),
        (Role.STATION_MANAGER, {"get", "patch_charger"}),
        (Role.INSTALLER, {"get", "patch_charger", "patch_panel"}),
        (Role.NETWORK_MANAGER, {"get", "patch_charger", "patch_panel"}),
        (Role.ADMIN, {"get", "patch_charger", "patch_panel", "create_charger"}),
    ],
)
async def test_site_routes_check_roles(
    aiohttp_client: AiohttpClient,
    services: Services,
    role: Role,
    allowed: set[str],
) -> None:
    auth = authenticator_for(None)
    auth.add_token("t", Principal(role.value, role))
    client = await aiohttp_client(
        create_app(services, authenticator=auth), headers={"Authorization": "Bearer t"}
    )
    calls = {
        "get": client.get("/api/v1/chargers/CP-1"),
        "patch_charger": client.patch("/api/v1/chargers/CP-1", json={"alias": "A"}),
        "patch_panel": client.patch("/api/v1/panels/spare", json={"name": "S"}),
        "create_charger": client.post(
            "/api/v1/chargers",
            json={"id": "CP-5", "parent": "spare", "limit_a": 16, "phases": 3},
        ),
    }
    for name, call in calls.items():
        resp = await call
        expected = {"create_charger": 201}.get(name, 200) if name in allowed else 403
        assert resp.status == expected, (name, await resp.text())
