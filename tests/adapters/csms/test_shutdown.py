"""Shutdown is bounded even when chargers never answer the close frame."""

# The server-side close turned out not to wait for the peer here (the reader
# task ends it), so this guards the bound rather than reproducing a hang.

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
        sockets = [
            await session.ws_connect(srv.url(cid), protocols=("ocpp1.6",))
            for cid in ids
        ]
        await wait_for(lambda: all(c in srv.central.connections for c in ids))
        transports: list[asyncio.Transport] = []
        for ws in sockets:
            conn = ws._response.connection
            assert conn is not None
            assert isinstance(conn.transport, asyncio.Transport)
            # Silent peers: nothing reads, so nobody answers the close frame.
            conn.transport.pause_reading()
            transports.append(conn.transport)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await srv.central.stop()
        took = loop.time() - started
        for transport in transports:
            transport.abort()
    await services.db.close()
    assert not srv.central.connections
    assert took < CLOSE_TIMEOUT_S + 2.0
