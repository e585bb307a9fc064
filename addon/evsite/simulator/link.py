"""The charger's WebSocket: aiohttp client wrapped as the ``ocpp`` connection."""

from __future__ import annotations

import aiohttp
from aiohttp import WSMsgType

from evsite.errors import ChargerError


class LinkClosedError(ConnectionError):
    """The WebSocket closed; ends the ``ocpp`` receive loop."""


class Link:
    """``async recv() -> str`` / ``async send(str)`` over an aiohttp WebSocket."""

    def __init__(
        self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        """Own the session and socket (closed together)."""
        self._session = session
        self._ws = ws

    @property
    def subprotocol(self) -> str | None:
        """The OCPP version the server accepted."""
        return self._ws.protocol

    async def recv(self) -> str:
        """Next text frame; any close ends the stream."""
        msg = await self._ws.receive()
        if msg.type is WSMsgType.TEXT:
            return str(msg.data)
        raise LinkClosedError(str(msg.type))

    async def send(self, data: str) -> None:
        """Send a text frame."""
        await self._ws.send_str(data)

    async def close(self) -> None:
        """Close socket and session."""
        await self._ws.close()
        await self._session.close()


async def open_link(
    url: str, subprotocol: str, password: str | None, charger_id: str, timeout: float
) -> Link:
    """Connect with the OCPP subprotocol and, for security profile 1, Basic auth.

    Raises:
        aiohttp.ClientError: handshake refused (e.g. 401) or unreachable.
        ChargerError: the server chose no or another OCPP version.
    """
    headers = (
        {"Authorization": aiohttp.encode_basic_auth(charger_id, password)}
        if password is not None
        else {}
    )
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(
            url,
            protocols=(subprotocol,),
            headers=headers,
            heartbeat=None,
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
        )
    except BaseException:
        await session.close()
        raise
    if ws.protocol != subprotocol:
        await ws.close()
        await session.close()
        raise ChargerError(f"{charger_id}: server did not accept {subprotocol}")
    return Link(session, ws)
