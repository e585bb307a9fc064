"""REST routes of waitlists (SPEC §5): policies, assignments, queues, joins, logs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from evsite.config import access_schema as schema
from evsite.config.load import normalize
from evsite.config.validators import entity_id
from evsite.control import waitlist_admin as admin
from evsite.control.waitlist_service import WaitlistService
from evsite.errors import ConfigError, NotFoundError, Problem
from evsite.web.auth import Role
from evsite.web.errors import ApiError
from evsite.web.inputs import json_body, json_object, query_int, query_param
from evsite.web.registry import Registry, services_of

API = "/api/v1"
WRITE = frozenset({Role.ADMIN, Role.NETWORK_MANAGER, Role.STATION_MANAGER})
POLICIES = f"{API}/waitlist-policies"
POLICY = f"{POLICIES}/{{policy_id}}"
ASSIGNMENTS = f"{API}/waitlist-assignments"
TAG = "waitlists"

routes = Registry()


def waitlists_of(request: web.Request) -> WaitlistService:
    """The waitlist service registered as ``components["waitlists"]``."""
    found = services_of(request).components.get("waitlists")
    if not isinstance(found, WaitlistService):
        raise ApiError(503, "unavailable", "waitlists are not running")
    return found


@routes.get(POLICIES, summary="List waitlist policies", tag=TAG)
async def list_waitlist_policies(request: web.Request) -> web.StreamResponse:
    """Every waitlist policy."""
    found = waitlists_of(request).policies.values()
    return web.json_response([schema.waitlist_policy_dict(p) for p in found])


@routes.post(
    POLICIES, summary="Add a waitlist policy", tag=TAG, status=201,
    request_schema=schema.WAITLIST_POLICY, roles=WRITE, errors=(409,),
)  # fmt: skip
async def create_waitlist_policy(request: web.Request) -> web.StreamResponse:
    """Create a policy."""
    data = await json_body(request, schema.WAITLIST_POLICY)
    policy = await admin.save_policy(waitlists_of(request), data, create=True)
    return web.json_response(schema.waitlist_policy_dict(policy), status=201)


@routes.get(POLICY, summary="One waitlist policy", tag=TAG, errors=(404,))
async def get_waitlist_policy(request: web.Request) -> web.StreamResponse:
    """The policy."""
    policy_id = request.match_info["policy_id"]
    policy = waitlists_of(request).policies.get(policy_id)
    if policy is None:
        raise NotFoundError("waitlist policy", policy_id)
    return web.json_response(schema.waitlist_policy_dict(policy))


@routes.put(
    POLICY, summary="Replace a waitlist policy", tag=TAG,
    request_schema=schema.WAITLIST_POLICY, roles=WRITE, errors=(404,),
)  # fmt: skip
async def put_waitlist_policy(request: web.Request) -> web.StreamResponse:
    """Replace the policy (the id comes from the URL)."""
    body = await json_object(request)
    body.setdefault("id", request.match_info["policy_id"])
    data = await _validated(body, request.match_info["policy_id"])
    policy = await admin.save_policy(waitlists_of(request), data, create=False)
    return web.json_response(schema.waitlist_policy_dict(policy))


async def _validated(body: dict[str, Any], wanted: str) -> Any:
    if body["id"] != wanted:
        raise ConfigError([Problem("id", f"{body['id']!r} does not match the URL")])
    return normalize(schema.WAITLIST_POLICY, body)


@routes.delete(
    POLICY, summary="Delete a waitlist policy", tag=TAG, status=204, roles=WRITE,
    errors=(404, 409),
)  # fmt: skip
async def delete_waitlist_policy(request: web.Request) -> web.StreamResponse:
    """Delete a policy applied nowhere."""
    await admin.delete_policy(waitlists_of(request), request.match_info["policy_id"])
    return web.Response(status=204)


@routes.get(ASSIGNMENTS, summary="Where waitlist policies apply", tag=TAG)
async def list_waitlist_assignments(request: web.Request) -> web.StreamResponse:
    """Charger and station-group assignments."""
    found = await waitlists_of(request).repo.assignments()
    return web.json_response([schema.assignment_dict(a) for a in found])


@routes.put(
    ASSIGNMENTS, summary="Apply a waitlist policy to a charger or station group",
    tag=TAG, request_schema=schema.ASSIGNMENT, roles=WRITE, errors=(409,),
)  # fmt: skip
async def put_waitlist_assignment(request: web.Request) -> web.StreamResponse:
    """Apply (or re-apply) a policy."""
    data = await json_body(request, schema.ASSIGNMENT)
    item = await admin.assign(waitlists_of(request), data)
    return web.json_response(schema.assignment_dict(item))


@routes.delete(
    f"{ASSIGNMENTS}/{{target_kind}}/{{target_id}}", summary="Remove a waitlist policy",
    tag=TAG, status=204, roles=WRITE, errors=(404,),
)  # fmt: skip
async def delete_waitlist_assignment(request: web.Request) -> web.StreamResponse:
    """Remove the policy of a charger or station group."""
    info = request.match_info
    await admin.unassign(waitlists_of(request), info["target_kind"], info["target_id"])
    return web.Response(status=204)


@routes.get(
    f"{API}/waitlists", summary="Every queue with its drivers and ports", tag=TAG
)
async def list_waitlists(request: web.Request) -> web.StreamResponse:
    """Station view of every queue."""
    service = waitlists_of(request)
    return web.json_response(
        [admin.queue_view(service, q) for q in sorted(service.assigned)]
    )


@routes.get(
    f"{API}/chargers/{{charger_id}}/waitlist", summary="A charger's queue", tag=TAG,
    errors=(404,),
)  # fmt: skip
async def get_charger_waitlist(request: web.Request) -> web.StreamResponse:
    """Drivers in queue, number waiting, each port's state."""
    service = waitlists_of(request)
    charger_id = request.match_info["charger_id"]
    charger = service.services.site.config.charger(charger_id)
    if charger is None:
        raise NotFoundError("charger", charger_id)
    queue = service.queue_of(charger)
    if queue is None:
        raise NotFoundError("waitlist of charger", charger_id)
    return web.json_response(admin.queue_view(service, queue))


