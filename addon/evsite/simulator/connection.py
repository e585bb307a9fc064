"""The charger side of an OCPP-J connection: link, ordered outbox, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from ocpp.exceptions import OCPPError

from evsite.errors import ChargerError
from evsite.simulator.link import Link, LinkClosedError, open_link

_LOG = logging.getLogger(__name__)
TRANSACTION_MESSAGE_ATTEMPTS = 3
_RETRY = object()


@dataclass(slots=True)
class Pending:
    """A transaction-related message waiting in the outbox (built at send time)."""

    build: Callable[[], Any]
    done: Callable[[Any], None] | None
    unique_id: str
    future: asyncio.Future[Any]
    attempts: int = 0


class ChargerConnection(ABC):
    """One charger's connection: calls, the ordered outbox and background loops."""

    def __init__(
        self,
        charger_id: str,
        url: str,
        version: str,
        *,
        password: str | None,
        meter_interval: float | None,
        auto_reconnect: bool,
        response_timeout: float,
    ) -> None:
        """Connect later to ``<url>/<charger_id>``."""
        self.id = charger_id
        self.url = f"{url.rstrip('/')}/{charger_id}"
        self.version = version
        self.password = password
        self.meter_interval = meter_interval
        self.auto_reconnect = auto_reconnect
        self.response_timeout = response_timeout
        self.acked: list[tuple[str, dict[str, Any], Any]] = []
        self.boot_status: str | None = None
        self.heartbeat_interval = 300.0
        self.boots = 0
        self._outbox: deque[Pending] = deque()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._link: Link | None = None
        self._cp: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._online = False
        self._scripted_offline = False
        self._closing = False
        self._connect_lock = asyncio.Lock()
        self._reconnector: asyncio.Task[Any] | None = None

    @abstractmethod
    def make_cp(self, link: Link) -> Any:
        """The ``ocpp`` ChargePoint answering the central system's calls."""

    @abstractmethod
    def boot_payload(self) -> Any:
        """BootNotification."""

    @abstractmethod
    def heartbeat_payload(self) -> Any:
        """Heartbeat."""

    @abstractmethod
    async def after_boot(self) -> None:
        """Report the state after an accepted BootNotification."""

    @abstractmethod
    async def send_meter_values(self, connector: int | None = None) -> None:
        """One periodic reading."""

    # -- connection -------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected and accepted by the central system."""
        return self._online

    @property
    def current_cp(self) -> Any:
        """The live ``ocpp`` ChargePoint, if connected."""
        return self._cp

    @property
    def outbox_size(self) -> int:
        """Messages waiting to be delivered."""
        return len(self._outbox)

    async def connect(self, boot: bool = True) -> None:
        """Open the WebSocket; with ``boot`` send BootNotification and statuses.

        Raises:
            ChargerError: refused at the handshake or by BootNotification.
        """
        self._closing = False
        self._scripted_offline = False
        await self._connect(boot)

    async def _connect(self, boot: bool) -> None:
        """One connection attempt; only one runs at a time."""
        async with self._connect_lock:
            if self._online:
                return
            await self._open()
            cp = self._cp
            if boot:
                await self._boot()
            if self._cp is not cp:  # the server closed it while we were booting
                raise ChargerError(f"{self.id}: connection lost while connecting")
            self._online = True
            self._start_loops()
            self._wake.set()
        if boot:
            await self.after_boot()

    async def _open(self) -> None:
        """WebSocket + ocpp ChargePoint + receive task."""
        sub = f"ocpp{self.version}"
        try:
            link = await open_link(
                self.url, sub, self.password, self.id, self.response_timeout
            )
        except (aiohttp.ClientError, OSError) as err:
            raise ChargerError(
                f"{self.id}: cannot connect to {self.url}: {err}"
            ) from err
        self._link = link
        self._cp = self.make_cp(link)
        self._cp._response_timeout = self.response_timeout
        self._reader = asyncio.create_task(self._read(self._cp))
        if not any(t for t in self._loops if t.get_name() == "pump"):
            self._loops.append(asyncio.create_task(self._pump(), name="pump"))

    async def _boot(self) -> None:
        """BootNotification until Accepted (Pending retries at the given interval)."""
        while True:
            res = await self.call(self.boot_payload())
            self.boots += 1
            self.boot_status = str(res.status)
            if res.interval:
                self.heartbeat_interval = float(res.interval)
            if self.boot_status == "Accepted":
                return
            if self.boot_status == "Rejected":
                await self._drop_link()
                raise ChargerError(f"{self.id}: BootNotification rejected")
            await asyncio.sleep(min(self.heartbeat_interval, 5.0))

    async def _read(self, cp: Any) -> None:
        """Run the library's receive loop until the socket closes."""
        try:
            await cp.start()
        except (LinkClosedError, aiohttp.ClientError, ConnectionError):
            pass
        except Exception:  # top of a long-running task: log and treat as closed
            _LOG.exception("%s: receive loop failed", self.id)
        finally:
            if self._cp is cp:
                self._lost()

    def _lost(self) -> None:
        """The link is gone: stop sending, release waiters, maybe reconnect."""
        self._online = False
        for coro in getattr(self._cp, "deferred", []):
            coro.close()  # follow-ups of a command whose reply never went out
        self._cp = None
        link, self._link = self._link, None
        if link is not None:
            self.spawn(link.close())
        for entry in self._outbox:
            if not entry.future.done():
                entry.future.set_result(None)
        wanted = self.auto_reconnect and not (self._closing or self._scripted_offline)
        if wanted and (self._reconnector is None or self._reconnector.done()):
            self._reconnector = self.spawn(self._reconnect())  # one loop at a time

    async def _reconnect(self) -> None:
        """Reconnect with back-off, without a BootNotification (same power cycle)."""
        delay = 0.1
        while not (self._closing or self._scripted_offline or self._online):
            try:
                await self._connect(boot=False)
                return
            except ChargerError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _drop_link(self) -> None:
        """Close the socket and wait for the reader to notice."""
        link, reader = self._link, self._reader
        self._link = None
        if link is not None:
            await link.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(reader, self.response_timeout)

    async def go_offline(self) -> None:
        """Lose the connection; transaction messages queue until :meth:`go_online`."""
        self._scripted_offline = True
        self._stop_loops(keep_pump=True)
        async with self._lock:  # never cut a message in half
            await self._drop_link()
        self._online = False

    async def close(self) -> None:
        """Disconnect for good and cancel every task."""
        self._closing = True
        self._stop_loops(keep_pump=False)
        async with self._lock:
            await self._drop_link()
        self._online = False
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- sending ----------------------------------------------------------

    async def call(self, payload: Any, unique_id: str | None = None) -> Any:
        """One CALL now, failing fast if the link drops.

        Raises:
            ChargerError: offline or the connection was lost.
            OCPPError: the central system answered with a CallError.
        """
        async with self._lock:
            cp, reader = self._cp, self._reader
            if cp is None or reader is None:
                raise ChargerError(f"{self.id}: offline")
            call = asyncio.ensure_future(
                cp.call(payload, suppress=False, unique_id=unique_id)
            )
            await asyncio.wait({call, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done():
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await call
                raise ChargerError(f"{self.id}: connection lost")
            try:
                return call.result()
            except (ConnectionError, aiohttp.ClientError) as err:
                # e.g. "Cannot write to closing transport": the link died mid-send
                raise ChargerError(f"{self.id}: connection lost: {err}") from err

    async def send(
        self, build: Callable[[], Any], done: Callable[[Any], None] | None = None
    ) -> Any:
        """Queue a transaction message in order; await its reply while online."""
        loop = asyncio.get_running_loop()
        entry = Pending(build, done, str(uuid.uuid4()), loop.create_future())
        self._outbox.append(entry)
        self._drained.clear()
        self._wake.set()
        if not self._online:
            return None
        return await entry.future

    async def _pump(self) -> None:
        """Deliver the outbox in order whenever online (original timestamps kept)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._online and self._outbox:
                entry = self._outbox[0]
                try:
                    outcome = await self._deliver(entry)
                except ChargerError:
                    break  # link lost: keep the entry, resend with the same id
                except Exception:  # top of a long-running task: keep pumping
                    _LOG.exception("%s: %s dropped", self.id, entry.unique_id)
                    outcome = None
                if outcome is _RETRY:
                    continue
                self._outbox.popleft()
                if not entry.future.done():
                    entry.future.set_result(outcome)
            if not self._outbox:
                self._drained.set()

    async def _deliver(self, entry: Pending) -> Any:
        """Send one entry: its reply, None when refused, ``_RETRY`` when unanswered."""
        payload = entry.build()
        try:
            result = await self.call(payload, entry.unique_id)
        except TimeoutError:
            # OCPP 1.6 §4.10 TransactionMessageAttempts: retry with the same id.
            entry.attempts += 1
            if entry.attempts < TRANSACTION_MESSAGE_ATTEMPTS:
                return _RETRY
            _LOG.warning("%s: %s unanswered, dropped", self.id, entry.unique_id)
            return None
        except OCPPError as err:  # the central system refused it
            _LOG.warning("%s: %s dropped: %s", self.id, entry.unique_id, err)
            return None
        self.acked.append((type(payload).__name__, _fields(payload), result))
        if entry.done is not None:
            entry.done(result)
        return result

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued message was delivered."""
        await asyncio.wait_for(self._drained.wait(), timeout)

    # -- background loops ---------------------------------------------------

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a follow-up coroutine owned by this charger."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _start_loops(self) -> None:
        """Heartbeat and periodic meter values while online."""
        self._stop_loops(keep_pump=True)
        self._loops.append(asyncio.create_task(self._heartbeats(), name="hb"))
        if self.meter_interval:
            self._loops.append(asyncio.create_task(self._meters(), name="meter"))

    def _stop_loops(self, keep_pump: bool) -> None:
        """Cancel the periodic loops (and the pump unless kept)."""
        keep = [t for t in self._loops if keep_pump and t.get_name() == "pump"]
        for task in self._loops:
            if task not in keep:
                task.cancel()
        self._loops = keep

    async def _heartbeats(self) -> None:
        """Heartbeat at the interval the central system asked for."""
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            with contextlib.suppress(ChargerError, OCPPError, TimeoutError):
                await self.call(self.heartbeat_payload())

    async def _meters(self) -> None:
        """Meter values at ``meter_interval`` for every active session."""
        while True:
            await asyncio.sleep(float(self.meter_interval or 60))
            await self.send_meter_values()


def _fields(payload: Any) -> dict[str, Any]:
    """A payload dataclass as a dict (for the acknowledged-message log)."""
    return {k: getattr(payload, k) for k in payload.__dataclass_fields__}
