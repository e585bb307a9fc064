"""MQTT test fixtures; the helpers behind them are in support.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from evsite.config.models import MqttSettings, SiteConfig
from evsite.context import Services
from tests.adapters.mqtt.support import (
    MOSQUITTO,
    Broker,
    Observer,
    make_services,
    site_config,
)


@pytest.fixture
def config() -> SiteConfig:
    """The test site config."""
    return site_config()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running Mosquitto; the test is skipped when the binary is absent."""
    if shutil.which(MOSQUITTO) is None:
        pytest.skip(f"Mosquitto not installed ({MOSQUITTO}); MQTT broker tests skipped")
    server = Broker(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def observe(broker: Broker) -> Iterator[Callable[..., Observer]]:
    """Factory of observers; all are closed at teardown."""
    made: list[Observer] = []

    def factory(topic: str = "#") -> Observer:
        obs = Observer(broker.port, topic)
        made.append(obs)
        return obs

    yield factory
    for obs in made:
        obs.close()


@pytest.fixture
async def services(tmp_path: Path, broker: Broker) -> AsyncIterator[Services]:
    """Services whose MQTT settings point at the test broker."""
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=broker.port)
    svc, db = await make_services(tmp_path, settings)
    yield svc
    await db.close()
