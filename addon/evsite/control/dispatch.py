"""Send allocated limits to chargers as charging profiles (SPEC §2.1, §2.3, §4.3).

One worker task per charger with something to send, so a slow charger never
holds up the others (the OCPP adapter queues calls per charger anyway). A
worker always sends the *latest* target: targets submitted while it is busy
replace older ones. :meth:`Dispatcher.submit` queues the first profile of an
idle charger itself (with the OCPP adapter, its frame is written by then), so
a shed's frames go out back to back; the worker waits for the answer.

What to send is planned by :mod:`evsite.control.dispatch_plan` (deadband,
ramp, first profile of a transaction). Live TxProfiles are re-sent every
``TX_REFRESH_S`` so they never lapse while evsite runs.

A charger that rejects a profile is uncontrollable until it accepts: the
  worker re-sends the rejected profile with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from evsite.adapters.storage.energy_repo import SentLimit
from evsite.control.clock import Clock
from evsite.control.dispatch_plan import Command, InForce, Target, plan_step
from evsite.control.live import LiveState
from evsite.control.ports import ChargerCommands, ProfilePurpose
from evsite.errors import EvsiteError

_LOGGER = logging.getLogger(__name__)

# Above the OCPP queue's own call timeout (30 s): that one decides normally.
SEND_TIMEOUT_S = 60.0
RETRY_START_S = 1.0
RETRY_MAX_S = 60.0
RAMP_INTERVAL_S = 1.0  # the control tick: one ramp step per tick at most
# Live TxProfiles expire (csms TX_PROFILE_VALID_S = 60 s, a dead-man switch):
# re-send well before, so only a dead evsite lets them lapse to the TxDefault.
TX_REFRESH_S = 20.0
# Each charger refreshes a fixed part of this earlier than TX_REFRESH_S (from
# its id), so 1,000 profiles sent together are not all re-sent in one burst.
TX_REFRESH_SPREAD_S = 10.0
# TxDefault pushes in flight at once: after a reconnect storm thousands are
# due together, and BootNotification replies must not queue behind them.
# TxProfiles (live limits, shedding) are never held back by this.
DEFAULT_CONCURRENCY = 64
_EPS = 1e-6


def refresh_after_s(charger_id: str) -> float:
    """Age at which this charger's live TxProfiles are re-sent (10-20 s)."""
    share = (zlib.crc32(charger_id.encode()) % 1000) / 1000
    return TX_REFRESH_S - TX_REFRESH_SPREAD_S * share


Recorder = Callable[[SentLimit], Awaitable[None]]
# start_limit(charger, connector, amps, purpose, transaction) -> the answer.
Starter = Callable[
    [str, int, float, ProfilePurpose, str | None], Awaitable[Awaitable[bool]]
]


