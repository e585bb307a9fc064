"""The route registry: every subsystem adds its REST routes here.

One registry feeds both the aiohttp router and the OpenAPI document, so the
document cannot drift from what the server answers. A module registers its
routes like this::

    routes = Registry()

    @routes.get("/api/v1/sessions", summary="List sessions", tag="sessions")
    async def list_sessions(request: web.Request) -> web.StreamResponse:
        services = services_of(request)
        ...

and the app is built with ``create_app(services, [sessions.routes.register, ...])``
(any ``Callable[[Registry], None]`` works, e.g. a module-level ``register``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from evsite.context import Services
from evsite.web.auth import ANY_ROLE, Authenticator, Principal, Role, require
from evsite.web.errors import ErrorMap

SERVICES_KEY = web.AppKey("evsite_services", Services)
AUTH_KEY = web.AppKey("evsite_authenticator", Authenticator)
ERRORS_KEY = web.AppKey("evsite_error_map", ErrorMap)
# aiohttp < 3.13 (as Home Assistant pins) has no RequestKey: fall back to a string.
PRINCIPAL: Any = (
    web.RequestKey("evsite_principal", Principal)
    if hasattr(web, "RequestKey")
    else "evsite_principal"
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One REST operation: how to serve it, who may call it, how to document it.

    ``request_schema`` is the voluptuous schema the handler validates its body
    with (documented in OpenAPI); ``status``/``response`` describe success;
    ``errors`` lists the extra statuses the operation can answer with (401,
    403 and 500 are documented for every protected route anyway).
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    request_schema: Any = None
    response: str = "OK"
    status: int = 200
    response_schema: Mapping[str, Any] | None = None
    roles: frozenset[Role] = ANY_ROLE
    public: bool = False
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    description: str = ""
    operation_id: str = ""

    def __post_init__(self) -> None:
        """Refuse routes that could not be served or documented."""
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r} is not one of {METHODS}")
        if not self.path.startswith("/"):
            raise ValueError(f"route path {self.path!r} must start with '/'")
        if not self.summary or not self.tag:
            raise ValueError(f"{self.method} {self.path}: summary and tag are required")

    @property
    def key(self) -> tuple[str, str]:
        """``(METHOD, /path/{param})`` — unique in a registry."""
        return self.method, self.path

    @property
    def path_params(self) -> list[str]:
        """The names of ``{param}`` segments of the path."""
        return _PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        """The path without aiohttp regex suffixes (``{id:[0-9]+}`` → ``{id}``)."""
        return _PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def name(self) -> str:
        """The operation id: explicit, else the handler's name."""
        return self.operation_id or self.handler.__name__


@dataclass(slots=True)
class Registry:
    """Ordered, duplicate-free set of routes."""

    _routes: dict[tuple[str, str], ApiRoute] = field(default_factory=dict)

    def add(self, route: ApiRoute) -> ApiRoute:
        """Add one route; a second route with the same method and path is an error."""
        if route.key in self._routes:
            raise ValueError(f"route {route.method} {route.path} registered twice")
        self._routes[route.key] = route
        return route

    def include(self, other: Registry) -> None:
        """Add every route of ``other`` (a module's own table)."""
        for route in other:
            self.add(route)

    def register(self, registry: Registry) -> None:
        """Add this table's routes to ``registry`` (pass it to create_app)."""
        registry.include(self)

    def route(
        self, method: str, path: str, **options: Any
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`; options are :class:`ApiRoute` fields."""

        def decorate(handler: Handler) -> Handler:
            self.add(ApiRoute(method, path, handler, **options))
            return handler

        return decorate

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register a GET route."""
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register a POST route."""
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register a PUT route."""
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register a PATCH route."""
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register a DELETE route."""
        return self.route("DELETE", path, **options)

    def __iter__(self) -> Iterator[ApiRoute]:
        """Routes in registration order."""
        return iter(list(self._routes.values()))

    def __len__(self) -> int:
        """Number of routes."""
        return len(self._routes)

    def find(self, method: str, path: str) -> ApiRoute | None:
        """The route registered for ``method`` and ``path``, if any."""
        return self._routes.get((method, path))

    def apply(self, app: web.Application) -> None:
        """Add every route to ``app``'s router, guarded by auth and roles."""
        for route in self:
            app.router.add_route(route.method, route.path, _guard(route))


def _guard(route: ApiRoute) -> Handler:
    """Wrap the handler: authenticate and check the role unless public."""
    if route.public:
        return route.handler
    action = f"{route.method} {route.path}"

    async def guarded(request: web.Request) -> web.StreamResponse:
        principal = await request.app[AUTH_KEY].authenticate(request)
        require(principal, route.roles, action)
        request[PRINCIPAL] = principal
        return await route.handler(request)

    guarded.__name__ = route.handler.__name__
    guarded.__doc__ = route.handler.__doc__
    return guarded


def services_of(request: web.Request) -> Services:
    """The service context the app was built with."""
    return request.app[SERVICES_KEY]


def principal_of(request: web.Request) -> Principal | None:
    """Who made the request (``None`` on public routes)."""
    principal = request.get(PRINCIPAL)
    return principal if isinstance(principal, Principal) else None
