"""The internal event bus: every subsystem publishes, MQTT/web/HA subscribe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

_LOGGER = logging.getLogger(__name__)


class EventKind(StrEnum):
    """What happened (SPEC §11.3 events, plus internal state changes)."""

    CHARGER_CONNECTED = "charger_connected"
    CHARGER_DISCONNECTED = "charger_disconnected"
    CHARGER_UNREACHABLE = "charger_unreachable"
    CHARGER_BOOTED = "charger_booted"
    STATUS_CHANGED = "status_changed"
    METER_VALUES = "meter_values"
    SESSION_STARTED = "session_started"
    SESSION_STOPPED = "session_stopped"
    AUTHORIZATION = "authorization"
    ALARM = "alarm"
    ALARM_CLEARED = "alarm_cleared"
    LIMIT_CHANGED = "limit_changed"
    LOAD_SHED_START = "load_shed_start"
    LOAD_SHED_END = "load_shed_end"
    DELAY_START = "delay_start"
    DELAY_END = "delay_end"
    WAITLIST_JOINED = "waitlist_joined"
    WAITLIST_LEFT = "waitlist_left"
    WAITLIST_TURN = "waitlist_turn"
    WAITLIST_NO_SHOW = "waitlist_no_show"
    WAITLIST_MAX_TIME = "waitlist_max_time"
    WAITLIST_FINISH = "waitlist_finish"
    CONFIG_CHANGED = "config_changed"


@dataclass(frozen=True, slots=True)
class Event:
    """One event; ``data`` holds JSON-serialisable details."""

    kind: EventKind
    at: datetime
    charger_id: str | None = None
    connector_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form used by MQTT and the WebSocket."""
        return {
            "event": self.kind.value,
            "at": self.at.isoformat(),
            "charger_id": self.charger_id,
            "connector_id": self.connector_id,
            **dict(self.data),
        }


class Subscription:
    """A bounded queue of events; the oldest are dropped when a reader lags."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        """Register with ``bus``; ``maxsize`` bounds memory for slow readers."""
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        """Wait for the next event."""
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        """The next event if one is queued."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Iterate events forever."""
        while True:
            yield await self._queue.get()


class EventBus:
    """Fan-out of events to async subscribers and synchronous listeners."""

    def __init__(self) -> None:
        """Start with no subscribers."""
        self._subscriptions: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """A new subscription receiving every later event."""
        sub = Subscription(self, maxsize)
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscription (idempotent)."""
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    def add_listener(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` synchronously for every event; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, event: Event) -> None:
        """Deliver ``event`` without blocking; a failing listener is logged."""
        for sub in list(self._subscriptions):
            sub._offer(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("event listener failed for %s", event.kind)
