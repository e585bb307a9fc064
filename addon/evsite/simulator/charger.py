"""SimCharger: one scripted OCPP 1.6 / 2.0.1 charger with cars that charge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from ocpp.exceptions import OCPPError

from evsite.control.clock import Clock, SystemClock
from evsite.errors import ChargerError
from evsite.simulator import profiles as prof
from evsite.simulator.ev import ConnectorState, Ev
from evsite.simulator.flow import Flow, make_flow
from evsite.simulator.link import Link, LinkClosedError, open_link
from evsite.simulator.settings import Settings

_LOG = logging.getLogger(__name__)
VERSIONS = ("1.6", "2.0.1")


@dataclass(slots=True)
class Pending:
    """A transaction-related message waiting in the outbox (built at send time)."""

    build: Callable[[], Any]
    done: Callable[[Any], None] | None
    unique_id: str
    future: asyncio.Future[Any]


class SimCharger:
    """A simulated charging station; every public coroutine is a script step."""

    def __init__(
        self,
        charger_id: str,
        url: str,
        version: str = "1.6",
        *,
        connectors: int | Sequence[int] = 1,
        phases: int = 3,
        max_current_a: float = 32.0,
        password: str | None = None,
        clock: Clock | None = None,
        meter_interval: float | None = None,
        rate_unit: str = "Current",
        auto_reconnect: bool = True,
        response_timeout: float = 10.0,
    ) -> None:
        """Describe the charger; nothing connects until :meth:`connect`."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
        ids = range(1, connectors + 1) if isinstance(connectors, int) else connectors
        self.id = charger_id
        self.url = f"{url.rstrip('/')}/{charger_id}"
        self.version = version
        self.password = password
        self.clock: Clock = clock or SystemClock()
        self.meter_interval = meter_interval
        self.auto_reconnect = auto_reconnect
        self.response_timeout = response_timeout
        self.connectors = {c: ConnectorState(c, max_current_a, phases) for c in ids}
        self.profiles: tuple[prof.Profile, ...] = ()
        self.settings = Settings.defaults(
            len(self.connectors), rate_unit, meter_interval or 60
        )
        self.local_list: dict[str, str] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, str] = {}
        self.acked: list[tuple[str, dict[str, Any], Any]] = []
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.boot_status: str | None = None
        self.heartbeat_interval = 300.0
        self.boots = 0
        self._flow: Flow = make_flow(self)
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
        self._last_mono = self.clock.monotonic()
        self._next_local = 0

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
        await self._open()
        if boot:
            await self._boot()
        self._online = True
        self._start_loops()
        self._wake.set()
        if boot:
            for conn in self.connectors.values():
                await self._flow.status(conn, conn.status, force=True)

    async def _open(self) -> None:
        """WebSocket + ocpp ChargePoint + receive task."""
        sub = "ocpp1.6" if self.version == "1.6" else "ocpp2.0.1"
        try:
            link = await open_link(
                self.url, sub, self.password, self.id, self.response_timeout
            )
        except (aiohttp.ClientError, OSError) as err:
            raise ChargerError(
                f"{self.id}: cannot connect to {self.url}: {err}"
            ) from err
        self._link = link
        self._cp = self._flow.make_cp(link)
        self._cp._response_timeout = self.response_timeout
        self._reader = asyncio.create_task(self._read(self._cp))
        if not any(t for t in self._loops if t.get_name() == "pump"):
            self._loops.append(asyncio.create_task(self._pump(), name="pump"))

    async def _boot(self) -> None:
        """BootNotification until Accepted (Pending retries at the given interval)."""
        while True:
            res = await self.call(self._flow.boot())
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
        if self.auto_reconnect and not (self._closing or self._scripted_offline):
            self.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        """Reconnect with back-off, without a BootNotification (same power cycle)."""
        delay = 0.1
        while not (self._closing or self._scripted_offline or self._online):
            try:
                await self.connect(boot=False)
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

    async def go_online(self, boot: bool = False) -> None:
        """Reconnect (optionally with BootNotification) and replay the outbox."""
        self.refresh_energy()
        await self.connect(boot=boot)

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
            return call.result()

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
                payload = entry.build()
                try:
                    result = await self.call(payload, entry.unique_id)
                except ChargerError:
                    break  # link lost: keep the entry, resend with the same id
                except (OCPPError, TimeoutError) as err:
                    _LOG.warning(
                        "%s: %s dropped: %s", self.id, type(payload).__name__, err
                    )
                    result = None
                self._outbox.popleft()
                if result is not None:
                    self.acked.append(
                        (type(payload).__name__, _fields(payload), result)
                    )
                    if entry.done is not None:
                        entry.done(result)
                if not entry.future.done():
                    entry.future.set_result(result)
            if not self._outbox:
                self._drained.set()

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
                await self.call(self._flow.heartbeat())

    async def _meters(self) -> None:
        """Meter values at ``meter_interval`` for every active session."""
        while True:
            await asyncio.sleep(float(self.meter_interval or 60))
            await self.send_meter_values()

    # -- physics -----------------------------------------------------------

    def refresh_energy(self) -> None:
        """Integrate energy up to now at the draws in force since last time."""
        mono = self.clock.monotonic()
        elapsed, self._last_mono = mono - self._last_mono, mono
        for conn in self.connectors.values():
            conn.advance(elapsed)

    def session_ref(self, connector: int) -> tuple[str | None, datetime | None]:
        """(transaction id, start) of the running session; id "" = not known yet."""
        tx = self.connectors[connector].tx
        if tx is None or tx.stopped:
            return None, None
        return tx.tx_id or "", tx.started

    def effective_limit(self, connector: int) -> float | None:
        """Per-phase amps the installed profiles allow now (None: no profile)."""
        tx_id, started = self.session_ref(connector)
        return prof.limit_amps(
            self.profiles,
            connector,
            tx_id,
            started,
            self.clock.now(),
            self.connectors[connector].phases,
        )

    def current_draw(self, connector: int) -> float:
        """Amps per phase the car draws now."""
        self.refresh_energy()
        conn = self.connectors[connector]
        conn.draw_a = conn.wanted_a(self.effective_limit(connector))
        return conn.draw_a

    async def refresh(self) -> None:
        """Integrate, re-apply limits and report changed connector states."""
        self.refresh_energy()
        for conn in self.connectors.values():
            conn.draw_a = conn.wanted_a(self.effective_limit(conn.id))
            await self._flow.sync(conn)

    # -- script steps --------------------------------------------------------

    def connector(self, connector: int) -> ConnectorState:
        """A connector's state (raises KeyError for an unknown id)."""
        return self.connectors[connector]

    async def plug_in(self, connector: int, ev: Ev | None = None) -> None:
        """Plug a car in (a default car when none given)."""
        self.refresh_energy()
        conn = self.connectors[connector]
        conn.ev = ev or Ev()
        await self._flow.plugged(conn)
        await self.refresh()

    async def unplug(self, connector: int) -> None:
        """Unplug: ends any session (EVDisconnected) and frees the connector."""
        self.refresh_energy()
        await self._flow.unplugged(self.connectors[connector])
        self.connectors[connector].ev = None
        await self.refresh()

    async def tap(self, connector: int, id_tag: str) -> bool:
        """Present an RFID card: start, or stop with the same card; True if acted on."""
        self.refresh_energy()
        conn = self.connectors[connector]
        tx = conn.tx
        if tx is not None and tx.authorized and not tx.stopped:
            if tx.id_tag != id_tag:
                return False
            await self._flow.stop(conn, "Local")
            await self.refresh()
            return True
        if conn.reserved_for is not None and conn.reserved_for != id_tag:
            return False
        if not await self.authorize(id_tag):
            return False
        await self._flow.authorized(conn, id_tag)
        await self.refresh()
        return True

    async def authorize(self, id_tag: str) -> bool:
        """Authorize online, or from the local list / cache while offline."""
        if self._online:
            try:
                res = await self.call(self._flow.authorize(id_tag))
            except ChargerError:
                return self._offline_ok(id_tag)
            status = self._flow.auth_status(res)
            if self.settings.flag.get("AuthorizationCacheEnabled"):
                self.auth_cache[id_tag] = status
            return status == "Accepted"
        return self._offline_ok(id_tag)

    def _offline_ok(self, id_tag: str) -> bool:
        """Local authorization list first, then the cache (OCPP 1.6 §3.5)."""
        if self.settings.flag.get("LocalAuthListEnabled") and id_tag in self.local_list:
            return self.local_list[id_tag] == "Accepted"
        return self.auth_cache.get(id_tag) == "Accepted"

    async def send_meter_values(self, connector: int | None = None) -> None:
        """Send a meter reading for active sessions (or the one connector)."""
        await self.refresh()
        for conn in self.connectors.values():
            if (
                connector in (None, conn.id)
                and conn.tx is not None
                and not conn.tx.stopped
            ):
                await self._flow.meter(conn)

    def next_local_id(self) -> int:
        """A charger-local transaction number."""
        self._next_local += 1
        return self._next_local


def _fields(payload: Any) -> dict[str, Any]:
    """A payload dataclass as a dict (for the acknowledged-message log)."""
    return {k: getattr(payload, k) for k in payload.__dataclass_fields__}
