"""REST routes of energy management (SPEC §2, §12.1): allocation, shedding, overrides.

Handlers are thin: validate the body with the config schemas, call one
:class:`EnergyController` method, render. Register with
``create_app(services, [api_energy.register])``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from evsite.config import energy_schema
from evsite.config.models import Phase
from evsite.config.validators import integer
from evsite.control.energy import COMPONENT, EnergyController
from evsite.core.allocation_model import Allocation, ConnectorLimit, PanelAllocation
from evsite.web.auth import ANY_ROLE, MANAGE_SITE, Role
from evsite.web.errors import ApiError
from evsite.web.inputs import json_body, query_param
from evsite.web.registry import Registry, services_of

PREFIX = "/api/v1"
CHARGER = f"{PREFIX}/chargers/{{charger_id}}"
CONNECTOR = f"{CHARGER}/connectors/{{connector_id:[0-9]+}}"
# Station managers run the chargers day to day: charge now, delay cancel, caps.
OPERATE = MANAGE_SITE | {Role.STATION_MANAGER}

routes = Registry()


def controller_of(request: web.Request) -> EnergyController:
    """The running energy controller (503 while it is not running)."""
    found = services_of(request).components.get(COMPONENT)
    if not isinstance(found, EnergyController):
        raise ApiError(503, "unavailable", "energy management is not running")
    return found


def _phases(values: dict[Phase, float] | None, per_line: bool) -> Any:
    """Per line on a panel of several lines (3-phase, line pair), else a number."""
    if values is None:
        return None
    if per_line:
        return {ph.value: round(v, 2) for ph, v in sorted(values.items())}
    return round(next(iter(values.values()), 0.0), 2)


def _shed_cap(controller: EnergyController) -> tuple[str, float | None] | None:
    """The externally shed panel and its A / kW cap in A per phase (None: none)."""
    level = controller.shed.external
    if level is None:
        return None
    config = controller.services.site.config
    panel_id = level.panel_id or controller.state.cache(config).tree.root_id
    panel = config.panel(panel_id)
    if panel is None:  # the panel went away with a config change
        return panel_id, None
    return panel_id, level.cap_a(panel.voltage, panel.phases)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _panel(panel: PanelAllocation, shed_cap: float | None) -> dict[str, Any]:
    # A 1-phase panel fed by a line pair carries two lines: show both.
    per_line = len(panel.capacity_a) > 1
    capacity = dict(panel.capacity_a)
    return {
        "panel_id": panel.panel_id,
        "phases": [ph.value for ph in sorted(panel.capacity_a)],
        "capacity_a": _phases(capacity, per_line),
        "available_a": _phases(dict(panel.available_a), per_line),
        "allocated_a": _phases(dict(panel.allocated_a), per_line),
        "reserved_a": _phases(dict(panel.reserved_a), per_line),
        "measured_a": _phases(
            None if panel.measured_a is None else dict(panel.measured_a), per_line
        ),
        "stale": panel.stale,
        "shed": panel.shed,
        "shed_cap_a": _rounded(shed_cap),
    }


def _connector(controller: EnergyController, limit: ConnectorLimit) -> dict[str, Any]:
    services = controller.services
    charger = services.live.chargers.get(limit.charger_id)
    conn = charger.connectors.get(limit.connector_id) if charger is not None else None
    held = controller.dispatcher.limit_in_force(limit.charger_id, limit.connector_id)
    tx = conn.transaction_id if conn is not None else None
    in_force = limit.limit_a
    if held is not None and tx is not None and held.transaction_id == tx:
        in_force = held.limit_a  # ramping up: the charger holds less for now
    current = dict(conn.current_a) if conn is not None else {}
    return {
        "charger_id": limit.charger_id,
        "connector_id": limit.connector_id,
        "limit_a": in_force,
        "allocated_a": limit.limit_a,
        "reason": conn.reason
        if conn is not None and conn.reason
        else limit.reason_text,
        "drawn_a": max(current.values(), default=0.0),
        "current_a": current,
        "phases": [ph.value for ph in limit.phases],
        "status": conn.status.value if conn is not None else None,
        "transaction_id": tx,
        "charge_now": bool(conn and conn.charge_now),
        "delayed_until": (
            conn.delayed_until.isoformat() if conn and conn.delayed_until else None
        ),
    }


def allocation_body(controller: EnergyController, latest: Allocation | None) -> Any:
    """The ``GET /allocation`` document."""
    if latest is None:
        return {"computed_at": None, "connectors": [], "panels": []}
    shed = _shed_cap(controller)
    caps = {} if shed is None else {shed[0]: shed[1]}
    return {
        "computed_at": latest.computed_at.isoformat(),
        "connectors": [
            _connector(controller, latest.connectors[key])
            for key in sorted(latest.connectors)
        ],
        "panels": [_panel(p, caps.get(p.panel_id)) for p in latest.panels.values()],
    }


@routes.get(
    f"{PREFIX}/allocation",
    summary="Every connector's limit and reason, every panel's figures",
    tag="energy",
    roles=ANY_ROLE,
    response=(
        "connectors: charger_id, connector_id, limit_a (in force), allocated_a, "
        "reason, drawn_a, ...; panels: panel_id, capacity_a, allocated_a, "
        "measured_a (per phase on three-phase panels), shed, shed_cap_a, ..."
    ),
    errors=(503,),
)
async def get_allocation(request: web.Request) -> web.StreamResponse:
    """The allocation in force."""
    controller = controller_of(request)
    return web.json_response(allocation_body(controller, controller.latest))


def _shed_body(controller: EnergyController) -> dict[str, Any]:
    level = controller.shed.external
    since = controller.shed.external_since
    shed = _shed_cap(controller)
    return {
        "percent": level.percent if level else None,
        "limit_a": level.limit_a if level else None,
        "limit_kw": level.limit_kw if level else None,
        "cap_a": _rounded(shed[1]) if shed else None,
        "panel_id": level.panel_id if level else None,
        "active": level is not None,
        "since": since.isoformat() if level and since else None,
        "meter_shedding": sorted(controller.shed.states),
    }


@routes.get(
    f"{PREFIX}/shed",
    summary="The external shed level and the panels shedding now",
    tag="energy",
    response=(
        "percent, limit_a, limit_kw, cap_a (the A / kW cap in A per phase on "
        "the shed panel), panel_id, active, since, meter_shedding"
    ),
    errors=(503,),
)
async def get_shed(request: web.Request) -> web.StreamResponse:
    """The shed level in force."""
    return web.json_response(_shed_body(controller_of(request)))


@routes.put(
    f"{PREFIX}/shed",
    summary="Set or clear the external shed level",
    tag="energy",
    request_schema=energy_schema.SHED_LEVEL,
    roles=MANAGE_SITE,
    description="percent sheds a share of EV capacity, limit_a caps it in A "
    "per phase, limit_kw caps EV power (turned into A per phase with the "
    "panel's voltage and phases); the tightest wins. All null (or omitted) "
    "clears the level.",
    errors=(400, 503),
)
async def put_shed(request: web.Request) -> web.StreamResponse:
    """Set the external shed level."""
    controller = controller_of(request)
    body = await json_body(request, energy_schema.SHED_LEVEL)
    await controller.set_shed_level(
        body["percent"], body["limit_a"], body["panel_id"], body["limit_kw"]
    )
    return web.json_response(_shed_body(controller))


@routes.get(
    f"{PREFIX}/shed-events",
    summary="The shed event log, newest first",
    tag="energy",
    query=(("limit", "how many events (1-1000, default 100)"),),
    errors=(400, 503),
)
async def get_shed_events(request: web.Request) -> web.StreamResponse:
    """Shed events with start, end, depth and chargers affected."""
    controller = controller_of(request)
    limit = query_param(request, "limit", lambda v: integer(1, 1000)(int(v)), 100)
    events = await controller.repo.shed_events(limit)
    return web.json_response([e.as_dict() for e in events])


async def _enabled(request: web.Request) -> bool:
    if not request.can_read_body:
        return True
    body = await json_body(request, energy_schema.ENABLED)
    return bool(body["enabled"])


@routes.post(
    f"{CONNECTOR}/charge-now",
    summary="Charge now: lift the delay for this connector's session",
    tag="energy",
    roles=OPERATE,
    # No request_schema: the body is optional (OpenAPI would mark it required).
    description='Optional body {"enabled": false} switches it off.',
    errors=(400, 404, 503),
)
async def post_charge_now(request: web.Request) -> web.StreamResponse:
    """Charge now for the current (or next) session on a connector."""
    controller = controller_of(request)
    charger_id = request.match_info["charger_id"]
    connector_id = int(request.match_info["connector_id"])
    enabled = await _enabled(request)
    await controller.charge_now(charger_id, connector_id, enabled)
    return web.json_response(
        {"charger_id": charger_id, "connector_id": connector_id, "charge_now": enabled}
    )


@routes.put(
    f"{CONNECTOR}/limit",
    summary="Cap a connector's current (null removes the cap)",
    tag="energy",
    roles=OPERATE,
    request_schema=energy_schema.CONNECTOR_LIMIT,
    errors=(400, 404, 503),
)
async def put_connector_limit(request: web.Request) -> web.StreamResponse:
    """An operator cap on one connector."""
    controller = controller_of(request)
    charger_id = request.match_info["charger_id"]
    connector_id = int(request.match_info["connector_id"])
    body = await json_body(request, energy_schema.CONNECTOR_LIMIT)
    await controller.set_connector_limit(charger_id, connector_id, body["limit_a"])
    return web.json_response(
        {"charger_id": charger_id, "connector_id": connector_id, **body}
    )


async def _delay_cancel(request: web.Request, enabled: bool) -> web.Response:
    controller = controller_of(request)
    charger_id = request.match_info["charger_id"]
    await controller.cancel_delay(charger_id, enabled)
    return web.json_response({"charger_id": charger_id, "delay_cancel": enabled})


@routes.post(
    f"{CHARGER}/delay-cancel",
    summary="Cancel delayed charging for this charger",
    tag="energy",
    roles=OPERATE,
    errors=(404, 503),
)
async def post_delay_cancel(request: web.Request) -> web.StreamResponse:
    """The charger charges outside delay windows (the panel tree still applies)."""
    return await _delay_cancel(request, True)


@routes.delete(
    f"{CHARGER}/delay-cancel",
    summary="Restore delayed charging for this charger",
    tag="energy",
    roles=OPERATE,
    errors=(404, 503),
)
async def delete_delay_cancel(request: web.Request) -> web.StreamResponse:
    """Delay windows apply to the charger again."""
    return await _delay_cancel(request, False)


@routes.get(
    f"{CHARGER}/offline-allocation",
    summary="The charger's offline allocation",
    tag="energy",
    errors=(404, 503),
)
async def get_offline_allocation(request: web.Request) -> web.StreamResponse:
    """Configured value, where it comes from, per-port TxDefault, and in force."""
    controller = controller_of(request)
    found = controller.offline_allocation(request.match_info["charger_id"])
    return web.json_response(found.as_dict())


@routes.put(
    f"{CHARGER}/offline-allocation",
    summary="Set the charger's offline allocation (null: site default)",
    tag="energy",
    roles=MANAGE_SITE,
    request_schema=energy_schema.OFFLINE_ALLOCATION,
    description="Rejected when the offline allocations under any panel would "
    "exceed its capacity (the error names the panel); pushed as TxDefaultProfile.",
    errors=(400, 404, 503),
)
async def put_offline_allocation(request: web.Request) -> web.StreamResponse:
    """Validate, persist and push the charger's offline allocation."""
    controller = controller_of(request)
    body = await json_body(request, energy_schema.OFFLINE_ALLOCATION)
    result = await controller.set_offline_allocation(
        request.match_info["charger_id"], body["offline_allocation_a"]
    )
    return web.json_response(result.as_dict())


def register(registry: Registry) -> None:
    """Add the energy routes."""
    registry.include(routes)
