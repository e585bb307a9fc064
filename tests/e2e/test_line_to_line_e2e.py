"""A 208 V charger wired line-to-line, end to end: both lines of the meter carry it.

208Y/120 V main panel, 50 A breaker (40 A per line continuous), metered by a
real pymodbus meter polled by the real reader. One simulated 1-phase charger on
L1-L2 (real OCPP); the rest of the building draws 20 A on L2 only. The meter
sees the charger's current on L1 and L2, the way :meth:`PanelTree.load_per_phase`
adds it up (the demo's meters are fed the same way).

Counted on one line (L1), the charger would be given its full 32 A and L2
would carry 52 A. Counted on both, with its own draw taken back from both lines
of the reading, it settles at exactly 40 - 20 = 20 A and L2 stays within 40 A.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evsite.adapters.csms.server import CentralSystem
from evsite.context import Services
from evsite.control.clock import SystemClock
from evsite.control.energy import EnergyController
from evsite.core.tree import PanelTree
from evsite.simulator.charger import SimCharger
from evsite.simulator.meter import SimulatedMeter
from tests.conftest import wait_until
from tests.support import stored_services

LINE_LIMIT_A = 40.0  # 50 A breaker x 0.8
BACKGROUND_A = {"L1": 0.0, "L2": 20.0, "L3": 0.0}
TIMEOUT = 30.0


def site(meter_port: int) -> dict[str, Any]:
    meter = {
        "kind": "modbus_tcp",
        "host": "127.0.0.1",
        "port": meter_port,
        "poll_interval_s": 0.25,
        "stale_after_s": 3,
    }
    return {
        "site": {
            "id": "l2l",
            "name": "208Y/120",
            "timezone": "UTC",
            "main_service": {"voltage": 208, "phases": 3, "main_breaker_a": 50},
        },
        "panels": [
            {
                "id": "main",
                "breaker_a": 50,
                "phases": 3,
                "voltage": 208,
                "meter": meter,
            },
        ],
        "chargers": [
            {
                "id": "CP-208",
                "parent": "main",
                "limit_a": 32,
                "phase_connection": "L1-L2",
                "scope": "open",
            },
        ],
    }


@dataclass
class Plant:
    """Building load plus the charger's draw, on the lines it is wired to."""

    meter: SimulatedMeter
    sim: SimCharger
    tree: PanelTree
    controller: EnergyController

    def lines(self) -> dict[str, float]:
        load = self.tree.load_per_phase({"CP-208": self.sim.current_draw(1)})["main"]
        return {ph.value: BACKGROUND_A[ph.value] + amps for ph, amps in load.items()}

    async def run(self) -> None:
        while True:
            await self.meter.set_values(self.lines())
            await asyncio.sleep(0.02)


@pytest.fixture
async def plant(tmp_path: Path) -> AsyncIterator[Plant]:
    meter = SimulatedMeter("sdm630")
    port = await meter.start()
    await meter.set_values(dict(BACKGROUND_A))
    services: Services = await stored_services(
        tmp_path, site(port), clock=SystemClock(), token="e2e-token-0123456789"
    )
    central = CentralSystem(services, ws_ping_interval_s=None)
    await central.start()
    ocpp_port = await central.listen("127.0.0.1", 0)
    controller = EnergyController(services, tick_s=0.5)
    await controller.start()
    sim = SimCharger(
        "CP-208",
        f"ws://127.0.0.1:{ocpp_port}/ocpp",
        "1.6",
        phases=1,
        meter_interval=0.3,
        auto_reconnect=False,
    )
    tree = PanelTree.from_config(services.site.config)
    result = Plant(meter, sim, tree, controller)
    physics = asyncio.create_task(result.run())
    try:
        yield result
    finally:
        physics.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await physics
        await sim.close()
        await controller.stop()
        await central.stop()
        await meter.stop()
        await services.db.close()


async def test_a_208_v_charger_is_limited_by_the_busier_of_its_two_lines(
    plant: Plant,
) -> None:
    sim = plant.sim
    await sim.connect()
    await sim.plug_in(1)
    assert await sim.tap(1, "TAG-208")
    loop = asyncio.get_running_loop()
    since = [loop.time()]

    def settled() -> bool:
        """20 A held for 2 s: past the ramp's steps (about 1.2 s apart)."""
        if plant.sim.current_draw(1) != 20.0:
            since[0] = loop.time()
        return loop.time() - since[0] >= 2.0

    try:
        await wait_until(settled, TIMEOUT)
    except AssertionError:
        pytest.fail(f"draw {sim.current_draw(1)} A, meter {plant.lines()}")
    assert plant.lines() == {"L1": 20.0, "L2": LINE_LIMIT_A, "L3": 0.0}
    latest = plant.controller.latest
    assert latest is not None
    limit = latest.connectors[("CP-208", 1)]
    assert (limit.limit_a, limit.reason_text) == (20.0, "panel:main")
