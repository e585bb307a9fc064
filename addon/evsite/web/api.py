"""The aiohttp application of the REST API (SPEC §11.2, §12.1).

``create_app(services, [module.register, ...])`` builds the app: the core
routes (health, OpenAPI, site, panels, chargers) plus every route module
given, one error middleware, bearer-token auth. This module is also the one
import point for route modules: registry, auth, input and error helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from evsite import __version__
from evsite.context import Services
from evsite.errors import StorageError
from evsite.web import api_site
from evsite.web.auth import (
    ADMIN_ONLY,
    ANY_ROLE,
    MANAGE_SITE,
    Authenticator,
    Principal,
    Role,
    authenticator_for,
    resolve_token,
)
from evsite.web.errors import (
    ApiError,
    ErrorMap,
    default_error_map,
    make_error_middleware,
)
from evsite.web.inputs import (
    json_body,
    json_object,
    query_int,
    query_param,
    read_json,
)
from evsite.web.openapi import build_openapi
from evsite.web.registry import (
    AUTH_KEY,
    ERRORS_KEY,
    SERVICES_KEY,
    ApiRoute,
    Registry,
    principal_of,
    services_of,
)

__all__ = [
    "ADMIN_ONLY",
    "ANY_ROLE",
    "AUTH_KEY",
    "MANAGE_SITE",
    "REGISTRY_KEY",
    "SERVICES_KEY",
    "ApiError",
    "ApiRoute",
    "Authenticator",
    "Principal",
    "Registry",
    "Role",
    "RouteModule",
    "create_app",
    "json_body",
    "json_object",
    "principal_of",
    "query_int",
    "query_param",
    "read_json",
    "resolve_token",
    "services_of",
]

RouteModule = Callable[[Registry], None]
"""A module's ``register(registry)`` function."""

REGISTRY_KEY = web.AppKey("evsite_registry", Registry)
_STARTED_KEY = web.AppKey("evsite_started", float)
_OPENAPI_KEY = web.AppKey("evsite_openapi", dict)

API_PREFIX = "/api/v1"
# Site and charger documents are small; a larger body is a mistake or abuse.
MAX_BODY_BYTES = 1024 * 1024
HEALTH_DB_TIMEOUT_S = 2.0

HEALTH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "version", "uptime_s", "db_ok"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "version": {"type": "string"},
        "uptime_s": {"type": "number", "minimum": 0},
        "db_ok": {"type": "boolean"},
        "site_id": {"type": "string"},
        "config_version": {"type": "integer"},
    },
}

routes = Registry()


@routes.get(
    f"{API_PREFIX}/health",
    summary="Service health",
    tag="system",
    public=True,
    response="status, version, uptime and database state; 503 when the database fails",
    response_schema=HEALTH_SCHEMA,
    errors=(503,),
)
async def get_health(request: web.Request) -> web.StreamResponse:
    """Health: always public, cheap, and honest about the database."""
    services = services_of(request)
    db_ok = True
    try:
        # A stuck database must not make the health check hang too.
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S):
            await services.db.fetchone("SELECT 1")
    except (StorageError, TimeoutError):
        db_ok = False
    body: dict[str, Any] = {
        "status": "ok" if db_ok else "degraded",
        "version": __version__,
        "uptime_s": round(services.clock.monotonic() - request.app[_STARTED_KEY], 3),
        "db_ok": db_ok,
        "site_id": services.site.config.site.id,
        "config_version": services.site.version,
    }
    return web.json_response(body, status=200 if db_ok else 503)


@routes.get(
    f"{API_PREFIX}/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="system",
    public=True,
)
async def get_openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI document (generated when the app was built)."""
    return web.json_response(request.app[_OPENAPI_KEY])


def register(registry: Registry) -> None:
    """Add the system routes (health, OpenAPI)."""
    registry.include(routes)


CORE_ROUTE_MODULES: tuple[RouteModule, ...] = (register, api_site.register)


def create_app(
    services: Services,
    extra_route_modules: Sequence[RouteModule] = (),
    *,
    authenticator: Authenticator | None = None,
    errors: ErrorMap | None = None,
) -> web.Application:
    """Build the REST application.

    Args:
        services: the running service's shared objects (stored under SERVICES_KEY).
        extra_route_modules: each subsystem's ``register(registry)``.
        authenticator: token → role mapping; default: ``services.token`` is admin.
        errors: exception → HTTP mapping; default: the project's exception tree.

    Returns:
        The application; the registry is ``app[REGISTRY_KEY]``.
    """
    registry = Registry()
    for module in (*CORE_ROUTE_MODULES, *extra_route_modules):
        module(registry)
    error_map = errors or default_error_map()
    app = web.Application(
        middlewares=[make_error_middleware(error_map)],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SERVICES_KEY] = services
    app[REGISTRY_KEY] = registry
    app[ERRORS_KEY] = error_map
    app[AUTH_KEY] = authenticator or authenticator_for(services.token or None)
    app[_STARTED_KEY] = services.clock.monotonic()
    app[_OPENAPI_KEY] = build_openapi(registry)
    registry.apply(app)
    return app
