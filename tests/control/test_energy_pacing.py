"""The control loop coalesces bursts of events and paces its cycles."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evsite.context import Services
from evsite.control import energy
from evsite.control.events import Event, EventKind
from evsite.control.ports import ProfilePurpose
from evsite.core.allocation_model import Allocation, Snapshot
from tests.conftest import wait_until
from tests.control.energy_fakes import (
    FakeCommands,
    WritingCommands,
    connect,
    make_services,
    meter,
    running,
    site_data,
    start_session,
)


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Services]:
    """The test site with a meter on the main panel."""
    services = await make_services(tmp_path, site_data(metered=True))
    yield services
    await services.db.close()


def _status(services: Services, charger_id: str) -> None:
    services.bus.publish(
        Event(EventKind.STATUS_CHANGED, services.clock.now(), charger_id, 1)
    )


async def test_burst_of_200_events_costs_at_most_two_cycles(metered: Services) -> None:
    services = metered
    commands = FakeCommands()
    async with running(services, commands, debounce_s=0.3, min_rest_s=0.3) as ctl:
        await wait_until(lambda: ctl.cycles >= 1)
        await asyncio.sleep(0.7)  # past the start-up cycle's rest
        before = ctl.cycles
        # 200 events spread over many loop iterations, as a boot storm delivers them.
        for i in range(200):
            _status(services, f"CP-{1 + i % 3}")
            await asyncio.sleep(0)
        await wait_until(lambda: ctl.cycles >= before + 1)
        await asyncio.sleep(0.7)  # any straggler cycle would have run by now
        assert 1 <= ctl.cycles - before <= 2


async def test_burst_of_200_meter_samples_costs_at_most_two_cycles(
    metered: Services,
) -> None:
    services = metered
    commands = FakeCommands()
    async with running(services, commands, min_rest_s=0.3) as ctl:
        await wait_until(lambda: ctl.cycles >= 1)
        await asyncio.sleep(0.7)
        before = ctl.cycles
        for i in range(200):
            meter(services, "main", 40 + i % 5)
        await wait_until(lambda: ctl.cycles >= before + 1)
        await asyncio.sleep(0.7)
        assert 1 <= ctl.cycles - before <= 2


async def test_meter_sample_cuts_the_rest_short(metered: Services) -> None:
    """An overload sample is never held back by pacing (SPEC §2.2)."""
    services = metered
    commands = FakeCommands()
    # A rest far longer than the test: only the urgency path can run a cycle.
    async with running(services, commands, debounce_s=30.0, min_rest_s=30.0):
        for cid in ("CP-1", "CP-2", "CP-3"):
            connect(services, commands, cid)
        start_session(services, "CP-1", amps=20)
        start_session(services, "CP-2", tx="2", amps=20)
        meter(services, "main", 50)
        await wait_until(lambda: len(commands.tx("CP-1")) == 1)
        meter(services, "main", 95)  # the rest of the building jumps
        await wait_until(lambda: len(commands.tx("CP-1")) == 2, timeout=3.0)
        assert commands.tx("CP-1")[-1] < 20.0


async def test_events_during_rest_wait_for_it(metered: Services) -> None:
    """Non-urgent events inside a rest run one cycle after it, not at once."""
    services = metered
    commands = FakeCommands()
    async with running(services, commands, debounce_s=0.0, min_rest_s=0.5) as ctl:
        await wait_until(lambda: ctl.cycles >= 1)
        before = ctl.cycles
        loop = asyncio.get_running_loop()
        sent_at = loop.time()
        _status(services, "CP-1")
        await wait_until(lambda: ctl.cycles > before)
        # Still within the start-up cycle's rest when the event arrived.
        assert loop.time() - sent_at >= 0.2


class _Turns(WritingCommands):
    """Notes the event loop's turn (a counter task's count) of every profile."""

    def __init__(self) -> None:
        super().__init__()
        self.turn = 0
        self.turns: list[int] = []

    def started(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
    ) -> None:
        if purpose is ProfilePurpose.TX:
            self.turns.append(self.turn)


async def _lowering_profiles(services: Services, commands: _Turns) -> list[int]:
    """The loop turns in which a shed's lower profiles were written."""

    async def count() -> None:
        while True:
            commands.turn += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    try:
        async with running(services, commands) as ctl:
            for cid in ("CP-1", "CP-2", "CP-3"):
                connect(services, commands, cid)
                start_session(services, cid, tx=cid[-1])
            await wait_until(lambda: len(commands.turns) == 3)
            await wait_until(lambda: not ctl.dispatcher.busy())
            commands.turns.clear()
            await ctl.set_shed_level(limit_a=20.0)  # every charger must go lower
            await wait_until(lambda: len(commands.turns) == 3)
            await wait_until(lambda: not ctl.dispatcher.busy())
    finally:
        counter.cancel()
    return commands.turns


@pytest.fixture
async def unmetered(tmp_path: Path) -> AsyncIterator[Services]:
    """The test site without a meter: chargers get their fair share."""
    services = await make_services(tmp_path, site_data())
    yield services
    await services.db.close()


async def test_a_cycles_profiles_go_out_in_one_turn_of_the_loop(
    unmetered: Services,
) -> None:
    turns = await _lowering_profiles(unmetered, _Turns())
    assert len(set(turns)) == 1  # no reply was read between them


async def test_the_dispatch_yields_once_it_held_the_loop_for_a_slice(
    unmetered: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(energy, "DISPATCH_SLICE_S", 0.0)
    turns = await _lowering_profiles(unmetered, _Turns())
    assert len(set(turns)) == 3  # other tasks ran between the chargers


async def test_allocation_runs_with_automatic_collection_paused(
    metered: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Young collections wait until the allocation is done (shed path latency)."""
    seen: list[bool] = []
    real = energy.allocate

    def spying(snapshot: Snapshot) -> Allocation:
        seen.append(gc.isenabled())
        return real(snapshot)

    monkeypatch.setattr(energy, "allocate", spying)
    assert gc.isenabled()
    async with running(metered, FakeCommands()) as ctl:
        await wait_until(lambda: ctl.cycles >= 1)
    assert seen
    assert not any(seen)
    assert gc.isenabled()
