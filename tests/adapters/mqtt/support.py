"""MQTT test helpers: a test site, a real Mosquitto broker, a paho observer."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from evsite.adapters.storage.db import Database
from evsite.config.load import parse_site
from evsite.config.models import MqttSettings, SiteConfig
from evsite.context import Services
from evsite.control.clock import ManualClock
from tests.conftest import free_port
from tests.support import stored_services

MOSQUITTO = "/usr/sbin/mosquitto"

SITE: dict[str, Any] = {
    "site": {
        "id": "site1",
        "name": "Garage Site",
        "timezone": "Europe/Berlin",
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [
        {"id": "main", "name": "Main", "breaker_a": 100, "phases": 3, "voltage": 400},
        {
            "id": "garage",
            "name": "Garage",
            "parent": "main",
            "breaker_a": 63,
            "phases": 3,
            "voltage": 400,
        },
    ],
    "chargers": [
        {
            "id": "CP-1",
            "parent": "garage",
            "limit_a": 32,
            "phases": 3,
            "alias": "Bay 1",
            "make": "Acme",
            "model": "AC22",
            "station_group": "visitors",
        },
        {"id": "CP-2", "parent": "garage", "limit_a": 16, "phases": 3, "connectors": 2},
    ],
}


def site_data() -> dict[str, Any]:
    """A fresh copy of the test site document."""
    return copy.deepcopy(SITE)


def site_config() -> SiteConfig:
    """The test site, validated by the real schema."""
    return parse_site(site_data()).config


class Broker:
    """A real Mosquitto on a free loopback port, stoppable and restartable."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self._conf = workdir / "mosquitto.conf"
        self._conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            "persistence false\n",
            encoding="utf-8",
        )
        self._log = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self._conf)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 5
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError(self._log.read_text()) from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._proc = None


class Observer:
    """A paho subscriber recording every message (the test's eyes on the broker)."""

    def __init__(self, port: int, topic: str = "#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{port}")
        client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda *_: self._ready.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        if not self._ready.wait(5):
            raise RuntimeError("observer could not subscribe")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.retained[msg.topic] = bytes(msg.payload)

    def last(self, topic: str) -> bytes | None:
        with self._lock:
            return self.retained.get(topic)

    def json(self, topic: str) -> Any:
        raw = self.last(topic)
        return json.loads(raw) if raw else None

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def publish(self, topic: str, payload: str | bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def make_services(
    tmp_path: Path, mqtt_settings: MqttSettings
) -> tuple[Services, Database]:
    """Services over a real SQLite database holding the test site."""
    defaults = parse_site(site_data()).config.service
    services = await stored_services(
        tmp_path,
        site_data(),
        clock=ManualClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
        token="t",
        settings=replace(defaults, mqtt=mqtt_settings),
    )
    return services, services.db
