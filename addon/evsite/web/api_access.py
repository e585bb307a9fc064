"""REST routes of access control (SPEC §3): drivers, tags, groups, policies, links, log.

Handlers are thin: validate the body with the access schemas, call one
service function, render the model. Waitlist routes live in
:mod:`evsite.web.api_waitlists` and are added by :func:`register` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from evsite.config import access_schema as schema
from evsite.config.access_models import GroupMember
from evsite.config.load import normalize
from evsite.config.validators import entity_id
from evsite.control import access_admin as admin
from evsite.control.access_service import AccessService
from evsite.errors import ConfigError, NotFoundError, Problem
from evsite.web import api_waitlists
from evsite.web.auth import ANY_ROLE, Role
from evsite.web.errors import ApiError
from evsite.web.inputs import json_body, json_object, query_int, query_param
from evsite.web.registry import Registry, services_of

API = "/api/v1"
ACCESS_WRITE = frozenset({Role.ADMIN, Role.NETWORK_MANAGER, Role.STATION_MANAGER})

routes = Registry()


def access_of(request: web.Request) -> AccessService:
    """The access service registered as ``components["access"]``."""
    found = services_of(request).components.get("access")
    if not isinstance(found, AccessService):
        raise ApiError(503, "unavailable", "access control is not running")
    return found


async def body_for(request: web.Request, node: Any, key: str, param: str) -> Any:
    """The body validated by ``node``; ``key`` defaults to the URL's and must match."""
    body = await json_object(request)
    wanted = request.match_info[param]
    body.setdefault(key, wanted)
    if body[key] != wanted:
        raise ConfigError(
            [Problem(key, f"{body[key]!r} does not match the URL ({wanted!r})")]
        )
    return normalize(node, body)


def member_dict(member: GroupMember) -> dict[str, Any]:
    """The JSON form of a group member."""
    return {"kind": member.member_kind.value, "id": member.member_id}


@dataclass(frozen=True, slots=True)
class Collection:
    """One CRUD collection of the access data."""

    plural: str
    param: str
    node: Any
    key: str
    render: Callable[[Any], dict[str, Any]]
    items: Callable[[AccessService], dict[str, Any]]
    save: Any
    delete: Any


def _crud(coll: Collection) -> None:
    """Register list, create, get, replace and delete of one collection."""
    plural, param, node, key = coll.plural, coll.param, coll.node, coll.key
    render, items, save, delete = coll.render, coll.items, coll.save, coll.delete
    base, item = f"{API}/{plural}", f"{API}/{plural}/{{{param}}}"
    kind = {"drivers": "driver", "tags": "tag"}.get(plural, "access_policy")

    async def list_items(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            [render(v) for v in items(access_of(request)).values()]
        )

    async def create_item(request: web.Request) -> web.StreamResponse:
        created = await save(
            access_of(request), await json_body(request, node), create=True
        )
        return web.json_response(render(created), status=201)

    async def get_item(request: web.Request) -> web.StreamResponse:
        found = items(access_of(request)).get(request.match_info[param])
        if found is None:
            raise NotFoundError(kind, request.match_info[param])
        return web.json_response(render(found))

    async def put_item(request: web.Request) -> web.StreamResponse:
        data = await body_for(request, node, key, param)
        return web.json_response(
            render(await save(access_of(request), data, create=False))
        )

    async def delete_item(request: web.Request) -> web.StreamResponse:
        await delete(access_of(request), request.match_info[param])
        return web.Response(status=204)

    tag = "access"
    for method, path, handler, summary, extra in (
        ("GET", base, list_items, f"List {plural}", {}),
        ("POST", base, create_item, f"Add one of {plural}",
         {"request_schema": node, "status": 201, "roles": ACCESS_WRITE,
          "errors": (409,)}),
        ("GET", item, get_item, f"One of {plural}", {"errors": (404,)}),
        ("PUT", item, put_item, f"Replace one of {plural}",
         {"request_schema": node, "roles": ACCESS_WRITE, "errors": (404, 409)}),
        ("DELETE", item, delete_item, f"Delete one of {plural}",
         {"status": 204, "roles": ACCESS_WRITE, "errors": (404, 409)}),
    ):  # fmt: skip
        listing = path == base and method == "GET"
        plural_name = plural.replace("-", "_")
        verb = method.lower()
        handler.__name__ = f"list_{plural_name}" if listing else f"{verb}_{kind}"
        routes.route(method, path, summary=summary, tag=tag, **extra)(handler)


_crud(Collection(
    "drivers", "driver_id", schema.DRIVER, "id", schema.driver_dict,
    lambda s: s.data.drivers, admin.save_driver, admin.delete_driver,
))  # fmt: skip
_crud(Collection(
    "tags", "id_tag", schema.TAG, "id_tag", schema.tag_dict,
    lambda s: s.data.tags, admin.save_tag, admin.delete_tag,
))  # fmt: skip
_crud(Collection(
    "access-policies", "policy_id", schema.POLICY, "id", schema.policy_dict,
    lambda s: s.data.policies, admin.save_policy, admin.delete_policy,
))  # fmt: skip


MEMBERS = f"{API}/groups/{{group_id}}/members"


