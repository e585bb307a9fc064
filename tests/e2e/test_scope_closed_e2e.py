"""Closed chargers get 0 A (reason ``scope_closed``), end to end.

The real OCPP server, the access subsystem, energy management and the REST
app over SQLite, with simulated chargers on loopback and a manual clock.
The product choice it pins down (docs/energy.md, Reasons): a session that was
authorized inside an access policy's hours keeps charging when the hours end;
closing the charger (scope ``closed``) stops the current at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from evsite.adapters.csms.server import CentralSystem
from evsite.config.access_schema import POLICY
from evsite.config.load import normalize
from evsite.context import Services
from evsite.control import access_admin as admin
from evsite.control.access_wiring import AccessSubsystem, start_access
from evsite.control.clock import ManualClock
from evsite.control.energy import EnergyController
from evsite.simulator.charger import SimCharger
from evsite.web import api_energy
from evsite.web.api import create_app
from tests.conftest import wait_until
from tests.control.access_support import make_services
from tests.e2e.test_access_e2e import seed
from tests.web.conftest import AiohttpClient

AUTH = {"Authorization": "Bearer t"}
TIMEOUT = 10.0


@dataclass
class Site:
    """The running stack and a REST client."""

    services: Services
    central: CentralSystem
    access: AccessSubsystem
    energy: EnergyController
    api: TestClient[Any, Any]
    url: str
    sims: list[SimCharger] = field(default_factory=list)

    async def charger(self, charger_id: str) -> SimCharger:
        sim = SimCharger(charger_id, self.url, "1.6", clock=self.services.clock)
        self.sims.append(sim)
        await sim.connect()
        return sim

    def limit(self, charger_id: str) -> float | None:
        """Connector 1's allocated limit (None before the first cycle)."""
        latest = self.energy.latest
        return None if latest is None else latest.limit(charger_id, 1)

    async def port(self, charger_id: str) -> dict[str, Any]:
        resp = await self.api.get("/api/v1/allocation", headers=AUTH)
        assert resp.status == 200
        body = await resp.json()
        return next(
            c
            for c in body["connectors"]
            if (c["charger_id"], c["connector_id"]) == (charger_id, 1)
        )


@pytest.fixture
async def site(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[Site]:
    services = await make_services(tmp_path)
    central = CentralSystem(
        services, ws_ping_interval_s=None, heartbeat_timeout_s=10**7
    )
    await central.start()
    port = await central.listen("127.0.0.1", 0)
    access = await start_access(services, None, tick_s=None)
    await seed(access)
    energy = EnergyController(services, tick_s=0.2)
    await energy.start()
    api = await aiohttp_client(create_app(services, [api_energy.register]))
    running = Site(
        services, central, access, energy, api, f"ws://127.0.0.1:{port}/ocpp"
    )
    yield running
    for sim in running.sims:
        await sim.close()
    await energy.stop()
    await access.stop()
    await central.stop()
    await services.db.close()


async def test_hours_ending_keep_a_session_closing_the_charger_stops_it(
    site: Site,
) -> None:
    # Tenants may use GR from 08:00 to 18:00 (Berlin); it is 10:00 now.
    policy = {
        "id": "day",
        "name": "Tenants by day",
        "rules": [
            {"group": "tenants", "hours": "windows",
             "windows": [{"start": "08:00", "end": "18:00"}]},
            {"group": "*", "hours": "never"},
        ],
    }  # fmt: skip
    svc = site.access.access
    await admin.save_policy(svc, normalize(POLICY, policy), create=True)
    await admin.set_charger_access(svc, "GR", {"usable_by": "day", "visible_to": None})
    gr = await site.charger("GR")
    await gr.plug_in(1)
    assert await gr.tap(1, "A1")
    await wait_until(lambda: site.limit("GR") == 16.0, TIMEOUT)
    assert (await site.port("GR"))["reason"] == "charger_max"

    # 19:00: the policy's hours are over. A new tap is refused, but the
    # session authorized at 10:00 keeps its current (not cut mid-charge).
    clock = site.services.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=9).total_seconds())
    assert not await gr.authorize("A1")
    cycles = site.energy.cycles
    site.energy.wake()
    await wait_until(lambda: site.energy.cycles > cycles + 1, TIMEOUT)
    port = await site.port("GR")
    assert (port["allocated_a"], port["reason"]) == (16.0, "charger_max")

    # The operator closes the charger: 0 A at once, reason scope_closed, the
    # charger gets a 0 A profile and is set Inoperative.
    resp = await site.api.patch(
        "/api/v1/chargers/GR",
        json={"scope": "closed", "driver_groups": []},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    await wait_until(lambda: site.limit("GR") == 0.0, TIMEOUT)
    port = await site.port("GR")
    assert (port["allocated_a"], port["reason"]) == (0.0, "scope_closed")
    await wait_until(lambda: gr.effective_limit(1) == 0.0, TIMEOUT)
    assert gr.current_draw(1) == 0.0
    # Inoperative is Scheduled while the transaction runs (OCPP 1.6 §5.2): the
    # charger finishes the session, at 0 A.
    await wait_until(
        lambda: gr.connector(1).extra.get("availability_after") is False, TIMEOUT
    )

    # Opened again: the running session gets its current back.
    resp = await site.api.patch(
        "/api/v1/chargers/GR",
        json={"scope": "groups", "driver_groups": ["tenants"]},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    await wait_until(lambda: (site.limit("GR") or 0.0) > 0.0, TIMEOUT)
    assert (await site.port("GR"))["reason"] != "scope_closed"
