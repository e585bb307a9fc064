"""paho-mqtt 2.x bridged to asyncio.

paho's network thread owns the socket, reconnects with exponential backoff
(``reconnect_delay_set``) and calls back here; every callback hops onto the
event loop with ``call_soon_threadsafe`` and nothing else runs in that thread.
``publish`` and ``subscribe`` are thread-safe and never block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from evsite.config.models import MqttSettings

_LOGGER = logging.getLogger(__name__)

KEEPALIVE_S = 30
STOP_TIMEOUT_S = 2.0


class MqttClient:
    """One broker connection; callbacks run on the asyncio loop."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        will: tuple[str, str],
        on_connect: Callable[[], None],
        on_disconnect: Callable[[], None],
        on_message: Callable[[str, bytes], None],
        reconnect_delay: tuple[int, int] = (1, 30),
    ) -> None:
        """Configure credentials, TLS, last will and backoff; nothing connects yet."""
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_message = on_message
        self.connected = False
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set()
        will_topic, will_payload = will
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        client.reconnect_delay_set(*reconnect_delay)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        self._client = client

    # -- paho thread ------------------------------------------------------------

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        # The loop may already be closed while paho's thread winds down.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _paho_connect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            _LOGGER.warning("MQTT broker refused the connection: %s", reason)
            return
        self._to_loop(self._connected)

    def _paho_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._to_loop(self._disconnected, str(reason))

    def _paho_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        self._to_loop(self._on_message, msg.topic, bytes(msg.payload))

    # -- event loop -------------------------------------------------------------

    def _connected(self) -> None:
        _LOGGER.info(
            "MQTT connected to %s:%d", self._settings.host, self._settings.port
        )
        self.connected = True
        self._on_connect()

    def _disconnected(self, reason: str) -> None:
        if self.connected:
            _LOGGER.warning("MQTT connection lost (%s); reconnecting", reason)
        self.connected = False
        self._on_disconnect()

    def start(self) -> None:
        """Connect in the background; a missing broker is retried with backoff."""
        self._client.connect_async(
            self._settings.host, self._settings.port, keepalive=KEEPALIVE_S
        )
        self._client.loop_start()

    def publish(self, topic: str, payload: str, *, retain: bool, qos: int = 1) -> bool:
        """Queue one message with paho; False when paho refused it."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def subscribe(self, filters: Sequence[str], qos: int = 1) -> None:
        """Subscribe to ``filters`` (call again after every reconnect)."""
        self._client.subscribe([(f, qos) for f in filters])

    async def stop(self, last: tuple[str, str] | None = None) -> None:
        """Publish ``last`` (e.g. availability offline), disconnect, join the thread."""
        client = self._client
        if last is not None and self.connected:
            info = client.publish(last[0], last[1], qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, STOP_TIMEOUT_S)
        self.connected = False  # a deliberate disconnect is not a lost connection
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
