"""Dispatch through ``start_limit``: the first profile queued before submit returns.

The fake stands for the OCPP adapter: ``start_limit`` "writes" the profile at
once and returns its answer, which the test settles; at most one profile per
charger may be unanswered at any time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from evsite.control.clock import ManualClock
from evsite.control.dispatch import Dispatcher
from evsite.control.dispatch_plan import Target
from evsite.control.live import LiveState
from evsite.control.ports import ProfilePurpose
from tests.conftest import wait_until
from tests.control.energy_fakes import START, FakeCommands


class Starting(FakeCommands):
    """Profiles are written by start_limit; answers come when the test says."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[str, int, float, ProfilePurpose]] = []
        self.answers: list[asyncio.Future[bool]] = []
        self.unanswered: dict[str, int] = {}
        self.overlap = False  # two profiles of one charger unanswered at once

    async def start_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> Awaitable[bool]:
        self.written.append((charger_id, connector_id, limit_a, purpose))
        if self.unanswered.get(charger_id, 0):
            self.overlap = True
        self.unanswered[charger_id] = self.unanswered.get(charger_id, 0) + 1
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return self._answered(charger_id, answer)

    async def _answered(self, charger_id: str, answer: asyncio.Future[bool]) -> bool:
        try:
            return await answer
        finally:
            self.unanswered[charger_id] -= 1


def _dispatcher(
    commands: FakeCommands, changes: list[tuple[str, bool]] | None = None
) -> Dispatcher:
    live = LiveState()
    for cid in ("A", "B"):  # sessions running: transactions 7 (port 1), 8 (port 2)
        for port, tx in ((1, "7"), (2, "8")):
            live.charger(cid).connector(port).transaction_id = tx
    dispatcher = Dispatcher(
        commands, live, ManualClock(START),
        on_control_change=lambda cid, ok: (
            changes.append((cid, ok)) if changes is not None else None
        ),
        retry_start_s=0.01,
    )  # fmt: skip
    # Each charger holds a 32 A TxDefault: a lower first profile goes out as is.
    dispatcher.defaults_in_force.update(dict.fromkeys(("A", "B"), 32.0))
    return dispatcher


def _target(limit: float, tx: str = "7") -> Target:
    return Target(limit, "fair_share", tx, 6.0)


async def test_submit_writes_the_first_profile_before_it_returns() -> None:
    commands = Starting()
    commands.connected.update({"A", "B"})
    dispatcher = _dispatcher(commands)
    try:
        await dispatcher.submit("A", {1: _target(10.0), 2: _target(12.0, "8")})
        await dispatcher.submit("B", {1: _target(9.0)})
        # Both chargers' first profiles are out, none waited for an answer.
        assert commands.written == [
            ("A", 1, 10.0, ProfilePurpose.TX),
            ("B", 1, 9.0, ProfilePurpose.TX),
        ]
        commands.answers[0].set_result(True)
        # A's second connector only after its first was answered.
        await wait_until(lambda: len(commands.written) == 3)
        assert commands.written[2] == ("A", 2, 12.0, ProfilePurpose.TX)
        commands.answers[1].set_result(True)
        commands.answers[2].set_result(True)
        await wait_until(lambda: not dispatcher.busy())
        assert dispatcher.limit_in_force("A", 1).limit_a == 10.0
        assert dispatcher.limit_in_force("A", 2).limit_a == 12.0
        assert dispatcher.limit_in_force("B", 1).limit_a == 9.0
        assert not commands.overlap
    finally:
        await dispatcher.stop()


async def test_targets_submitted_while_a_profile_is_unanswered_wait_for_it() -> None:
    commands = Starting()
    commands.connected.add("A")
    dispatcher = _dispatcher(commands)
    try:
        await dispatcher.submit("A", {1: _target(10.0)})
        await dispatcher.submit("A", {1: _target(8.0)})  # a newer, lower target
        assert len(commands.written) == 1  # one in flight per charger
        commands.answers[0].set_result(True)
        await wait_until(lambda: len(commands.written) == 2)
        assert commands.written[1][2] == 8.0  # the latest target
        commands.answers[1].set_result(True)
        await wait_until(lambda: not dispatcher.busy())
        assert not commands.overlap
    finally:
        await dispatcher.stop()


async def test_a_rejecting_charger_is_uncontrollable_until_it_accepts() -> None:
    commands = Starting()
    commands.connected.add("A")
    changes: list[tuple[str, bool]] = []
    dispatcher = _dispatcher(commands, changes)
    try:
        await dispatcher.submit("A", {1: _target(10.0)})
        commands.answers[0].set_result(False)
        await wait_until(lambda: changes == [("A", False)])
        await wait_until(lambda: len(commands.written) == 2)  # the retry
        commands.answers[1].set_result(True)
        await wait_until(lambda: changes == [("A", False), ("A", True)])
        assert dispatcher.limit_in_force("A", 1).limit_a == 10.0
    finally:
        await dispatcher.stop()


async def test_a_pending_default_goes_before_the_live_profile() -> None:
    commands = Starting()
    commands.connected.add("A")
    dispatcher = _dispatcher(commands)
    try:
        dispatcher.push_default("A", 16.0)
        await dispatcher.submit("A", {1: _target(10.0)})
        await wait_until(lambda: len(commands.written) == 1)
        assert commands.written[0][3] is ProfilePurpose.TX_DEFAULT
        commands.answers[0].set_result(True)
        await wait_until(lambda: len(commands.written) == 2)
        assert commands.written[1] == ("A", 1, 10.0, ProfilePurpose.TX)
        commands.answers[1].set_result(True)
        await wait_until(lambda: not dispatcher.busy())
    finally:
        await dispatcher.stop()


async def test_stop_with_answers_outstanding_leaves_nothing_behind() -> None:
    commands = Starting()
    commands.connected.update({"A", "B"})
    dispatcher = _dispatcher(commands)
    await dispatcher.submit("A", {1: _target(10.0)})
    await dispatcher.submit("B", {1: _target(10.0)})
    await dispatcher.stop()  # filterwarnings=error: no coroutine left unawaited
    assert len(commands.written) == 2


async def test_commands_without_start_limit_are_sent_by_the_worker() -> None:
    commands = FakeCommands()
    commands.connected.add("A")
    dispatcher = _dispatcher(commands)
    try:
        await dispatcher.submit("A", {1: _target(10.0)})
        await wait_until(lambda: commands.tx("A") == [10.0])
        await wait_until(lambda: not dispatcher.busy())
    finally:
        await dispatcher.stop()


async def test_answers_in_a_batch_are_handled_after_its_last_profile() -> None:
    commands = Starting()
    commands.connected.update({"A", "B"})
    dispatcher = _dispatcher(commands)
    try:
        with dispatcher.batch():
            await dispatcher.submit("A", {1: _target(10.0)})
            commands.answers[0].set_result(True)  # A answers at once
            for _ in range(5):  # the loop turns (slices end) ...
                await asyncio.sleep(0)
            assert dispatcher.limit_in_force("A", 1) is None  # ... A waits
            assert dispatcher.busy()
            await dispatcher.submit("B", {1: _target(9.0)})
        commands.answers[1].set_result(True)
        await wait_until(lambda: not dispatcher.busy())
        assert dispatcher.limit_in_force("A", 1).limit_a == 10.0
        assert dispatcher.limit_in_force("B", 1).limit_a == 9.0
    finally:
        await dispatcher.stop()
