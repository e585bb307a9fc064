"""The evsite site the Home Assistant tests load (shared by the test modules)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from evsite.adapters.mqtt.topics import Topics
from evsite.config.models import (
    Charger,
    Connector,
    MainService,
    MqttSettings,
    Panel,
    Site,
    SiteConfig,
)

BLUEPRINTS = (
    Path(__file__).resolve().parents[2] / "blueprints" / "automation" / "evsite"
)
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = SiteConfig(
    site=Site("site1", "Garage Site", "Europe/Berlin", MainService(400, 3, 100)),
    panels=(
        Panel("main", "Main", 100, 3, 400),
        Panel("garage", "Garage", 63, 3, 400, parent="main"),
    ),
    chargers=(
        Charger("CP-1", "garage", 32, phases=3, alias="Bay 1", make="Acme"),
        Charger(
            "CP-2", "garage", 16, phases=3, connectors=(Connector(1), Connector(2))
        ),
    ),
)
TOPICS = Topics.for_site(MqttSettings(), "site1")
