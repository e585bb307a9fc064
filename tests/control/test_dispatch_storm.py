"""A storm of TxDefault pushes is bounded; live TxProfiles never wait for it."""

from __future__ import annotations

import asyncio

from evsite.control.clock import ManualClock
from evsite.control.dispatch import DEFAULT_CONCURRENCY, Dispatcher
from evsite.control.dispatch_plan import Target
from evsite.control.live import LiveState
from evsite.control.ports import ProfilePurpose
from tests.conftest import wait_until
from tests.control.energy_fakes import START, FakeCommands


class _Counting(FakeCommands):
    """Counts TxDefault calls in flight; they all wait for ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.in_flight = 0
        self.peak = 0

    async def set_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> bool:
        if purpose is not ProfilePurpose.TX_DEFAULT:
            return await super().set_limit(
                charger_id, connector_id, limit_a, purpose, transaction_id
            )
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return await super().set_limit(
            charger_id, connector_id, limit_a, purpose, transaction_id
        )


async def test_default_storm_is_bounded_and_profiles_pass() -> None:
    commands = _Counting()
    dispatcher = Dispatcher(
        commands, LiveState(), ManualClock(START), on_control_change=lambda c, v: None
    )
    ids = [f"CP{i:04d}" for i in range(300)]
    commands.connected.update([*ids, "LIVE"])
    try:
        for cid in ids:
            dispatcher.push_default(cid, 16.0)
        await wait_until(lambda: commands.in_flight == DEFAULT_CONCURRENCY)
        # A live limit for a charger with no default pending goes out at once.
        await dispatcher.submit("LIVE", {1: Target(10.0, "fair_share", "7", 6.0)})
        await wait_until(lambda: len(commands.tx("LIVE")) == 1)
        commands.release.set()
        await wait_until(lambda: all(commands.defaults(c) == [16.0] for c in ids))
        assert commands.peak == DEFAULT_CONCURRENCY
    finally:
        await dispatcher.stop()
