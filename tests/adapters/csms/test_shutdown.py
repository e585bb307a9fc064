"""Shutdown is bounded even when chargers never answer the close frame."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from evsite.adapters.csms.server import CLOSE_TIMEOUT_S
from tests.adapters.csms.conftest import make_services, start_server, wait_for


async def test_stop_with_silent_peers_is_bounded(tmp_path: Path) -> None:
    services = await make_services(tmp_path)
    srv = await start_server(services)
    ids = ("CP16", "CP201", "OTHER")
    async with aiohttp.ClientSession() as session:
        # These sockets are never read, so nobody answers the server's close
        # frame: each close would wait for aiohttp's 10 s close timeout.
        sockets = [
            await session.ws_connect(srv.url(cid), protocols=("ocpp1.6",))
            for cid in ids
        ]
        await wait_for(lambda: all(c in srv.central.connections for c in ids))
        loop = asyncio.get_running_loop()
        started = loop.time()
        await srv.central.stop()
        took = loop.time() - started
        for ws in sockets:
            await ws.close()
    await services.db.close()
    assert not srv.central.connections
    assert took < CLOSE_TIMEOUT_S + 2.0