@routes.post(
    f"{API}/waitlists/join", summary="Queue a driver", tag=TAG, status=201,
    request_schema=schema.JOIN, roles=WRITE, errors=(404, 409),
)  # fmt: skip
async def join_waitlist(request: web.Request) -> web.StreamResponse:
    """Join a charger's or station group's queue (one queue per driver)."""
    data = await json_body(request, schema.JOIN)
    entry = await waitlists_of(request).join(
        data["driver_id"],
        charger_id=data.get("charger_id"),
        group=data.get("station_group"),
    )
    return web.json_response(entry, status=201)


DRIVER = f"{API}/waitlists/drivers/{{driver_id}}"


@routes.get(DRIVER, summary="Where a driver stands", tag=TAG, errors=(404,))
async def get_waitlist_driver(request: web.Request) -> web.StreamResponse:
    """Waiting (position), pending, or holding a port until a time."""
    return web.json_response(
        waitlists_of(request).entry_view(request.match_info["driver_id"])
    )


@routes.delete(
    DRIVER, summary="Take a driver out of their queue", tag=TAG, status=204,
    roles=WRITE, errors=(404,),
)  # fmt: skip
async def leave_waitlist(request: web.Request) -> web.StreamResponse:
    """Leave the queue (a held port is given up)."""
    await waitlists_of(request).leave(request.match_info["driver_id"])
    return web.Response(status=204)


async def _log(request: web.Request, table: str, key: str) -> web.StreamResponse:
    value = query_param(request, key, entity_id if key == "driver_id" else str, None)
    rows = await waitlists_of(request).repo.log(
        table, key=key if value else None, value=value,
        limit=query_int(request, "limit", 100, 1, 1000),
    )  # fmt: skip
    return web.json_response(rows)


@routes.get(
    f"{API}/waitlists/driver-log", summary="Waitlist driver log", tag=TAG,
    query=(("driver_id", "only this driver"), ("limit", "1-1000")),
)  # fmt: skip
async def get_waitlist_driver_log(request: web.Request) -> web.StreamResponse:
    """Joins, turns, no-shows, max-time notices per driver, newest first."""
    return await _log(request, "waitlist_driver_log", "driver_id")


@routes.get(
    f"{API}/waitlists/event-log", summary="Waitlist event log", tag=TAG,
    query=(("queue_id", "e.g. charger:CP-1"), ("limit", "1-1000")),
)  # fmt: skip
async def get_waitlist_event_log(request: web.Request) -> web.StreamResponse:
    """Every waitlist event (reservations, stops included), newest first."""
    return await _log(request, "waitlist_event_log", "queue_id")


def register(registry: Registry) -> None:
    """Add the waitlist routes."""
    registry.include(routes)
