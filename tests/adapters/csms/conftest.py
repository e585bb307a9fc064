"""Fixtures: a real CentralSystem on loopback, real SQLite, raw OCPP-J chargers."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from evsite.adapters.csms.server import CentralSystem
from evsite.adapters.storage.db import Database
from evsite.config.load import parse_site
from evsite.config.models import OcppSettings, ServiceSettings, SiteConfig
from evsite.context import Services, SiteHolder
from evsite.control.clock import Clock, SystemClock
from evsite.control.events import Event, EventBus, EventKind
from evsite.control.live import LiveState
from tests.conftest import wait_until

SITE: dict[str, Any] = {
    "site": {
        "id": "test-site",
        "name": "Test site",
        "timezone": "UTC",
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [
        {"id": "main", "breaker_a": 100, "phases": 3, "voltage": 400},
        {"id": "sub", "parent": "main", "breaker_a": 63, "phases": 1, "voltage": 230,
         "phase_connection": "L1"},
    ],
    "chargers": [
        {"id": "CP16", "parent": "main", "limit_a": 32, "phases": 3, "scope": "open",
         "connectors": 2},
        {"id": "CP201", "parent": "main", "limit_a": 32, "phases": 3, "scope": "open",
         "connectors": 2},
        {"id": "PRIV", "parent": "sub", "limit_a": 16, "scope": "public"},
        {"id": "OTHER", "parent": "sub", "limit_a": 16, "scope": "open"},
    ],
}  # fmt: skip

PASSWORD = "correct-horse-battery-1"


def site_config(**site_flags: Any) -> SiteConfig:
    """The test site, with optional ``site:`` flags changed."""
    data = json.loads(json.dumps(SITE))
    data["site"].update(site_flags)
    return parse_site(data).config


async def make_services(
    tmp_path: Path, clock: Clock | None = None, **site_flags: Any
) -> Services:
    """Services over a real SQLite file."""
    config = site_config(**site_flags)
    db = await Database.open(tmp_path / "evsite.db")
    settings = ServiceSettings(ocpp=replace(OcppSettings(), heartbeat_interval_s=60))
    return Services(
        settings=settings, data_dir=tmp_path, db=db, sites=None,  # type: ignore[arg-type]
        site=SiteHolder(config), bus=EventBus(), live=LiveState(),
        clock=clock or SystemClock(), token="t",
    )  # fmt: skip


class Server:
    """A started CentralSystem listening on a free loopback port."""

    def __init__(self, central: CentralSystem, port: int) -> None:
        self.central = central
        self.port = port
        self.services = central.services
        self.events: list[Event] = []
        central.services.bus.add_listener(self.events.append)

    def url(self, charger_id: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/ocpp/{charger_id}"

    def kinds(self, kind: EventKind, charger_id: str | None = None) -> list[Event]:
        return [
            e for e in self.events
            if e.kind is kind and (charger_id is None or e.charger_id == charger_id)
        ]  # fmt: skip

    async def rows(
        self, sql: str, params: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.services.db.fetchall(sql, params)]


async def start_server(services: Services, **options: Any) -> Server:
    central = CentralSystem(services, ws_ping_interval_s=None, **options)
    await central.start()
    port = await central.listen("127.0.0.1", 0)
    return Server(central, port)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    services = await make_services(tmp_path)
    srv = await start_server(services)
    yield srv
    await srv.central.stop()
    await services.db.close()


Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]] | dict[str, Any]]


class RawCharger:
    """A charger speaking OCPP-J frames directly (so tests control every byte)."""

    _ids = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.protocol = ws.protocol
        self.handlers: dict[str, Handler] = {}
        self.received_calls: list[list[Any]] = []
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._frames: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())
        self.closed = asyncio.Event()
        self._answering: set[asyncio.Task[None]] = set()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame[0] == 2:
                self.received_calls.append(frame)
                # Answer in a task: a slow handler must not stall our reader.
                task = asyncio.create_task(self._answer(frame))
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
            elif frame[1] in self._waiting:
                self._waiting.pop(frame[1]).set_result(frame)
            else:
                await self._frames.put(frame)
        self.closed.set()

    async def _answer(self, frame: list[Any]) -> None:
        handler = self.handlers.get(frame[2])
        if handler is None:
            await self.ws.send_str(json.dumps([4, frame[1], "NotSupported", "", {}]))
            return
        result = handler(frame[2], frame[3])
        if asyncio.iscoroutine(result):
            result = await result
        await self.ws.send_str(json.dumps([3, frame[1], result]))

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def next_frame(self, timeout: float = 5.0) -> list[Any]:
        """The next frame that answered none of our calls (e.g. to raw input)."""
        return await asyncio.wait_for(self._frames.get(), timeout)

    async def call_frame(
        self, action: str, payload: dict[str, Any], message_id: str | None = None,
        timeout: float = 5.0,
    ) -> list[Any]:  # fmt: skip
        """Send a CALL and return the whole answer frame."""
        mid = message_id or f"m{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        await self.ws.send_str(json.dumps([2, mid, action, payload]))
        return await asyncio.wait_for(future, timeout)

    async def call(
        self, action: str, payload: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        """Send a CALL; return the CALLRESULT payload (fail on a CALLERROR)."""
        frame = await self.call_frame(action, payload, **kw)
        assert frame[0] == 3, frame
        result: dict[str, Any] = frame[2]
        return result

    async def close(self) -> None:
        for task in self._answering:
            task.cancel()
        await self.ws.close()
        self._reader.cancel()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def connect(
    session: aiohttp.ClientSession,
) -> Callable[..., Awaitable[RawCharger]]:
    chargers: list[RawCharger] = []

    async def _connect(
        url: str, protocols: tuple[str, ...] = ("ocpp1.6",), **kw: Any
    ) -> RawCharger:
        ws = await session.ws_connect(url, protocols=protocols, **kw)
        charger = RawCharger(ws)
        chargers.append(charger)
        return charger

    return _connect


def now_iso(offset_s: float = 0.0) -> str:
    from datetime import timedelta

    moment = datetime.now(UTC) + timedelta(seconds=offset_s)
    return moment.isoformat().replace("+00:00", "Z")


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until true (no fixed sleeps)."""
    await wait_until(predicate, timeout)


BOOT16 = {"chargePointVendor": "Acme", "chargePointModel": "Wall-1",
          "chargePointSerialNumber": "SN1", "firmwareVersion": "1.2.3"}  # fmt: skip
BOOT201 = {"reason": "PowerUp", "chargingStation": {
    "model": "Wall-2", "vendorName": "Acme", "serialNumber": "SN2",
    "firmwareVersion": "2.0"}}  # fmt: skip
