"""Stopping the energy controller while a meter sample wakes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evsite.control.energy import EnergyController
from tests.control.energy_fakes import FakeCommands, make_services, site_data


async def test_stop_wins_over_a_meter_sample_arriving_at_the_same_moment(
    tmp_path: Path,
) -> None:
    """A sample that ends the loop's rest as it is cancelled must not eat the cancel.

    Python 3.11's ``asyncio.wait_for`` returns the inner result when the inner
    wait finished just before the outer task was cancelled, swallowing the
    cancellation: the loop then waited for a wake-up that never came and
    ``stop()`` hung. Every spacing of sample and stop, counted in loop turns,
    is tried; each stop must finish (the bound only turns a hang into a failure).
    """
    services = await make_services(tmp_path, site_data(metered=True))
    try:
        for turns in range(8):
            controller = EnergyController(
                services,
                commands=FakeCommands(),
                meters=False,
                tick_s=3600.0,
                debounce_s=3600.0,
                min_rest_s=3600.0,
            )
            await controller.start()
            controller.wake()
            for _ in range(3):  # into the debounce rest, waiting for a sample
                await asyncio.sleep(0)
            services.live.changed("panel", "main")  # the sample ends the rest
            for _ in range(turns):
                await asyncio.sleep(0)
            await asyncio.wait_for(controller.stop(), 5.0)
    finally:
        await services.db.close()
