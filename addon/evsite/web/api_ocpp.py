"""REST routes of the OCPP central system (SPEC §4, §6, §12.1).

Sessions, per-charger status, what evsite installed on a charger, pending
chargers and their adoption, charger passwords, and commands::

    POST /api/v1/chargers/{charger_id}/commands/{command}   (JSON body per command)

Handlers validate the body with the schemas below, call one method of the
running :class:`~evsite.adapters.csms.server.CentralSystem`
(``services.components["csms"]``) and render its result. Register with
``create_app(services, [api_ocpp.register])``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

import voluptuous as vol
from aiohttp import web

from evsite.adapters.csms.server import CentralSystem
from evsite.config.access_schema import ID_TAG, aware_datetime
from evsite.config.validators import amps, boolean, integer, nullable, one_of, text
from evsite.control.ports import Authorizer, AuthPurpose, ProfilePurpose
from evsite.errors import ConflictError
from evsite.web.auth import ADMIN_ONLY, ANY_ROLE, MANAGE_SITE, Role
from evsite.web.errors import ApiError
from evsite.web.inputs import json_body, query_int
from evsite.web.registry import Registry, services_of

PREFIX = "/api/v1"
CHARGER = f"{PREFIX}/chargers/{{charger_id}}"
# Who may send commands to chargers: operators and field technicians.
OPERATE = MANAGE_SITE | {Role.STATION_MANAGER, Role.TECHNICIAN}
COMPONENT = "csms"

routes = Registry()

CONNECTOR = integer(0, 100)
ID_INT = integer(0, 2**31 - 1)
LEVEL = integer(0, 100)
TRIGGERS = (
    "BootNotification", "Heartbeat", "MeterValues", "StatusNotification",
    "FirmwareStatusNotification", "DiagnosticsStatusNotification",
    "LogStatusNotification", "TransactionEvent",
)  # fmt: skip

Command = Callable[[CentralSystem, str, dict[str, Any]], Awaitable[Any]]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _profile_purpose(value: Any) -> ProfilePurpose:
    return ProfilePurpose(one_of(ProfilePurpose)(value))


async def _authorized_remote_start(
    central: CentralSystem, charger_id: str, body: dict[str, Any]
) -> str:
    """Remote starts obey the same access rules as a tap (SPEC §3)."""
    found = central.services.components.get("authorizer")
    if found is not None:
        authorizer = cast(Authorizer, found)
        decision = await authorizer.authorize(
            charger_id, body["connector_id"], body["id_tag"], AuthPurpose.REMOTE_START
        )
        if not decision.accepted:
            raise ConflictError(
                f"tag '{body['id_tag']}' may not charge at '{charger_id}' now: "
                f"{decision.status.value} ({decision.rule})",
                "id_tag",
            )
    status: str = await central.commands.remote_start(
        charger_id, body["connector_id"], body["id_tag"]
    )
    return status


# name -> (body schema, action). Each action is one CentralSystem call.
COMMANDS: dict[str, tuple[vol.Schema, Command]] = {
    "remote_start": (
        vol.Schema({vol.Required("id_tag"): ID_TAG,
                    vol.Optional("connector_id", default=None): nullable(CONNECTOR)}),
        _authorized_remote_start,
    ),
    "remote_stop": (
        vol.Schema({vol.Required("transaction_id"): text(36)}),
        lambda cs, cid, b: cs.commands.remote_stop(cid, b["transaction_id"]),
    ),
    "reset": (
        vol.Schema({vol.Optional("hard", default=False): boolean}),
        lambda cs, cid, b: cs.commands.reset(cid, hard=b["hard"]),
    ),
    "unlock": (
        vol.Schema({vol.Required("connector_id"): integer(1, 100)}),
        lambda cs, cid, b: cs.commands.unlock(cid, b["connector_id"]),
    ),
    "change_availability": (
        vol.Schema({vol.Optional("connector_id", default=0): CONNECTOR,
                    vol.Required("operative"): boolean}),
        lambda cs, cid, b: cs.commands.change_availability(
            cid, b["connector_id"], operative=b["operative"]),
    ),
    "trigger_message": (
        vol.Schema({vol.Required("message"): vol.In(TRIGGERS),
                    vol.Optional("connector_id", default=None): nullable(CONNECTOR)}),
        lambda cs, cid, b: cs.commands.trigger_message(
            cid, b["message"], b["connector_id"]),
    ),
    "get_configuration": (
        vol.Schema({vol.Optional("keys", default=list): [text(128)]}),
        lambda cs, cid, b: cs.commands.get_configuration(cid, b["keys"]),
    ),
    "change_configuration": (
        vol.Schema({vol.Required("key"): text(128), vol.Required("value"): text(1000)}),
        lambda cs, cid, b: cs.commands.change_configuration(cid, b["key"], b["value"]),
    ),
    "set_charging_profile": (
        vol.Schema({vol.Required("connector_id"): CONNECTOR,
                    vol.Required("limit_a"): amps(0, 1000),
                    vol.Optional("purpose", default="tx_default"): _profile_purpose,
                    vol.Optional("transaction_id", default=None): nullable(text(36))}),
        lambda cs, cid, b: cs.commands.set_limit(
            cid, b["connector_id"], b["limit_a"], b["purpose"], b["transaction_id"]),
    ),
    "clear_charging_profile": (
        vol.Schema({vol.Optional("profile_id", default=None): nullable(ID_INT),
                    vol.Optional("connector_id", default=None): nullable(CONNECTOR),
                    vol.Optional("purpose", default=None): nullable(_profile_purpose),
                    vol.Optional("stack_level", default=None): nullable(LEVEL)}),
        lambda cs, cid, b: cs.commands.clear_charging_profile(cid, **b),
    ),
    "get_composite_schedule": (
        vol.Schema({vol.Required("connector_id"): CONNECTOR,
                    vol.Optional("duration_s", default=3600): integer(1, 7 * 86400),
                    vol.Optional("unit", default=None): nullable(vol.In(("A", "W")))}),
        lambda cs, cid, b: cs.commands.get_composite_schedule(
            cid, b["connector_id"], b["duration_s"], b["unit"]),
    ),
    "reserve_now": (
        vol.Schema({vol.Optional("connector_id", default=0): CONNECTOR,
                    vol.Required("reservation_id"): ID_INT,
                    vol.Required("id_tag"): ID_TAG,
                    vol.Required("expiry"): aware_datetime}),
        lambda cs, cid, b: cs.commands.reserve_now(
            cid, b["connector_id"], b["reservation_id"], b["id_tag"],
            datetime.fromisoformat(b["expiry"])),
    ),
    "cancel_reservation": (
        vol.Schema({vol.Required("reservation_id"): ID_INT}),
        lambda cs, cid, b: cs.commands.cancel_reservation(cid, b["reservation_id"]),
    ),
    "get_local_list_version": (
        vol.Schema({}),
        lambda cs, cid, b: cs.commands.get_local_list_version(cid),
    ),
    "data_transfer": (
        vol.Schema({vol.Required("vendor_id"): text(255),
                    vol.Optional("message_id", default=None): nullable(text(50)),
                    vol.Optional("data", default=None): object}),
        lambda cs, cid, b: cs.commands.data_transfer(
            cid, b["vendor_id"], b["message_id"], b["data"]),
    ),
    "set_display_message": (
        vol.Schema({vol.Required("line1"): text(15),
                    vol.Optional("line2", default=""): text(64)}),
        lambda cs, cid, b: cs.commands.set_display_message(cid, b["line1"], b["line2"]),
    ),
    "update_firmware": (
        vol.Schema({vol.Required("location"): text(512),
                    vol.Optional("retrieve_at", default=None): aware_datetime}),
        lambda cs, cid, b: cs.commands.update_firmware(
            cid, b["location"],
            _when(b["retrieve_at"]) or cs.services.clock.now()),
    ),
    "get_logs": (
        vol.Schema({vol.Required("location"): text(512)}),
        lambda cs, cid, b: cs.commands.get_logs(cid, b["location"]),
    ),
}  # fmt: skip

PASSWORD_BODY = vol.Schema({vol.Required("password"): text(40)})
ADOPT_BODY = vol.Schema({vol.Optional("password", default=None): nullable(text(40))})


def central_of(request: web.Request) -> CentralSystem:
    """The running central system (503 while it is not running)."""
    found = services_of(request).components.get(COMPONENT)
    if not isinstance(found, CentralSystem):
        raise ApiError(503, "unavailable", "the OCPP central system is not running")
    return found


@routes.get(
    f"{PREFIX}/sessions",
    summary="Charging sessions, newest first",
    tag="sessions",
    roles=ANY_ROLE,
    query=(("charger_id", "only this charger"), ("limit", "1-1000, default 100"),
           ("offset", "rows to skip")),
    response="charger_id, connector_id, id_tag, start, stop, energy_wh, "
    "session_number, stop_reason, transaction_id, flags, ...",
)  # fmt: skip
async def list_sessions(request: web.Request) -> web.StreamResponse:
    """Sessions (SPEC §12.1)."""
    central = central_of(request)
    rows = await central.admin.sessions(
        limit=query_int(request, "limit", 100, 1, 1000),
        offset=query_int(request, "offset", 0, 0, 10**9),
        charger_id=request.query.get("charger_id"),
    )
    return web.json_response(rows)


@routes.get(
    f"{CHARGER}/status",
    summary="Live OCPP status of a charger: link, connectors, meter values, firmware",
    tag="ocpp",
    roles=ANY_ROLE,
    errors=(404,),
)
async def charger_status(request: web.Request) -> web.StreamResponse:
    """Status, connectors, last meter values, identity from BootNotification."""
    central = central_of(request)
    return web.json_response(
        await central.admin.status(request.match_info["charger_id"])
    )


@routes.get(
    f"{CHARGER}/installed",
    summary="What evsite installed: charging profiles, reservations, local list",
    tag="ocpp",
    roles=ANY_ROLE,
    errors=(404,),
)
async def charger_installed(request: web.Request) -> web.StreamResponse:
    """Profiles by purpose and stack level, active reservations, list version."""
    central = central_of(request)
    return web.json_response(
        await central.admin.installed(request.match_info["charger_id"])
    )


@routes.post(
    f"{CHARGER}/commands/{{command}}",
    summary="Send a command to a charger (one call in flight per charger)",
    tag="ocpp",
    roles=OPERATE,
    errors=(400, 404, 502),
    description="Commands: " + ", ".join(sorted(COMMANDS)),
)
async def charger_command(request: web.Request) -> web.StreamResponse:
    """Run one command; 502 when the charger refuses, times out or is offline."""
    name = request.match_info["command"].replace("-", "_")
    if name not in COMMANDS:
        raise ApiError(404, "not_found", f"unknown command '{name}'; known: "
                       + ", ".join(sorted(COMMANDS)))  # fmt: skip
    schema, action = COMMANDS[name]
    body = await json_body(request, schema) if request.can_read_body else schema({})
    central = central_of(request)
    charger_id = request.match_info["charger_id"]
    result = await action(central, charger_id, body)
    return web.json_response(
        {"charger_id": charger_id, "command": name, "result": result}
    )


@routes.put(
    f"{CHARGER}/password",
    summary="Set the charger's OCPP Basic-auth password (stored hashed)",
    tag="ocpp",
    roles=ADMIN_ONLY,
    status=204,
    request_schema=PASSWORD_BODY,
    errors=(400,),
)
async def set_password(request: web.Request) -> web.StreamResponse:
    """Security profile 1/2 password (16-40 characters)."""
    body = await json_body(request, PASSWORD_BODY)
    await central_of(request).admin.set_password(
        request.match_info["charger_id"], body["password"]
    )
    return web.Response(status=204)


@routes.get(
    f"{PREFIX}/ocpp/pending",
    summary="Unknown chargers waiting to be adopted",
    tag="ocpp",
    roles=MANAGE_SITE,
)
async def list_pending(request: web.Request) -> web.StreamResponse:
    """Chargers that connected while unknown (site.allow_unknown_chargers)."""
    return web.json_response(await central_of(request).admin.pending())


@routes.post(
    f"{PREFIX}/ocpp/pending/{{charger_id}}/adopt",
    summary="Adopt a pending charger (optionally setting its password)",
    tag="ocpp",
    roles=ADMIN_ONLY,
    request_schema=ADOPT_BODY,
    errors=(400, 404),
)
async def adopt(request: web.Request) -> web.StreamResponse:
    """Accept the charger; it is asked to boot again and gets Accepted."""
    body = (
        await json_body(request, ADOPT_BODY)
        if request.can_read_body
        else ADOPT_BODY({})
    )
    result = await central_of(request).admin.adopt(
        request.match_info["charger_id"], body["password"]
    )
    return web.json_response(result)


def register(registry: Registry) -> None:
    """Add the OCPP routes to the app's registry."""
    registry.include(routes)
