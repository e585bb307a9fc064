"""The OCPP central system: WebSocket endpoint, connections, liveness.

Public API (used by app.py, the web layer, the simulator tests)::

    central = CentralSystem(services)            # keyword options below
    await central.start()                        # registers components, watchdog
    app.add_routes(central.routes())             # GET /ocpp/{charger_id}
    # or: port = await central.listen(host, port)  own runner (+TLS from settings)
    await central.stop()                         # closes every charger socket

    services.components["csms"] is central
    services.components["charger_commands"] is central.commands  # ChargerCommands

Options: ``heartbeat_timeout_s`` (default 2 × heartbeat interval + 60 s: a
charger silent that long is *unreachable*), ``watchdog_interval_s``,
``call_timeout_s`` (per command), ``ws_ping_interval_s`` (WebSocket pings that
detect dead TCP), ``auth_failure_limit`` / ``auth_failure_window_s``,
``gil_switch_interval_s`` (set while running, restored by ``stop()``; None
leaves the interpreter's setting alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import timedelta
from typing import Any

from aiohttp import WSCloseCode, web

from evsite.adapters.csms.admin import OcppAdmin
from evsite.adapters.csms.connection import Connection
from evsite.adapters.csms.gate import Admission, Gate
from evsite.adapters.csms.handler import MessageHandler
from evsite.adapters.csms.operations import ChargerOperations
from evsite.adapters.csms.protocol import ReplyCache
from evsite.adapters.csms.queue import CommandQueue
from evsite.adapters.csms.security import server_ssl_context
from evsite.adapters.csms.sessions import SessionBook
from evsite.adapters.csms.transport import (
    VERSIONS,
    AiohttpConnection,
    WebSocketClosed,
    choose_subprotocol,
)
from evsite.adapters.csms.v16 import ChargePoint16
from evsite.adapters.csms.v201 import ChargePoint201
from evsite.adapters.storage.ocpp_repo import OcppRepository
from evsite.context import Services

_LOGGER = logging.getLogger(__name__)

HEARTBEAT_GRACE_S = 60.0
MAX_FRAME_BYTES = 1 << 20
# Idempotency records are needed only while a charger may still retry.
REPLY_RETENTION = timedelta(days=7)
PRUNE_INTERVAL_S = 3600.0
GIL_SWITCH_INTERVAL_S = 0.0005
# Pending TCP connections: a whole site reconnecting at once (aiohttp's 128
# would drop SYNs and make chargers back off for seconds).
LISTEN_BACKLOG = 4096
# Post-boot discovery (GetConfiguration + a DB write) running at once: a storm
# of thousands of boots must not turn into thousands of concurrent calls.
POST_BOOT_CONCURRENCY = 32
# Closing sockets on shutdown waits for each peer's close frame at most this long.
CLOSE_TIMEOUT_S = 2.0


class CentralSystem:
    """Accepts charger connections and owns their tasks and queues."""

    def __init__(
        self,
        services: Services,
        *,
        heartbeat_timeout_s: float | None = None,
        watchdog_interval_s: float = 5.0,
        call_timeout_s: float = 30.0,
        ws_ping_interval_s: float | None = 60.0,
        auth_failure_limit: int = 5,
        auth_failure_window_s: float = 60.0,
        gil_switch_interval_s: float | None = GIL_SWITCH_INTERVAL_S,
    ) -> None:
        """Wire storage, session book, handler, gate and commands."""
        self.services = services
        self._gil_switch_interval_s = gil_switch_interval_s
        self._saved_switch_interval: float | None = None
        settings = services.settings.ocpp
        self.heartbeat_interval_s = settings.heartbeat_interval_s
        self.heartbeat_timeout_s = heartbeat_timeout_s or (
            2 * settings.heartbeat_interval_s + HEARTBEAT_GRACE_S
        )
        self.watchdog_interval_s = watchdog_interval_s
        self.call_timeout_s = call_timeout_s
        self.ws_ping_interval_s = ws_ping_interval_s
        self.repo = OcppRepository(services.db)
        self.book = SessionBook(self.repo)
        self.handler = MessageHandler(services, self.repo, self.book)
        self.gate = Gate(
            services,
            self.repo,
            limit=auth_failure_limit,
            window_s=auth_failure_window_s,
        )
        self.commands = ChargerOperations(self)
        self.admin = OcppAdmin(self)
        self.connections: dict[str, Connection] = {}
        self._replies = ReplyCache()
        self._disconnected_at: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._post_boot = asyncio.Semaphore(POST_BOOT_CONCURRENCY)
        self._watchdog: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.add_routes(self.routes())

    def routes(self) -> list[web.RouteDef]:
        """The OCPP WebSocket route, for mounting on another application."""
        return [web.get("/ocpp/{charger_id}", self._handle)]

    async def start(self) -> None:
        """Register as a component and start the liveness watchdog."""
        self.services.components["csms"] = self
        self.services.components["charger_commands"] = self.commands
        if self._gil_switch_interval_s is not None:
            # The database's writer threads need the GIL back promptly after each
            # SQLite step; at the default 5 ms they queue behind a busy event
            # loop (measured at 1,000 msg/s: p99 845 ms → 47 ms at 0.5 ms).
            self._saved_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(self._gil_switch_interval_s)
        self._watchdog = asyncio.create_task(self._watch(), name="ocpp-watchdog")

    async def listen(self, host: str | None = None, port: int | None = None) -> int:
        """Serve :attr:`app` on its own listener (TLS when configured); the port."""
        settings = self.services.settings.ocpp
        # No access log: a reconnect storm of thousands of chargers would log
        # every socket; connection events and refusals are logged by evsite.
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host if host is not None else settings.host,
            port if port is not None else settings.port,
            ssl_context=server_ssl_context(settings),
            backlog=LISTEN_BACKLOG,
        )
        await site.start()
        address = self._runner.addresses[0]
        return int(address[1])

    async def stop(self) -> None:
        """Close every charger connection and stop all tasks."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        # All at once and bounded: thousands of peers, some of them slow to
        # answer the close frame, must not hold up the shutdown one by one.
        closing = [
            self._close(conn, WSCloseCode.GOING_AWAY, "server shutting down")
            for conn in list(self.connections.values())
        ]
        if closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*closing, return_exceptions=True), CLOSE_TIMEOUT_S
                )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None
        if self.services.components.get("csms") is self:
            del self.services.components["csms"]
            self.services.components.pop("charger_commands", None)

    # Handshake and connection lifetime

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        charger_id = request.match_info["charger_id"]
        admission = await self.gate.admit(request, charger_id)
        old = self.connections.get(charger_id)
        if old is not None and not admission.authenticated and self._alive(old):
            # Without credentials nobody may take over a live connection
            # (SaiFlow 2023 hijack); a dead one is replaced.
            _LOGGER.warning(
                "second unauthenticated connection for '%s' from %s refused",
                charger_id, request.remote,
            )  # fmt: skip
            raise web.HTTPConflict(text="charger already connected")
        protocol = choose_subprotocol(request.headers.get("Sec-WebSocket-Protocol"))
        ws = web.WebSocketResponse(
            protocols=(protocol,) if protocol else (),
            heartbeat=self.ws_ping_interval_s,
            max_msg_size=MAX_FRAME_BYTES,
        )
        await ws.prepare(request)
        if protocol is None:
            # OCPP-J: complete the handshake without a subprotocol, then close.
            await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=b"no OCPP version")
            return ws
        if old is not None:
            _LOGGER.warning(
                "charger '%s' reconnected; closing the old socket", charger_id
            )
            await self._close(old, WSCloseCode.POLICY_VIOLATION, "replaced")
        await self._serve(ws, request, admission, VERSIONS[protocol])
        return ws

    def _alive(self, conn: Connection) -> bool:
        silent = self.services.clock.monotonic() - conn.last_rx
        return not conn.ws.closed and silent < self.heartbeat_timeout_s

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        admission: Admission,
        version: str,
    ) -> None:
        conn = Connection(
            charger_id=admission.charger_id, version=version, ws=ws,
            remote=request.remote, authenticated=admission.authenticated,
            pending=admission.pending, handler=self.handler, replies=self._replies,
            heartbeat_interval_s=self.heartbeat_interval_s, on_boot=self._after_boot,
            transport=request.transport,
        )  # fmt: skip
        cls = ChargePoint16 if version == "1.6" else ChargePoint201
        transport = AiohttpConnection(ws)
        conn.cp = cls(
            admission.charger_id, transport, link=conn, handler=self.handler,
            response_timeout=self.call_timeout_s,
        )  # fmt: skip
        conn.queue = CommandQueue(
            admission.charger_id,
            conn.cp.begin_call,
            ready=conn.can_send_now,
        )
        self.connections[admission.charger_id] = conn
        self._disconnected_at.pop(admission.charger_id, None)
        try:
            await self._connected(conn, admission.row)
            await conn.cp.start()
        except (WebSocketClosed, ConnectionResetError):
            pass
        except Exception:  # the top of this connection's task
            _LOGGER.exception("connection of '%s' failed", admission.charger_id)
        finally:
            await conn.queue.close("disconnected")
            if self.connections.get(admission.charger_id) is conn:
                del self.connections[admission.charger_id]
                self._disconnected_at[admission.charger_id] = (
                    self.services.clock.monotonic()
                )
                self.handler.disconnected(admission.charger_id)
            if not ws.closed:
                await ws.close()

    async def _connected(self, conn: Connection, row: dict[str, Any] | None) -> None:
        """Record the connection; a charger known to have booted needs no new boot."""
        await self.handler.connected(
            conn.charger_id, conn.version, conn.remote, pending=conn.pending
        )
        if row is None:
            return
        conn.rate_unit = row["rate_unit"]
        if row["features"] is not None:
            conn.features = set(filter(None, row["features"].split(",")))
        if row["last_boot_at"] and not conn.pending:
            conn.booted = True  # a reconnect without BootNotification is accepted
            if conn.rate_unit is None:
                self._after_boot(conn)

    def _after_boot(self, conn: Connection) -> None:
        self._spawn(self._discover(conn.charger_id), f"discover-{conn.charger_id}")

    async def _discover(self, charger_id: str) -> None:
        """Post-boot discovery, a bounded number at a time (boot storms)."""
        async with self._post_boot:
            if charger_id in self.connections:
                await self.commands.discover(charger_id)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.warning("task %s failed: %s", task.get_name(), task.exception())

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        if conn.queue is not None:
            await conn.queue.close(reason)
        await conn.ws.close(code=code, message=reason.encode())

    # Liveness (SPEC §4.2 / §6)

    async def _watch(self) -> None:
        last_prune = self.services.clock.monotonic()
        while True:
            await asyncio.sleep(self.watchdog_interval_s)
            try:
                await self.check_liveness()
                now = self.services.clock.monotonic()
                if now - last_prune > PRUNE_INTERVAL_S:
                    last_prune = now
                    await self.prune()
            except Exception:  # the watchdog must outlive any one failure
                _LOGGER.exception("OCPP liveness check failed")

    async def check_liveness(self) -> list[str]:
        """Mark chargers silent or gone longer than the timeout unreachable."""
        now = self.services.clock.monotonic()
        marked = []
        for conn in list(self.connections.values()):
            silent = now - conn.last_rx
            if silent > self.heartbeat_timeout_s and not conn.unreachable:
                conn.unreachable = True
                self.handler.unreachable(conn.charger_id, silent)
                marked.append(conn.charger_id)
        for charger_id, since in list(self._disconnected_at.items()):
            if now - since > self.heartbeat_timeout_s:
                del self._disconnected_at[charger_id]
                self.handler.unreachable(charger_id, now - since)
                marked.append(charger_id)
        return marked

    async def prune(self) -> None:
        """Drop idempotency records older than the retention period."""
        await self.repo.prune_messages(self.services.clock.now() - REPLY_RETENTION)
