"""Energy management end to end: the real OCPP server, simulated chargers, a real
pymodbus meter polled by the real reader.

A small "physics" task keeps the meter honest: it reads the rest of the
building's load plus what every simulated charger draws under the profiles it
holds. The test raises the building load above the site limit and checks that
evsite sends lower profiles before the next meter sample and that the draw
falls below the limit; then it stops evsite and checks that once the live
profiles lapse every charger sits on its offline allocation (TxDefaultProfile),
within every panel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evsite.adapters.csms.limits import TX_PROFILE_VALID_S
from evsite.adapters.csms.server import CentralSystem
from evsite.context import Services
from evsite.control.clock import SystemClock
from evsite.control.dispatch_plan import Command
from evsite.control.energy import EnergyController
from evsite.control.ports import ProfilePurpose
from evsite.simulator.charger import SimCharger
from evsite.simulator.meter import SimulatedMeter
from tests.conftest import wait_until
from tests.support import stored_services

SITE_LIMIT_A = 80.0  # main: 100 A breaker x 0.8
GARAGE_LIMIT_A = 50.4  # garage: 63 A breaker x 0.8
OFFLINE_A = 16.0
CHARGERS = {
    "CP-A": ("1.6", "garage"),
    "CP-B": ("2.0.1", "garage"),
    "CP-C": ("1.6", "main"),
}
POLL_S = 0.25
# The overload takes ~30 A from three chargers: each loses far more than this
# (smaller moves are the loop settling, not shedding).
SHED_MARGIN_A = 3.0
TIMEOUT = 15.0


class ShiftedClock(SystemClock):
    """The real clock plus an offset (jumps the chargers' clocks forward)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return super().now() + self.offset


def site(meter_port: int) -> dict[str, Any]:
    charger = {"limit_a": 32, "phases": 3, "scope": "open"}
    return {
        "site": {
            "id": "e2e",
            "name": "E2E",
            "timezone": "UTC",
            "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 100},
        },
        "panels": [
            {
                "id": "main",
                "breaker_a": 100,
                "phases": 3,
                "voltage": 400,
                "meter": {
                    "kind": "modbus_tcp",
                    "host": "127.0.0.1",
                    "port": meter_port,
                    "poll_interval_s": POLL_S,
                    "stale_after_s": 3,
                },
            },
            {"id": "garage", "parent": "main", "breaker_a": 63, "phases": 3,
             "voltage": 400},
        ],
        "chargers": [
            {"id": cid, "parent": parent, **charger,
             "overrides": {"offline_allocation_a": OFFLINE_A}}
            for cid, (_, parent) in CHARGERS.items()
        ],
        "energy": {"ramp_up_step_a": 16},
    }  # fmt: skip


@dataclass
class Plant:
    """The site's physics: building load + charger draws -> the meter."""

    meter: SimulatedMeter
    sims: dict[str, SimCharger]
    background_a: float = 10.0
    samples: list[tuple[float, float]] = field(default_factory=list)

    def draw(self, charger_id: str) -> float:
        return self.sims[charger_id].current_draw(1)

    def total_a(self) -> float:
        return self.background_a + sum(self.draw(cid) for cid in self.sims)

    async def run(self) -> None:
        while True:
            total = self.total_a()
            await self.meter.set_values({"L1": total, "L2": total, "L3": total})
            await asyncio.sleep(0.02)


@dataclass
class Stack:
    services: Services
    central: CentralSystem
    controller: EnergyController
    plant: Plant
    sent: list[tuple[int, str, Command]]  # (samples seen, charger, command)
    samples: list[int]  # [samples so far, numbers of the overloaded ones...]


async def wait_for(predicate: Any, what: str, timeout: float = TIMEOUT) -> None:
    try:
        await wait_until(predicate, timeout)
    except AssertionError:
        pytest.fail(f"not within {timeout} s: {what}")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    meter = SimulatedMeter("sdm630")
    port = await meter.start()
    await meter.set_values({"L1": 10.0, "L2": 10.0, "L3": 10.0})
    services = await stored_services(
        tmp_path,
        site(port),
        clock=SystemClock(),
        token="e2e-token-0123456789",
        commit_window_s=0.005,
    )
    central = CentralSystem(services, ws_ping_interval_s=None)
    await central.start()
    ocpp_port = await central.listen("127.0.0.1", 0)
    controller = EnergyController(services, tick_s=0.5)
    sent: list[tuple[int, str, Command]] = []
    samples = [0]  # [count, then the number of each sample above the limit...]

    def on_panel(kind: str, panel_id: str) -> None:
        if kind == "panel":
            samples[0] += 1
            if max(services.live.meters[panel_id].current_a.values()) > SITE_LIMIT_A:
                samples.append(samples[0])

    services.live.add_listener(on_panel)
    controller.dispatcher.on_sent = lambda cid, cmd: sent.append((samples[0], cid, cmd))
    await controller.start()
    clock = ShiftedClock()
    sims = {
        cid: SimCharger(
            cid,
            f"ws://127.0.0.1:{ocpp_port}/ocpp",
            version,
            clock=clock,
            meter_interval=0.3,
            auto_reconnect=False,
        )
        for cid, (version, _) in CHARGERS.items()
    }
    plant = Plant(meter, sims)
    physics = asyncio.create_task(plant.run())
    stack = Stack(services, central, controller, plant, sent, samples)
    try:
        yield stack
    finally:
        physics.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await physics
        for sim in sims.values():
            await sim.close()
        await controller.stop()
        await central.stop()
        await meter.stop()
        await services.db.close()


def _tx_limits(stack: Stack, charger_id: str) -> list[float]:
    return [
        cmd.limit_a
        for _, cid, cmd in stack.sent
        if cid == charger_id and cmd.purpose is ProfilePurpose.TX
    ]


async def test_overload_shed_within_one_sample_and_offline_fallback(
    stack: Stack,
) -> None:
    plant = stack.plant
    for cid, sim in plant.sims.items():
        await sim.connect()
        await wait_for(
            lambda cid=cid: (
                stack.controller.dispatcher.defaults_in_force.get(cid) == OFFLINE_A
            ),
            f"{cid} accepts its TxDefaultProfile",
        )
        await sim.plug_in(1)
        assert await sim.tap(1, f"TAG-{cid}")
    # Sessions run, the site meter is fresh, the ramp is done: 70 A for EVs.
    await wait_for(lambda: plant.total_a() >= SITE_LIMIT_A - 5, "EVs ramp up")
    assert plant.total_a() <= SITE_LIMIT_A
    garage = plant.draw("CP-A") + plant.draw("CP-B")
    assert garage <= GARAGE_LIMIT_A
    before = {cid: plant.draw(cid) for cid in plant.sims}

    # The building load jumps from 10 A to 40 A: the meter reads ~110 A.
    samples = stack.samples
    assert samples[1:] == []  # no overload so far
    mark = len(stack.sent)
    plant.background_a = 40.0
    await wait_for(lambda: len(samples) > 1, "the meter reads the overload")
    overload_sample = samples[1]
    await wait_for(
        lambda: all(
            _tx_limits(stack, cid)[-1] < before[cid] - SHED_MARGIN_A
            for cid in plant.sims
        ),
        "lower profiles for every charger",
    )
    for cid in plant.sims:
        first_cut = next(
            seen
            for seen, who, cmd in stack.sent[mark:]
            if who == cid
            and cmd.purpose is ProfilePurpose.TX
            and cmd.limit_a < before[cid] - SHED_MARGIN_A
        )
        # Sent in the cycle of the overload sample, before the next one.
        assert first_cut == overload_sample, (cid, first_cut, overload_sample)
    # The chargers apply them: the site is back under its limit.
    await wait_for(lambda: plant.total_a() <= SITE_LIMIT_A, "back under the limit")
    log = await stack.controller.repo.shed_events()
    assert log[0].source == "meter"
    assert log[0].panel_id == "main"
    assert set(log[0].chargers) == set(CHARGERS)

    # evsite dies. Live profiles lapse after their validity; the chargers are
    # left on their TxDefaultProfile: the offline allocation.
    await stack.controller.stop()
    await stack.central.stop()
    await wait_for(
        lambda: not any(sim.online for sim in plant.sims.values()), "chargers offline"
    )
    clock = plant.sims["CP-A"].clock
    assert isinstance(clock, ShiftedClock)
    clock.offset = timedelta(seconds=TX_PROFILE_VALID_S + 1)
    for cid, sim in plant.sims.items():
        assert sim.effective_limit(1) == OFFLINE_A, cid
        assert plant.draw(cid) == OFFLINE_A
    assert plant.draw("CP-A") + plant.draw("CP-B") <= GARAGE_LIMIT_A
    assert sum(plant.draw(cid) for cid in plant.sims) <= SITE_LIMIT_A
