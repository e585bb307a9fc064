from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from evsite.adapters.modbus.reader import MeterPool, MeterReader, make_client
from evsite.config.models import MeterConfig, MeterKind
from evsite.control.clock import SystemClock
from evsite.control.live import LiveState
from evsite.simulator.meter import SimulatedMeter
from tests.conftest import free_port, wait_until


@pytest.fixture(params=["sdm630", "em24"])
async def meter(request: pytest.FixtureRequest) -> AsyncIterator[SimulatedMeter]:
    sim = SimulatedMeter(request.param)
    await sim.start()
    yield sim
    await sim.stop()


def _config(sim: SimulatedMeter, **kw: float) -> MeterConfig:
    return MeterConfig(
        kind=MeterKind.MODBUS_TCP,
        register_map=sim.regmap.name,
        host="127.0.0.1",
        port=sim.port,
        poll_interval_s=kw.get("poll", 0.05),
        stale_after_s=kw.get("stale", 1.0),
    )


async def test_read_once_decodes_real_server(meter: SimulatedMeter) -> None:
    await meter.set_values({"L1": 31.5, "L2": 12.0, "L3": 4.25}, 10_000.0, 5e6)
    reader = MeterReader("main", _config(meter), LiveState(), SystemClock())
    client = make_client(_config(meter))
    assert await client.connect()
    try:
        reading = await reader.read_once(client)
    finally:
        client.close()
    assert reading.current_a == pytest.approx({"L1": 31.5, "L2": 12.0, "L3": 4.25})
    assert reading.power_w == pytest.approx(10_000.0)
    assert reading.energy_wh == pytest.approx(5e6, rel=1e-6)


async def test_pool_polls_and_records_samples(meter: SimulatedMeter) -> None:
    live = LiveState()
    changes: list[str] = []
    live.add_listener(lambda kind, ident: changes.append(f"{kind}:{ident}"))
    reader = MeterReader("main", _config(meter), live, SystemClock())
    pool = MeterPool([reader])
    await meter.set_values({"L1": 10.0, "L2": 10.0, "L3": 10.0})
    pool.start()
    try:
        await wait_until(lambda: "main" in live.meters)
        await meter.set_values({"L1": 55.0, "L2": 10.0, "L3": 10.0})
        await wait_until(
            lambda: live.meters["main"].current_a["L1"] == pytest.approx(55)
        )
    finally:
        await pool.stop()
    sample = live.meters["main"]
    assert sample.at.tzinfo is not None
    assert (datetime.now(UTC) - sample.at).total_seconds() < 5
    assert reader.samples >= 2
    assert "panel:main" in changes


async def test_unreachable_meter_backs_off_and_records_nothing() -> None:
    live = LiveState()
    config = MeterConfig(
        kind=MeterKind.MODBUS_TCP,
        host="127.0.0.1",
        port=free_port(),
        poll_interval_s=0.05,
        stale_after_s=0.5,
    )
    reader = MeterReader("main", config, live, SystemClock())
    pool = MeterPool([reader])
    pool.start()
    try:
        await wait_until(lambda: reader.failures >= 1)
    finally:
        await pool.stop()
    assert "main" not in live.meters


async def test_reader_recovers_after_meter_restart() -> None:
    sim = SimulatedMeter("sdm630")
    await sim.start()
    port = sim.port
    live = LiveState()
    config = MeterConfig(
        kind=MeterKind.MODBUS_TCP,
        host="127.0.0.1",
        port=port,
        poll_interval_s=0.05,
        stale_after_s=0.5,
    )
    reader = MeterReader("main", config, live, SystemClock())
    pool = MeterPool([reader])
    await sim.set_values({"L1": 5.0, "L2": 5.0, "L3": 5.0})
    pool.start()
    try:
        await wait_until(lambda: reader.samples >= 1)
        await sim.stop()
        await wait_until(lambda: reader.failures >= 1)
        # A new meter on the same port: the reader reconnects after its backoff.
        sim2 = SimulatedMeter("sdm630", port=port)
        await sim2.start()
        await sim2.set_values({"L1": 9.0, "L2": 9.0, "L3": 9.0})
        await wait_until(
            lambda: live.meters["main"].current_a["L1"] == pytest.approx(9), 10
        )
        await sim2.stop()
    finally:
        await pool.stop()
