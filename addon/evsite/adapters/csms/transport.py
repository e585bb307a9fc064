"""The recv()/send() pair ``ocpp.ChargePoint`` needs, over an aiohttp WebSocket."""

from __future__ import annotations

from aiohttp import WSCloseCode, WSMsgType, web

# OCPP-J 1.6 §3.1 / 2.0.1 §3.1.2: offered subprotocols, most preferred first.
SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")
VERSIONS = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}


class WebSocketClosed(Exception):
    """The socket closed (or sent something OCPP-J does not allow); ends ``start()``."""


def choose_subprotocol(header: str | None) -> str | None:
    """The subprotocol to accept: 2.0.1 when offered, else 1.6, else None.

    aiohttp would take the client's first supported entry; a charger offering
    both gets the newer version regardless of its order.
    """
    offered = {item.strip() for item in (header or "").split(",")}
    return next((p for p in SUBPROTOCOLS if p in offered), None)


class AiohttpConnection:
    """Adapter: aiohttp WebSocketResponse -> ``async recv() -> str`` / ``send``."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        """Wrap a prepared WebSocket."""
        self.ws = ws

    async def recv(self) -> str:
        """The next text frame; raises WebSocketClosed when the socket ends."""
        msg = await self.ws.receive()
        if msg.type is WSMsgType.TEXT:
            return str(msg.data)
        if msg.type is WSMsgType.BINARY:
            # OCPP-J uses text frames only; RFC 6455 1003 = unsupported data.
            await self.ws.close(
                code=WSCloseCode.UNSUPPORTED_DATA, message=b"OCPP-J uses text frames"
            )
        raise WebSocketClosed(msg.type.name)

    async def send(self, data: str) -> None:
        """Send a text frame."""
        await self.ws.send_str(data)
