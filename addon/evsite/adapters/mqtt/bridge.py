"""MQTT bridge: retained state, discovery, events and commands (SPEC §11.3).

State comes from ``services.live`` (change listeners) and the site config;
events from ``services.bus``; commands go to a :class:`CommandSink`. Without
a broker evsite runs as usual: events wait in a bounded queue (oldest dropped
and counted) and all retained state is republished as soon as the broker is
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any

from evsite import __version__
from evsite.adapters.mqtt.client import MqttClient
from evsite.adapters.mqtt.commands import (
    Command,
    CommandError,
    SetShedLevel,
    parse_command,
)
from evsite.adapters.mqtt.discovery import discovery_configs
from evsite.adapters.mqtt.payloads import (
    all_messages,
    charger_messages,
    dumps,
    site_messages,
)
from evsite.adapters.mqtt.publisher import Message, RetainedStore
from evsite.adapters.mqtt.shed import ShedTracker
from evsite.adapters.mqtt.sinks import CommandSink, ComponentsSink
from evsite.adapters.mqtt.topics import Topics
from evsite.context import Services
from evsite.control.events import Event, EventKind, Subscription
from evsite.errors import ConfigError, ConflictError, EvsiteError, NotFoundError

_LOGGER = logging.getLogger(__name__)

# Events published on <base>/events/<kind> (SPEC §11.3); the rest stay internal.
PUBLISHED_EVENTS = frozenset(
    {
        EventKind.SESSION_STARTED,
        EventKind.SESSION_STOPPED,
        EventKind.WAITLIST_JOINED,
        EventKind.WAITLIST_LEFT,
        EventKind.WAITLIST_TURN,
        EventKind.WAITLIST_NO_SHOW,
        EventKind.WAITLIST_MAX_TIME,
        EventKind.ALARM,
        EventKind.ALARM_CLEARED,
        EventKind.LOAD_SHED_START,
        EventKind.LOAD_SHED_END,
        EventKind.DELAY_START,
        EventKind.DELAY_END,
        EventKind.CHARGER_CONNECTED,
        EventKind.CHARGER_DISCONNECTED,
        EventKind.CHARGER_UNREACHABLE,
    }
)
_SHED_EVENTS = frozenset({EventKind.LOAD_SHED_START, EventKind.LOAD_SHED_END})
ONLINE, OFFLINE = "online", "offline"
BUS_BUFFER = 1000  # events between the bus and this bridge (not the outage queue)


@dataclass(slots=True)
class MqttStats:
    """Counters for diagnostics and tests."""

    connects: int = 0
    events_published: int = 0
    events_dropped: int = 0
    commands: int = 0
    command_errors: int = 0
    republished: int = 0


class MqttBridge:
    """Publishes the site to MQTT and carries out MQTT commands."""

    def __init__(
        self,
        services: Services,
        *,
        sink: CommandSink | None = None,
        event_queue_size: int = 1000,
        reconnect_delay: tuple[int, int] = (1, 30),
    ) -> None:
        """Prepare; nothing connects until :meth:`start`."""
        self._services = services
        self._settings = services.settings.mqtt
        self._sink: CommandSink = sink or ComponentsSink(services.components)
        self._reconnect_delay = reconnect_delay
        self.topics = Topics.for_site(self._settings, services.site.config.site.id)
        self.stats = MqttStats()
        self._store = RetainedStore()
        self._events: deque[Message] = deque()
        self._event_queue_size = event_queue_size
        self._shed = ShedTracker()
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None
        self._client: MqttClient | None = None
        self._running = False

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._client is not None and self._client.connected

    @property
    def queued_events(self) -> int:
        """Events waiting for the broker."""
        return len(self._events)

    @property
    def dropped_events(self) -> int:
        """Events lost to a full queue (outage queue plus the bus buffer)."""
        bus = self._subscription.dropped if self._subscription else 0
        return self.stats.events_dropped + bus

    async def start(self) -> None:
        """Start publishing (a no-op when MQTT is disabled in the config)."""
        self._services.components.setdefault("mqtt", self)
        if not self._settings.enabled or self._running:
            return
        self._running = True
        self._refresh_all()
        self._subscription = self._services.bus.subscribe(BUS_BUFFER)
        self._services.live.add_listener(self._on_live_change)
        site_id = self._services.site.config.site.id
        self._client = MqttClient(
            self._settings,
            client_id=f"evsite-{site_id}-{secrets.token_hex(3)}",
            will=(self.topics.availability, OFFLINE),
            on_connect=self._on_connect,
            on_disconnect=lambda: None,
            on_message=self._on_message,
            reconnect_delay=self._reconnect_delay,
        )
        self._spawn(self._state_loop())
        self._spawn(self._event_loop(self._subscription))
        self._client.start()

    async def stop(self) -> None:
        """Say ``offline``, disconnect and cancel every task; safe to call twice."""
        if not self._running:
            return
        self._running = False
        if self._subscription is not None:
            self._subscription.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.stop(last=(self.topics.availability, OFFLINE))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- state ------------------------------------------------------------------

    def _refresh_all(self) -> list[Message]:
        """Recompute every retained message and discovery config."""
        config = self._services.site.config
        changed = self._store.replace(
            all_messages(self.topics, config, self._services.live, self._shed.status())
        )
        configs = discovery_configs(self.topics, config, __version__)
        discovery = self._store.set_discovery(
            configs if self._settings.discovery else {}
        )
        return discovery + changed

    def _on_live_change(self, kind: str, entity_id: str) -> None:
        if not self._running:
            return
        if kind == "charger":
            self._dirty.add(entity_id)
        self._wake.set()

    def _flush(self) -> None:
        config = self._services.site.config
        live = self._services.live
        messages = site_messages(self.topics, config, live, self._shed.status())
        dirty, self._dirty = self._dirty, set()
        chargers = {c.id: c for c in config.chargers} if dirty else {}
        for charger_id in dirty:
            if (charger := chargers.get(charger_id)) is not None:
                messages.update(charger_messages(self.topics, charger, live))
        self._send_retained(self._store.update(messages))

    async def _state_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._flush()
            except Exception:
                _LOGGER.exception("MQTT state publishing failed")

    def _send_retained(self, messages: list[Message]) -> None:
        client = self._client
        if client is None or not client.connected:
            self._store.defer(messages)
            return
        for topic, payload in messages:
            client.publish(topic, payload, retain=True)

    def _on_connect(self) -> None:
        """Broker (re)connected: subscribe, then republish everything."""
        client = self._client
        if client is None or not self._running:
            return
        self.stats.connects += 1
        client.subscribe([*self.topics.command_filters, self.topics.ha_status])
        self._refresh_all()
        for topic, payload in self._store.snapshot():
            client.publish(topic, payload, retain=True)
        client.publish(self.topics.availability, ONLINE, retain=True)
        self.stats.republished += 1
        while self._events and client.connected:
            topic, payload = self._events.popleft()
            client.publish(topic, payload, retain=False)
            self.stats.events_published += 1

    # -- events -----------------------------------------------------------------

    async def _event_loop(self, subscription: Subscription) -> None:
        async for event in subscription:
            try:
                self._handle_event(event)
            except Exception:
                _LOGGER.exception("MQTT event handling failed for %s", event.kind)

    def _handle_event(self, event: Event) -> None:
        if event.kind is EventKind.CONFIG_CHANGED:
            self._send_retained(self._refresh_all())
        elif event.kind in _SHED_EVENTS:
            end = event.kind is EventKind.LOAD_SHED_END
            self._shed.on_event(end=end, data=event.data)
            self._wake.set()
        elif event.charger_id is not None:
            self._dirty.add(event.charger_id)
            self._wake.set()
        if event.kind in PUBLISHED_EVENTS:
            self._emit(self.topics.event(event.kind.value), dumps(event.as_dict()))

    def _emit(self, topic: str, payload: str) -> None:
        client = self._client
        if client is not None and client.connected and not self._events:
            client.publish(topic, payload, retain=False)
            self.stats.events_published += 1
            return
        if len(self._events) >= self._event_queue_size:
            self._events.popleft()
            self.stats.events_dropped += 1
        self._events.append((topic, payload))

    # -- commands ---------------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        if not self._running:
            return
        if topic == self.topics.ha_status:
            if payload.strip().lower() == ONLINE.encode():
                # Home Assistant restarted: it needs discovery and state again.
                self._send_retained(self._store.snapshot())
            return
        self._spawn(self._command(topic, payload))

    async def _command(self, topic: str, payload: bytes) -> None:
        self.stats.commands += 1
        try:
            command = parse_command(
                self.topics, topic, payload, self._services.site.config
            )
            # Commands on one target run in arrival order; others run in parallel.
            lock = self._locks.setdefault(_target(command), asyncio.Lock())
            async with lock:
                await self._sink.execute(topic, command)
            if isinstance(command, SetShedLevel):
                self._shed.on_command(
                    command.percent,
                    command.limit_a,
                    command.panel_id,
                    command.limit_kw,
                )
                self._wake.set()
        except CommandError as err:
            self._error(topic, err.field, err.problem, payload)
        except ConfigError as err:
            first = err.problems[0] if err.problems else None
            field = first.path if first and first.path else None
            self._error(topic, field, first.message if first else str(err), payload)
        except NotFoundError as err:
            self._error(topic, f"{err.kind}_id", str(err), payload)
        except ConflictError as err:
            self._error(topic, err.path or None, str(err), payload)
        except EvsiteError as err:
            self._error(topic, None, str(err), payload)
        except Exception:
            _LOGGER.exception("MQTT command on %s failed", topic)
            self._error(topic, None, "internal error (see the evsite log)", payload)

    def _error(
        self, topic: str, field: str | None, problem: str, payload: bytes
    ) -> None:
        self.stats.command_errors += 1
        _LOGGER.info("MQTT command on %s rejected: %s %s", topic, field or "", problem)
        body = {
            "topic": topic,
            "field": field,
            "error": problem,
            "payload": payload[:256].decode("utf-8", "replace"),
            "at": self._services.clock.now().isoformat(),
        }
        self._emit(self.topics.error, dumps(body))


def _target(command: Command) -> tuple[str, str, str]:
    """Command type and its target ids: commands on one target stay in order."""
    return (
        type(command).__name__,
        str(getattr(command, "charger_id", "")),
        str(getattr(command, "connector_id", "")),
    )
