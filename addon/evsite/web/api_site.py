"""REST routes of the site model: the site, its panels and chargers (SPEC §1).

Handlers are thin: read the body, call :class:`SiteService`, render. Every
write validates the whole site before anything is stored (see site_service).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from evsite.config import schema
from evsite.config.build import charger_dict, panel_dict, site_dict
from evsite.config.models import Charger
from evsite.control.site_service import CHARGERS, PANELS, Collection, site_service
from evsite.errors import Problem
from evsite.web.auth import ADMIN_ONLY, MANAGE_SITE, Role
from evsite.web.errors import problem_dicts
from evsite.web.inputs import json_object
from evsite.web.registry import ApiRoute, Registry, services_of

PREFIX = "/api/v1"
# Fields responses add that a client may send back unchanged (GET, edit, PUT).
READ_ONLY_FIELDS = ("warnings", "live", "has_password")
# Station managers look after chargers' settings, not the electrical tree.
MANAGE_CHARGERS = MANAGE_SITE | {Role.STATION_MANAGER}

_SITE_REF = {"$ref": "#/components/schemas/site"}
_PANEL_REF = {"$ref": "#/components/schemas/panel"}
_CHARGER_OUT = {
    "type": "object",
    "description": (
        "The charger's settings (as in the charger schema, without "
        "password_hash), has_password, and live: its connection and connectors "
        "as reported now (null before it first connects)."
    ),
}
_WARNINGS = "; the body also lists `warnings` about the new site"


def _written_schema(kind: str) -> dict[str, Any]:
    """A write's response: the entity's fields plus ``warnings``."""
    return {
        "type": "object",
        "description": f"The stored {kind} (as GET shows it) plus warnings",
        "required": ["warnings"],
        "properties": {
            "warnings": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Problem"},
            }
        },
    }


routes = Registry()


def charger_out(request: web.Request, charger: Charger) -> dict[str, Any]:
    """A charger as the API shows it: settings, no password hash, live state."""
    data = charger_dict(charger)
    data["has_password"] = data.pop("password_hash") is not None
    live = services_of(request).live.chargers.get(charger.id)
    data["live"] = live.as_dict() if live is not None else None
    return data


def _written(data: dict[str, Any], warnings: list[Problem]) -> dict[str, Any]:
    return {**data, "warnings": problem_dicts(warnings)}


async def _body(request: web.Request) -> dict[str, Any]:
    body = await json_object(request)
    return {k: v for k, v in body.items() if k not in READ_ONLY_FIELDS}


# The site


@routes.get(
    f"{PREFIX}/site",
    summary="The site",
    tag="site",
    response="The site",
    response_schema=_SITE_REF,
)
async def get_site(request: web.Request) -> web.StreamResponse:
    """The site's own fields."""
    return web.json_response(site_dict(site_service(services_of(request)).site()))


async def _update_site(request: web.Request, *, partial: bool) -> web.StreamResponse:
    service = site_service(services_of(request))
    written = await service.update_site(await _body(request), partial=partial)
    return web.json_response(_written(site_dict(written.value), written.warnings))


@routes.put(
    f"{PREFIX}/site",
    summary="Replace the site's fields",
    tag="site",
    request_schema=schema.SITE,
    roles=MANAGE_SITE,
    response="The stored site" + _WARNINGS,
    response_schema=_written_schema("site"),
)
async def put_site(request: web.Request) -> web.StreamResponse:
    """Replace the site's fields (omitted optional fields take their defaults)."""
    return await _update_site(request, partial=False)


@routes.patch(
    f"{PREFIX}/site",
    summary="Change some of the site's fields",
    tag="site",
    request_schema=schema.SITE,
    roles=MANAGE_SITE,
    response="The stored site" + _WARNINGS,
    response_schema=_written_schema("site"),
)
async def patch_site(request: web.Request) -> web.StreamResponse:
    """Change the top-level fields given; the others keep their values."""
    return await _update_site(request, partial=True)


# Panels and chargers share the same five operations.


def _render(request: web.Request, coll: Collection[Any], item: Any) -> dict[str, Any]:
    if coll is CHARGERS:
        return charger_out(request, item)
    return panel_dict(item)


