"""One live charger connection: the state the server keeps per WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from evsite.adapters.csms.handler import MessageHandler
from evsite.adapters.csms.protocol import ReplyCache
from evsite.adapters.storage import ocpp_repo as sql

if TYPE_CHECKING:
    from evsite.adapters.csms.queue import CommandQueue


class Connection:
    """A charger's WebSocket, its ChargePoint, command queue and liveness."""

    def __init__(
        self,
        *,
        charger_id: str,
        version: str,
        ws: web.WebSocketResponse,
        remote: str | None,
        authenticated: bool,
        pending: bool,
        handler: MessageHandler,
        replies: ReplyCache,
        heartbeat_interval_s: int,
        on_boot: Callable[[Connection], None],
        transport: asyncio.BaseTransport | None = None,
    ) -> None:
        """Record who connected and how."""
        self.charger_id = charger_id
        self.version = version
        self.ws = ws
        self.remote = remote
        self.authenticated = authenticated
        self.pending = pending
        self.heartbeat_interval_s = heartbeat_interval_s
        self.booted = False
        self.unreachable = False
        self.rate_unit: str | None = None
        self.features: set[str] | None = None
        self.cp: Any = None
        self.queue: CommandQueue | None = None
        self._handler = handler
        self._replies = replies
        self._on_boot = on_boot
        self._transport = transport
        self.last_rx = handler.services.clock.monotonic()

    def monotonic(self) -> float:
        """The service's monotonic clock."""
        return self._handler.services.clock.monotonic()

    def touch(self) -> None:
        """A frame arrived: the charger is alive (clears unreachable)."""
        self.last_rx = self.monotonic()
        if self.unreachable:
            self.unreachable = False
            self._handler.reachable_again(self.charger_id, pending=self.pending)

    async def send(self, frame: str) -> None:
        """Write a text frame."""
        await self.ws.send_str(frame)

    def can_send_now(self) -> bool:
        """A frame written now does not wait for the socket to drain.

        aiohttp waits only while the transport is paused, which needs bytes in
        its buffer; with none, :meth:`send` returns without yielding.
        """
        transport = self._transport
        return (
            isinstance(transport, asyncio.WriteTransport)
            and not transport.is_closing()
            and transport.get_write_buffer_size() == 0
        )

    async def store_reply(
        self, message_id: str, digest: str, action: str, reply: str
    ) -> None:
        """Persist a transaction reply, then cache it."""
        await self._handler.repo.write(
            [
                sql.message_response(
                    self.charger_id, message_id, digest, action=action,
                    response=reply, now=self._handler.now(),
                )
            ]
        )  # fmt: skip
        self._replies.put(self.charger_id, message_id, digest, reply)

    async def stored_reply(self, message_id: str, digest: str) -> str | None:
        """A reply given before (memory first, then the database)."""
        cached = self._replies.get(self.charger_id, message_id, digest)
        if cached is not None:
            return cached
        return await self._handler.repo.stored_response(
            self.charger_id, message_id, digest
        )

    def after_boot(self) -> None:
        """Boot answered: let the server learn the charger's capabilities."""
        self._on_boot(self)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the REST status."""
        return {
            "ocpp_version": self.version,
            "remote": self.remote,
            "authenticated": self.authenticated,
            "pending": self.pending,
            "booted": self.booted,
            "unreachable": self.unreachable,
            "rate_unit": self.rate_unit,
            "features": sorted(self.features) if self.features is not None else None,
            "queued_commands": self.queue.pending if self.queue else 0,
        }
