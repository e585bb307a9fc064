"""The whole service stops promptly while 200 chargers are busy with it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from pathlib import Path

import aiohttp

from evsite.app import EvsiteApp
from evsite.config.load import parse_site
from tests.conftest import wait_until

N = 200
IDS = [f"SD{i:04d}" for i in range(N)]
SITE = {
    "site": {
        "id": "shutdown",
        "name": "Shutdown",
        "timezone": "UTC",
        "main_service": {"voltage": 230, "phases": 1, "main_breaker_a": 10000},
    },
    "panels": [{"id": "main", "breaker_a": 10000, "phases": 1, "voltage": 230}],
    "chargers": [
        {"id": cid, "parent": "main", "limit_a": 16, "scope": "open"} for cid in IDS
    ],
    "web": {"host": "127.0.0.1", "port": 0},
    "ocpp": {"host": "127.0.0.1", "port": 0},
    "api": {"token": "shutdown-token-0123456789"},
    "mqtt": {"enabled": False},
}
BOOT = {"chargePointVendor": "Acme", "chargePointModel": "Wall-1"}


async def _charger(ws: aiohttp.ClientWebSocketResponse, booted: set[int]) -> None:
    """Boot, then heartbeat flat out; never answer the server's own calls."""
    ids = itertools.count()
    await ws.send_str(json.dumps([2, "boot", "BootNotification", BOOT]))
    while not ws.closed:
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return
        frame = json.loads(msg.data)
        if frame[0] == 3:
            booted.add(id(ws))
            await ws.send_str(json.dumps([2, f"hb{next(ids)}", "Heartbeat", {}]))


async def test_stop_under_load_is_prompt(tmp_path: Path) -> None:
    loaded = parse_site(SITE)
    app = EvsiteApp(loaded, loaded.config.service, tmp_path / "data")
    await app.start()
    booted: set[int] = set()
    # No pool limit: each WebSocket holds its connection for good.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
        sockets = await asyncio.gather(
            *(session.ws_connect(f"{url}/{cid}", protocols=("ocpp1.6",)) for cid in IDS)
        )
        tasks = [asyncio.create_task(_charger(ws, booted)) for ws in sockets]
        try:
            await wait_until(lambda: len(booted) == N, timeout=20.0)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await app.stop()
            took = loop.time() - started
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await task
    assert took < 5.0
