"""REST routes of energy management over a running controller and a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from evsite.context import Services
from evsite.control.energy import EnergyController
from evsite.control.ports import ProfilePurpose
from evsite.web import api_energy
from evsite.web.api import create_app
from tests.conftest import wait_until
from tests.control.energy_fakes import (
    FakeCommands,
    connect,
    draw,
    make_services,
    meter,
    running,
    settle,
    site_data,
    start_session,
)
from tests.web.conftest import AiohttpClient

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """The metered energy test site over SQLite."""
    services = await make_services(tmp_path, site_data(metered=True))
    yield services
    await services.db.close()


@pytest.fixture
def commands() -> FakeCommands:
    """The fake command sink."""
    return FakeCommands()


@pytest.fixture
async def controller(
    services: Services, commands: FakeCommands
) -> AsyncIterator[EnergyController]:
    """A running controller."""
    async with running(services, commands) as controller:
        yield controller


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient, services: Services, controller: EnergyController
) -> TestClient[Any, Any]:
    """An admin client of the app with the energy routes."""
    app = create_app(services, [api_energy.register])
    return await aiohttp_client(app)


async def test_allocation_lists_connectors_and_panels(
    api: TestClient[Any, Any],
    services: Services,
    commands: FakeCommands,
    controller: EnergyController,
) -> None:
    for cid in ("CP-1", "CP-2", "CP-3"):
        connect(services, commands, cid)
    start_session(services, "CP-1", amps=18)
    draw(services, "CP-1", 1, 18)
    meter(services, "main", 50)
    await settle(controller)
    resp = await api.get("/api/v1/allocation", headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    connectors = {(c["charger_id"], c["connector_id"]): c for c in body["connectors"]}
    assert set(connectors) == {("CP-1", 1), ("CP-2", 1), ("CP-3", 1), ("CP-3", 2)}
    cp1 = connectors[("CP-1", 1)]
    # Allocated 32 A; the ramp has reached 24 A so far, which is what is in force.
    assert (cp1["allocated_a"], cp1["limit_a"]) == (32.0, 24.0)
    assert cp1["reason"] == "charger_max"
    assert cp1["drawn_a"] == 18.0
    assert connectors[("CP-2", 1)]["reason"] == "not_charging"
    panels = {p["panel_id"]: p for p in body["panels"]}
    main = panels["main"]
    assert main["capacity_a"] == {"L1": 80.0, "L2": 80.0, "L3": 80.0}
    assert main["measured_a"] == {"L1": 50.0, "L2": 50.0, "L3": 50.0}
    assert main["allocated_a"] == {"L1": 32.0, "L2": 32.0, "L3": 32.0}
    assert panels["garage"]["measured_a"] is None
    assert (await api.get("/api/v1/allocation")).status == 401


async def test_shed_level_set_validated_and_logged(
    api: TestClient[Any, Any], services: Services, controller: EnergyController
) -> None:
    resp = await api.put("/api/v1/shed", json={"percent": 150}, headers=AUTH)
    assert resp.status == 400
    body = await resp.json()
    assert [p["path"] for p in body["error"]["problems"]] == ["percent"]
    resp = await api.put("/api/v1/shed", json={"panel_id": "nope", "limit_a": 5},
                         headers=AUTH)  # fmt: skip
    assert resp.status == 400
    assert "panel_id" in await resp.text()
    resp = await api.put("/api/v1/shed", json={"limit_a": 20, "panel_id": "garage"},
                         headers=AUTH)  # fmt: skip
    assert resp.status == 200
    body = await resp.json()
    assert (body["active"], body["limit_a"], body["panel_id"]) == (True, 20.0, "garage")
    assert (await (await api.get("/api/v1/shed", headers=AUTH)).json())["active"]
    resp = await api.put("/api/v1/shed", json={}, headers=AUTH)
    assert (await resp.json())["active"] is False
    events = await (await api.get("/api/v1/shed-events", headers=AUTH)).json()
    assert len(events) == 1
    assert events[0]["source"] == "external"
    assert events[0]["level"]["limit_a"] == 20
    assert events[0]["end"] is not None
    resp = await api.get("/api/v1/shed-events?limit=0", headers=AUTH)
    assert resp.status == 400


async def test_shed_level_in_kw(
    api: TestClient[Any, Any], services: Services, commands: FakeCommands,
    controller: EnergyController,
) -> None:  # fmt: skip
    for bad, message in (
        (-1, "between 0 and 10000"),
        ("11", "expected a number"),
        (True, "expected a number"),
    ):
        resp = await api.put("/api/v1/shed", json={"limit_kw": bad}, headers=AUTH)
        assert resp.status == 400
        (problem,) = (await resp.json())["error"]["problems"]
        assert problem["path"] == "limit_kw"
        assert message in problem["message"]
    for cid in ("CP-1", "CP-2", "CP-3"):
        connect(services, commands, cid)
    start_session(services, "CP-1")
    meter(services, "main", 10)  # a fresh sample: the meter is not stale
    resp = await api.put("/api/v1/shed", json={"limit_kw": 11}, headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    # The root panel (main) is 3-phase 400 V: 11000 / (√3 · 400) = 15.88 A.
    assert (body["limit_kw"], body["cap_a"], body["panel_id"]) == (11.0, 15.88, None)
    await settle(controller)
    alloc = await (await api.get("/api/v1/allocation", headers=AUTH)).json()
    panels = {p["panel_id"]: p for p in alloc["panels"]}
    assert (panels["main"]["shed"], panels["main"]["shed_cap_a"]) == (True, 15.88)
    assert panels["garage"]["shed_cap_a"] is None
    cp1 = next(c for c in alloc["connectors"] if c["charger_id"] == "CP-1")
    assert (cp1["allocated_a"], cp1["reason"]) == (15.8, "load_shed")
    # A kW cap on the garage panel (also 3-phase 400 V), with a tighter percent.
    resp = await api.put(
        "/api/v1/shed",
        json={"limit_kw": 22, "percent": 90, "panel_id": "garage"},
        headers=AUTH,
    )
    body = await resp.json()
    assert (body["limit_kw"], body["percent"], body["cap_a"]) == (22.0, 90.0, 31.75)
    await api.put("/api/v1/shed", json={}, headers=AUTH)
    (event,) = await (await api.get("/api/v1/shed-events", headers=AUTH)).json()
    assert event["level"] == {
        "percent": 90.0,
        "limit_a": None,
        "limit_kw": 22.0,
        "panel_id": "garage",
    }
    doc = await (await api.get("/api/v1/openapi.json")).json()
    put = doc["paths"]["/api/v1/shed"]["put"]["requestBody"]["content"]
    assert "limit_kw" in put["application/json"]["schema"]["properties"]


async def test_charge_now_and_delay_cancel(
    api: TestClient[Any, Any], controller: EnergyController
) -> None:
    resp = await api.post("/api/v1/chargers/CP-1/connectors/1/charge-now", headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["charge_now"] is True
    assert ("CP-1", 1) in controller.state.charge_now
    resp = await api.post(
        "/api/v1/chargers/CP-1/connectors/1/charge-now",
        json={"enabled": False},
        headers=AUTH,
    )
    assert (await resp.json())["charge_now"] is False
    assert controller.state.charge_now == {}
    resp = await api.post("/api/v1/chargers/CP-1/connectors/9/charge-now", headers=AUTH)
    assert resp.status == 404
    resp = await api.post("/api/v1/chargers/CP-2/delay-cancel", headers=AUTH)
    assert (await resp.json())["delay_cancel"] is True
    assert controller.state.delay_cancel == {"CP-2"}
    resp = await api.delete("/api/v1/chargers/CP-2/delay-cancel", headers=AUTH)
    assert resp.status == 200
    assert controller.state.delay_cancel == set()
    assert (
        await api.post("/api/v1/chargers/NOPE/delay-cancel", headers=AUTH)
    ).status == 404


async def test_connector_limit(
    api: TestClient[Any, Any], controller: EnergyController
) -> None:
    url = "/api/v1/chargers/CP-1/connectors/1/limit"
    resp = await api.put(url, json={"limit_a": 10}, headers=AUTH)
    assert resp.status == 200
    assert controller.state.caps == {("CP-1", 1): 10.0}
    resp = await api.put(url, json={"limit_a": 99}, headers=AUTH)
    assert resp.status == 400
    assert [p["path"] for p in (await resp.json())["error"]["problems"]] == ["limit_a"]
    resp = await api.put(url, json={"limit_a": None}, headers=AUTH)
    assert controller.state.caps == {}


async def test_offline_allocation_get_put(
    api: TestClient[Any, Any], services: Services, commands: FakeCommands
) -> None:
    url = "/api/v1/chargers/CP-3/offline-allocation"
    body = await (await api.get(url, headers=AUTH)).json()
    assert body == {
        "charger_id": "CP-3",
        "offline_allocation_a": 16.0,
        "override_a": None,
        "source": "computed",
        "per_connector_a": 8.0,
        "in_force_a": None,
    }
    connect(services, commands, "CP-3")
    resp = await api.put(url, json={"offline_allocation_a": 12}, headers=AUTH)
    assert resp.status == 200
    body = await resp.json()
    assert (body["offline_allocation_a"], body["per_connector_a"]) == (12.0, 6.0)
    await wait_until(
        lambda: (
            [
                s.limit_a
                for s in commands.sent
                if s.purpose is ProfilePurpose.TX_DEFAULT
            ][-1:]
            == [6.0]
        )
    )
    # 32 + 32 under the 40 A garage breaks the invariant: the error names it.
    ok = await api.put(
        "/api/v1/chargers/CP-1/offline-allocation",
        json={"offline_allocation_a": 32},
        headers=AUTH,
    )
    assert ok.status == 200
    resp = await api.put(
        "/api/v1/chargers/CP-2/offline-allocation",
        json={"offline_allocation_a": 32},
        headers=AUTH,
    )
    assert resp.status == 400
    assert "garage" in await resp.text()
    resp = await api.put(url, json={"offline_allocation_a": "x"}, headers=AUTH)
    assert resp.status == 400
    problems = (await resp.json())["error"]["problems"]
    assert problems[0]["path"] == "offline_allocation_a"
    stored = await services.sites.load()
    assert stored is not None
    charger = stored.charger("CP-2")
    assert charger is not None
    assert charger.overrides.offline_allocation_a is None


async def test_routes_answer_503_without_a_controller(
    aiohttp_client: AiohttpClient, services: Services
) -> None:
    api = await aiohttp_client(create_app(services, [api_energy.register]))
    resp = await api.get("/api/v1/allocation", headers=AUTH)
    assert resp.status == 503