@dataclass(slots=True)
class _ChargerWork:
    targets: dict[int, Target] = field(default_factory=dict)
    default_a: float | None = None  # a TxDefault still to push
    task: asyncio.Task[None] | None = None
    retrying: bool = False  # waiting to re-send a rejected profile
    # A profile submit() queued already, and its answer, for the worker.
    started: tuple[Command, Awaitable[bool]] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Dispatcher:
    """Per-charger workers sending profiles; remembers what is in force."""

    def __init__(
        self,
        commands: ChargerCommands,
        live: LiveState,
        clock: Clock,
        *,
        on_control_change: Callable[[str, bool], None],
        record: Recorder | None = None,
        retry_start_s: float = RETRY_START_S,
    ) -> None:
        """Send through ``commands``; report controllability changes."""
        self._commands = commands
        self._live = live
        self._clock = clock
        self._on_control_change = on_control_change
        self._record = record
        self._retry_start_s = retry_start_s
        found = getattr(commands, "start_limit", None)
        self._start_limit: Starter = found if found is not None else self._later
        self._refresh_after: dict[str, float] = {}
        self._held: list[str] | None = None  # inside batch(): workers to start
        self._work: dict[str, _ChargerWork] = {}
        self.in_force: dict[tuple[str, int], InForce] = {}
        self.defaults_in_force: dict[str, float | None] = {}
        self._wanted_default: dict[str, float] = {}
        self.undelivered_defaults: set[str] = set()  # the controller re-pushes
        self._default_slots = asyncio.Semaphore(DEFAULT_CONCURRENCY)
        self.deadband_a = 0.5
        self.ramp_up_step_a = 4.0
        self.sent_count = 0
        self.on_sent: Callable[[str, Command], None] | None = None

    # Submitting work

    async def submit(self, charger_id: str, targets: dict[int, Target]) -> None:
        """Replace the charger's targets; queue what is due now.

        An idle charger's first profile is queued before this returns (the
        OCPP adapter writes the frame at once when the charger's queue is
        idle); its worker task then waits for the answer and sends the rest.
        """
        work = self._work.get(charger_id)
        if work is None:
            work = self._work[charger_id] = _ChargerWork()
        work.targets = targets
        if work.started is not None or (
            work.task is not None and not work.task.done()
        ):
            work.wake.set()  # busy: it sends the latest targets next
            return
        if work.default_a is not None:
            self._kick(charger_id, work)  # the TxDefault goes first
            return
        # Nothing to send: no worker (with 1,000 chargers this matters every tick).
        cmd = next(
            (
                found
                for c, t in sorted(targets.items())
                if (found := self._plan(charger_id, c, t)) is not None
            ),
            None,
        )
        if cmd is None or not self._commands.is_connected(charger_id):
            return
        try:
            answer = await self._start(charger_id, cmd)
        except (EvsiteError, OSError) as err:
            self._undelivered(charger_id, cmd, err)
            return
        work.started = (cmd, answer)
        if self._held is not None:
            self._held.append(charger_id)
        else:
            self._kick(charger_id, work)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Submits within start their workers when the batch ends.

        A shed writes every charger's lower profile before any answer is
        handled (recorded, followed by the next profile): the answers wait
        for the last frame, not the other way round.
        """
        held: list[str] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
            for charger_id in held:
                self._kick(charger_id, self._work[charger_id])

    def push_default(self, charger_id: str, limit_a: float) -> None:
        """Queue the charger's TxDefaultProfile (its offline allocation, per port)."""
        work = self._work.setdefault(charger_id, _ChargerWork())
        work.default_a = limit_a
        self._wanted_default[charger_id] = limit_a
        self._kick(charger_id, work)

    def forget(self, charger_id: str) -> None:
        """The charger reconnected or left: its live profiles are unknown now."""
        for key in [k for k in self.in_force if k[0] == charger_id]:
            del self.in_force[key]

    def limit_in_force(self, charger_id: str, connector_id: int) -> InForce | None:
        """The TxProfile the connector accepted, if any."""
        return self.in_force.get((charger_id, connector_id))

    def limits_in_force(self, live: LiveState) -> dict[tuple[str, int], float]:
        """Accepted TxProfile limits of the transactions running now."""
        result: dict[tuple[str, int], float] = {}
        for key, held in self.in_force.items():
            charger = live.chargers.get(key[0])
            conn = charger.connectors.get(key[1]) if charger is not None else None
            if conn is not None and conn.transaction_id == held.transaction_id:
                result[key] = held.limit_a
        return result

    def busy(self) -> bool:
        """Some worker is sending (not just waiting to retry a rejecting charger)."""
        return any(
            w.started is not None
            or (w.task is not None and not w.task.done() and not w.retrying)
            for w in self._work.values()
        )

    async def stop(self) -> None:
        """Cancel every worker and wait for them."""
        tasks = [w.task for w in self._work.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for work in self._work.values():
            if work.started is not None and inspect.iscoroutine(work.started[1]):
                work.started[1].close()  # its worker was cancelled before it
        self._work.clear()

    def _kick(self, charger_id: str, work: _ChargerWork) -> None:
        work.wake.set()
        if work.task is None or work.task.done():
            work.task = asyncio.create_task(
                self._worker(charger_id, work), name=f"dispatch:{charger_id}"
            )

    # The worker

    async def _worker(self, charger_id: str, work: _ChargerWork) -> None:
        """Send until nothing is left; retry a rejecting charger with backoff."""
        try:
            while work.wake.is_set():
                work.wake.clear()
                rejected = await self._send_pending(charger_id, work)
                if rejected is not None:
                    work.retrying = True
                    try:
                        await self._retry(charger_id, rejected)
                    finally:
                        work.retrying = False
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("dispatch to %s failed", charger_id)

    async def _send_pending(
        self, charger_id: str, work: _ChargerWork
    ) -> Command | None:
        """Send the pending TxDefault and TxProfiles; the rejected command, if any."""
        tried = None
        if work.started is not None:
            (tried, answer), work.started = work.started, None
            if not await self._finish(charger_id, tried, answer):
                return tried
        if not self._commands.is_connected(charger_id):
            return None
        if work.default_a is not None:
            default, work.default_a = work.default_a, None
            cmd = Command(
                0, default, ProfilePurpose.TX_DEFAULT, None, "offline_allocation"
            )
            async with self._default_slots:
                delivered = await self._send(charger_id, cmd)
            if not delivered:
                return cmd
        for connector_id, target in sorted(work.targets.items()):
            cmd_or_none = self._plan(charger_id, connector_id, target)
            if cmd_or_none == tried:
                continue  # just undelivered: the next cycle sends it again
            if cmd_or_none is not None and not await self._send(
                charger_id, cmd_or_none
            ):
                return cmd_or_none
        return None

    def _plan(
        self, charger_id: str, connector_id: int, target: Target
    ) -> Command | None:
        """The TxProfile to send for one connector now, if any."""
        if target.transaction_id is None:
            return None  # OCPP 1.6: TxProfile needs a transaction; TxDefault holds it
        held = self.in_force.get((charger_id, connector_id))
        first = held is None or held.transaction_id != target.transaction_id
        age = 0.0 if held is None else self._clock.monotonic() - held.at
        if first or held is None:
            current = self.defaults_in_force.get(charger_id) or 0.0
            may_ramp = True
        else:
            current = held.limit_a
            may_ramp = age >= RAMP_INTERVAL_S - _EPS
        limit = plan_step(
            target,
            current,
            first=first,
            deadband_a=self.deadband_a,
            ramp_up_step_a=self.ramp_up_step_a,
            may_ramp=may_ramp,
        )
        refresh = self._refresh_after.get(charger_id)
        if refresh is None:
            refresh = self._refresh_after[charger_id] = refresh_after_s(charger_id)
        stale = held is not None and age >= refresh - _EPS
        if limit is None and held is not None and not first and stale:
            limit = held.limit_a  # refresh before it expires
        if limit is None:
            return None
        return Command(
            connector_id, limit, ProfilePurpose.TX, target.transaction_id, target.reason
        )

    async def _send(self, charger_id: str, cmd: Command) -> bool:
        """Send one profile; False only when the charger rejected it."""
        try:
            answer = await self._start(charger_id, cmd)
        except (EvsiteError, OSError) as err:
            return self._undelivered(charger_id, cmd, err)
        return await self._finish(charger_id, cmd, answer)

    async def _start(self, charger_id: str, cmd: Command) -> Awaitable[bool]:
        """Queue one profile with the charger; its answer, to await."""
        return await self._start_limit(
            charger_id, cmd.connector_id, cmd.limit_a, cmd.purpose, cmd.transaction_id
        )

    async def _later(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None,
    ) -> Awaitable[bool]:
        """For commands without ``start_limit``: set_limit runs when awaited."""
        return self._commands.set_limit(
            charger_id, connector_id, limit_a, purpose, transaction_id
        )

    async def _finish(
        self, charger_id: str, cmd: Command, answer: Awaitable[bool]
    ) -> bool:
        """Wait for a queued profile's answer; False only when rejected."""
        try:
            # asyncio.timeout, not wait_for: no extra task per profile.
            async with asyncio.timeout(SEND_TIMEOUT_S):
                accepted = await answer
        except (TimeoutError, EvsiteError, OSError) as err:
            return self._undelivered(charger_id, cmd, err)
        self.sent_count += 1
        if self.on_sent is not None:
            self.on_sent(charger_id, cmd)
        _LOGGER.debug(
            "limit %s/%d -> %.1f A as %s (%s): %s",
            charger_id, cmd.connector_id, cmd.limit_a, cmd.purpose.value, cmd.reason,
            "accepted" if accepted else "REJECTED",
        )  # fmt: skip
        if accepted:
            self._accepted(charger_id, cmd)
        elif cmd.purpose is ProfilePurpose.TX_DEFAULT:
            self.defaults_in_force[charger_id] = None
        await self._store(charger_id, cmd, accepted)
        return accepted or not self._still_relevant(charger_id, cmd)

    def _undelivered(self, charger_id: str, cmd: Command, err: Exception) -> bool:
        """Not a rejection: the link failed; the next cycle sends again."""
        _LOGGER.warning("profile to %s not delivered: %s", charger_id, err)
        if cmd.purpose is ProfilePurpose.TX_DEFAULT:
            self.undelivered_defaults.add(charger_id)
        return True

    def _accepted(self, charger_id: str, cmd: Command) -> None:
        if cmd.purpose is ProfilePurpose.TX_DEFAULT:
            self.defaults_in_force[charger_id] = cmd.limit_a
        elif cmd.transaction_id is not None:
            self.in_force[(charger_id, cmd.connector_id)] = InForce(
                cmd.limit_a, cmd.transaction_id, self._clock.monotonic()
            )

    def _still_relevant(self, charger_id: str, cmd: Command) -> bool:
        """A TxProfile rejected after its transaction ended says nothing of control."""
        if cmd.purpose is not ProfilePurpose.TX:
            return True
        state = self._live.chargers.get(charger_id)
        conn = state.connectors.get(cmd.connector_id) if state is not None else None
        return conn is not None and conn.transaction_id == cmd.transaction_id

    async def _store(self, charger_id: str, cmd: Command, accepted: bool) -> None:
        """Persist TxDefaults (what a charger holds when evsite is gone).

        Live TxProfiles are not stored: they expire within a minute and belong
        to one transaction, and a shed would otherwise write once per charger.
        """
        if self._record is None or cmd.purpose is not ProfilePurpose.TX_DEFAULT:
            return
        sent = SentLimit(
            charger_id, cmd.connector_id, cmd.purpose.value, cmd.limit_a,
            cmd.transaction_id, accepted,
        )  # fmt: skip
        try:
            await self._record(sent)
        except EvsiteError as err:
            _LOGGER.warning(
                "could not record the limit sent to %s: %s", charger_id, err
            )

    async def _retry(self, charger_id: str, cmd: Command) -> None:
        """Uncontrollable until it accepts a profile again (exponential backoff)."""
        self._on_control_change(charger_id, False)
        delay = self._retry_start_s
        probe: Command | None = cmd
        while probe is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            probe = self._probe(charger_id, probe)
            if probe is None or not self._commands.is_connected(charger_id):
                continue
            if await self._send(charger_id, probe):
                break
        _LOGGER.info("charger %s is controllable again", charger_id)
        self._on_control_change(charger_id, True)

    def _probe(self, charger_id: str, cmd: Command) -> Command | None:
        """What to retry: a newer TxDefault if one was asked for, else ``cmd``."""
        work = self._work.get(charger_id)
        if work is not None and work.default_a is not None:
            default, work.default_a = work.default_a, None
            return Command(
                0, default, ProfilePurpose.TX_DEFAULT, None, "offline_allocation"
            )
        if self._still_relevant(charger_id, cmd):
            return cmd
        wanted = self._wanted_default.get(charger_id)
        if wanted is None:
            return None  # nothing left to prove; the next cycle tests it again
        return Command(0, wanted, ProfilePurpose.TX_DEFAULT, None, "offline_allocation")