@routes.get(MEMBERS, summary="Members of a driver group", tag="access", errors=(404,))
async def get_group_members(request: web.Request) -> web.StreamResponse:
    """Drivers and fleet vehicles in a group."""
    found = admin.members(access_of(request), request.match_info["group_id"])
    return web.json_response([member_dict(m) for m in found])


@routes.put(
    MEMBERS, summary="Replace a group's members", tag="access",
    request_schema=schema.MEMBERS, roles=ACCESS_WRITE, errors=(404, 409),
)  # fmt: skip
async def put_group_members(request: web.Request) -> web.StreamResponse:
    """Set the whole membership of a group."""
    data = await json_body(request, schema.MEMBERS)
    found = await admin.set_members(
        access_of(request), request.match_info["group_id"], data
    )
    return web.json_response([member_dict(m) for m in found])


@routes.post(
    MEMBERS, summary="Add a member to a group", tag="access", status=201,
    request_schema=schema.OWNER, roles=ACCESS_WRITE, errors=(404, 409),
)  # fmt: skip
async def post_group_member(request: web.Request) -> web.StreamResponse:
    """Add one driver or fleet vehicle."""
    data = await json_body(request, schema.OWNER)
    member = await admin.add_member(
        access_of(request), request.match_info["group_id"], data
    )
    return web.json_response(member_dict(member), status=201)


@routes.delete(
    f"{MEMBERS}/{{kind}}/{{member_id}}", summary="Remove a member from a group",
    tag="access", status=204, roles=ACCESS_WRITE, errors=(404,),
)  # fmt: skip
async def delete_group_member(request: web.Request) -> web.StreamResponse:
    """Remove one member."""
    info = request.match_info
    await admin.remove_member(
        access_of(request), info["group_id"], info["kind"], info["member_id"]
    )
    return web.Response(status=204)


CHARGER_ACCESS = f"{API}/chargers/{{charger_id}}/access"


@routes.get(
    CHARGER_ACCESS, summary="A charger's access policies", tag="access", errors=(404,)
)
async def get_charger_access(request: web.Request) -> web.StreamResponse:
    """The charger's "Usable by" and "Visible to" policies."""
    found = access_of(request).charger_access(request.match_info["charger_id"])
    return web.json_response(schema.charger_access_dict(found))


@routes.put(
    CHARGER_ACCESS, summary="Apply access policies to a charger", tag="access",
    request_schema=schema.CHARGER_ACCESS, roles=ACCESS_WRITE, errors=(404, 409),
)  # fmt: skip
async def put_charger_access(request: web.Request) -> web.StreamResponse:
    """Set "Usable by" and "Visible to"."""
    data = await json_body(request, schema.CHARGER_ACCESS)
    stored = await admin.set_charger_access(
        access_of(request), request.match_info["charger_id"], data
    )
    return web.json_response(schema.charger_access_dict(stored))


def link_dict(link: Any) -> dict[str, Any]:
    """The JSON form of a multifamily link."""
    return {
        "charger_id": link.charger_id,
        "driver_id": link.driver_id,
        "linked_at": link.linked_at.isoformat(),
    }


@routes.get(f"{API}/links", summary="Multifamily charger-driver links", tag="access")
async def get_links(request: web.Request) -> web.StreamResponse:
    """Every private charger's linked driver."""
    return web.json_response(
        [link_dict(v) for v in access_of(request).data.links.values()]
    )


LINK = f"{API}/chargers/{{charger_id}}/link"


@routes.put(
    LINK, summary="Link the driver of a private charger", tag="access",
    request_schema=schema.LINK, roles=ACCESS_WRITE, errors=(404, 409),
)  # fmt: skip
async def put_link(request: web.Request) -> web.StreamResponse:
    """Link one driver; a second driver is refused (409)."""
    data = await json_body(request, schema.LINK)
    link = await admin.link(access_of(request), request.match_info["charger_id"], data)
    return web.json_response(link_dict(link))


@routes.delete(
    LINK, summary="Unlink a private charger", tag="access", status=204,
    roles=ACCESS_WRITE, errors=(404,),
)  # fmt: skip
async def delete_link(request: web.Request) -> web.StreamResponse:
    """Remove the link."""
    await admin.unlink(access_of(request), request.match_info["charger_id"])
    return web.Response(status=204)


@routes.get(
    f"{API}/auth-log", summary="Authorization decisions, newest first", tag="access",
    query=(("charger_id", "only this charger"), ("id_tag", "only this tag"),
           ("before", "page: rows with a smaller id"),
           ("limit", "1-1000, default 100")),
    roles=ANY_ROLE,
)  # fmt: skip
async def get_auth_log(request: web.Request) -> web.StreamResponse:
    """Every decision: tag, charger, result and the rule that decided."""
    rows = await access_of(request).repo.auth_log(
        charger_id=query_param(request, "charger_id", entity_id, None),
        id_tag=query_param(request, "id_tag", schema.ID_TAG, None),
        before_id=query_int(request, "before", 0, 1, 2**62) or None,
        limit=query_int(request, "limit", 100, 1, 1000),
    )
    return web.json_response(rows)


def register(registry: Registry) -> None:
    """Add the access control and waitlist routes."""
    registry.include(routes)
    api_waitlists.register(registry)
