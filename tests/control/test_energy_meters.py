"""Site meters: one Modbus reader per Modbus-metered panel, rebuilt on change."""

from __future__ import annotations

import dataclasses

from evsite.config.load import parse_site
from evsite.config.models import MeterConfig
from evsite.context import SiteHolder
from evsite.control.clock import ManualClock
from evsite.control.live import LiveState
from evsite.control.meters import SiteMeters, build_meter_pool, modbus_meters
from evsite.simulator.meter import SimulatedMeter
from tests.conftest import wait_until
from tests.control.energy_fakes import START, site_data


def test_only_modbus_meters_get_a_reader() -> None:
    data = site_data(metered=True)
    data["panels"][1]["meter"] = {"kind": "mqtt", "topic": "garage/amps"}
    config = parse_site(data).config
    assert list(modbus_meters(config)) == ["main"]
    pool = build_meter_pool(config, LiveState(), ManualClock(START))
    assert [r.panel_id for r in pool.readers] == ["main"]


async def test_meters_poll_and_restart_only_when_changed() -> None:
    meter = SimulatedMeter("sdm630")
    port = await meter.start()
    await meter.set_values({"L1": 12.5, "L2": 7.0, "L3": 3.0})
    data = site_data(metered=True)
    data["panels"][0]["meter"].update(port=port, poll_interval_s=0.1)
    holder = SiteHolder(parse_site(data).config)
    live = LiveState()
    meters = SiteMeters(holder, live, ManualClock(START))
    meters.start()
    try:
        await wait_until(lambda: "main" in live.meters)
        assert live.meters["main"].current_a["L1"] == 12.5
        pool = meters.pool
        await meters.reload()
        assert meters.pool is pool  # same meters: left running
        main = holder.config.panels[0]
        assert main.meter is not None
        slower: MeterConfig = dataclasses.replace(main.meter, poll_interval_s=0.2)
        panels = (dataclasses.replace(main, meter=slower), *holder.config.panels[1:])
        holder.config = dataclasses.replace(holder.config, panels=panels)
        await meters.reload()
        assert meters.pool is not pool
        assert meters.pool is not None
        assert [r.panel_id for r in meters.pool.readers] == ["main"]
    finally:
        await meters.stop()
        await meter.stop()