class _EntityHandlers:
    """List, create, get, put, patch and delete for one collection."""

    def __init__(self, coll: Collection[Any], param: str) -> None:
        self.coll = coll
        self.param = param
        self.base = f"{PREFIX}/{coll.key}"
        self.item_path = f"{self.base}/{{{param}}}"

    async def list_items(self, request: web.Request) -> web.StreamResponse:
        """Every entity, in file order."""
        items = site_service(services_of(request)).list(self.coll)
        return web.json_response([_render(request, self.coll, i) for i in items])

    async def create_item(self, request: web.Request) -> web.StreamResponse:
        """Add an entity: 201 with its URL in Location."""
        written = await site_service(services_of(request)).create(
            self.coll, await _body(request)
        )
        body = _written(_render(request, self.coll, written.value), written.warnings)
        location = f"{self.base}/{written.value.id}"
        return web.json_response(body, status=201, headers={"Location": location})

    async def get_item(self, request: web.Request) -> web.StreamResponse:
        """One entity."""
        service = site_service(services_of(request))
        item = service.get(self.coll, request.match_info[self.param])
        return web.json_response(_render(request, self.coll, item))

    async def _update(self, request: web.Request, *, partial: bool) -> web.Response:
        written = await site_service(services_of(request)).update(
            self.coll,
            request.match_info[self.param],
            await _body(request),
            partial=partial,
        )
        body = _written(_render(request, self.coll, written.value), written.warnings)
        return web.json_response(body)

    async def put_item(self, request: web.Request) -> web.StreamResponse:
        """Replace an entity."""
        return await self._update(request, partial=False)

    async def patch_item(self, request: web.Request) -> web.StreamResponse:
        """Change some top-level fields of an entity."""
        return await self._update(request, partial=True)

    async def delete_item(self, request: web.Request) -> web.StreamResponse:
        """Delete an entity: 204."""
        service = site_service(services_of(request))
        await service.delete(self.coll, request.match_info[self.param])
        return web.Response(status=204)


def _entity_routes(
    coll: Collection[Any],
    param: str,
    *,
    request_schema: Any,
    item_schema: dict[str, Any],
    write_roles: frozenset[Role],
    create_roles: frozenset[Role],
) -> None:
    """Register the six operations of one collection."""
    h = _EntityHandlers(coll, param)
    kind, plural = coll.kind, coll.key
    add = functools.partial(_add, tag=plural, response_schema=item_schema)
    add(
        "GET",
        h.base,
        h.list_items,
        f"List {plural}",
        f"list_{plural}",
        response=f"Every {kind}, in file order",
        response_schema={"type": "array", "items": item_schema},
    )
    add(
        "POST",
        h.base,
        h.create_item,
        f"Add a {kind}",
        f"create_{kind}",
        request_schema=request_schema,
        status=201,
        roles=create_roles,
        response=f"The stored {kind} (Location: its URL){_WARNINGS}",
        response_schema=_written_schema(kind),
        errors=(409,),
    )
    add(
        "GET",
        h.item_path,
        h.get_item,
        f"One {kind}",
        f"get_{kind}",
        response=f"The {kind}",
        errors=(404,),
    )
    for method, handler, verb in (
        ("PUT", h.put_item, "Replace"),
        ("PATCH", h.patch_item, "Change some fields of"),
    ):
        add(
            method,
            h.item_path,
            handler,
            f"{verb} a {kind} (the id cannot change)",
            f"{method.lower()}_{kind}",
            request_schema=request_schema,
            roles=write_roles,
            response=f"The stored {kind}{_WARNINGS}",
            response_schema=_written_schema(kind),
            errors=(404,),
        )
    add(
        "DELETE",
        h.item_path,
        h.delete_item,
        f"Delete a {kind}",
        f"delete_{kind}",
        status=204,
        response="Deleted",
        roles=create_roles,
        errors=(404, 409),
        response_schema=None,
    )


def _add(
    method: str,
    path: str,
    handler: Handler,
    summary: str,
    operation_id: str,
    **options: Any,
) -> None:
    routes.add(
        ApiRoute(method, path, handler, summary, operation_id=operation_id, **options)
    )


_entity_routes(
    PANELS,
    "panel_id",
    request_schema=schema.PANEL,
    item_schema=_PANEL_REF,
    write_roles=MANAGE_SITE,
    create_roles=MANAGE_SITE,
)
_entity_routes(
    CHARGERS,
    "charger_id",
    request_schema=schema.CHARGER,
    item_schema=_CHARGER_OUT,
    write_roles=MANAGE_CHARGERS,
    create_roles=ADMIN_ONLY,
)


def register(registry: Registry) -> None:
    """Add the site, panel and charger routes."""
    registry.include(routes)
