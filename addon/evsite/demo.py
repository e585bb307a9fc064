"""The demo: an example site, simulated meters and drivers, on loopback only.

``evsite demo`` needs no hardware and no network: each metered panel's meter is
replaced by a :class:`SimulatedMeter` on 127.0.0.1 that reads a base building
load plus what the simulated chargers draw, and every private charger gets a
resident with an RFID tag so the simulated taps start real sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from evsite.config.access_schema import DRIVER, TAG
from evsite.config.load import LoadedSite
from evsite.config.models import MeterKind, Panel, Scope, SiteConfig
from evsite.context import Services
from evsite.control import access_admin
from evsite.control.access_service import AccessService
from evsite.core.tree import PanelTree
from evsite.simulator.meter import SimulatedMeter

# The building's own load on a metered panel, as a share of its capacity: it
# swings between these over a simulated "day" of DAY_S seconds.
BASE_LOAD_SHARE = (0.15, 0.35)
DAY_S = 600.0
FEED_INTERVAL_S = 1.0


@dataclass(slots=True)
class DemoMeters:
    """Simulated meters by panel id."""

    meters: dict[str, SimulatedMeter] = field(default_factory=dict)

    async def stop(self) -> None:
        """Stop every meter."""
        for meter in self.meters.values():
            await meter.stop()


async def simulate_meters(loaded: LoadedSite) -> tuple[LoadedSite, DemoMeters]:
    """Start a simulated meter per Modbus-metered panel; point the site at them."""
    demo = DemoMeters()
    panels: list[Panel] = []
    for panel in loaded.config.panels:
        meter = panel.meter
        if meter is not None and meter.kind is not MeterKind.MQTT:
            sim = SimulatedMeter(
                meter.register_map if meter.register_map != "generic" else "sdm630"
            )
            port = await sim.start()
            demo.meters[panel.id] = sim
            meter = replace(
                meter,
                kind=MeterKind.MODBUS_TCP,
                register_map=sim.regmap.name,
                host="127.0.0.1",
                port=port,
                device_id=sim.device_id,
            )
        elif meter is not None:
            meter = None  # No broker in the demo: an MQTT meter would stay stale.
        panels.append(replace(panel, meter=meter))
    config = replace(loaded.config, panels=tuple(panels))
    return replace(loaded, config=config), demo


def base_load_a(capacity_a: float, elapsed_s: float) -> float:
    """The building's own load at ``elapsed_s``: a smooth daily swing."""
    low, high = BASE_LOAD_SHARE
    share = low + (high - low) * (0.5 - 0.5 * math.cos(2 * math.pi * elapsed_s / DAY_S))
    return round(capacity_a * share, 1)


def _drawn_by_charger(services: Services) -> dict[str, float]:
    drawn: dict[str, float] = {}
    for charger_id, state in services.live.chargers.items():
        total = 0.0
        for connector in state.connectors.values():
            total += max(connector.current_a.values(), default=0.0)
        drawn[charger_id] = total
    return drawn


async def feed_meters(
    services: Services, demo: DemoMeters, stop: asyncio.Event
) -> None:
    """Keep each meter at base load + the chargers' draw beneath its panel."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not stop.is_set():
        config = services.site.config
        tree = PanelTree.from_config(config)
        drawn = {
            cid: amps
            for cid, amps in _drawn_by_charger(services).items()
            if cid in tree.chargers
        }
        loads = tree.load_per_phase(drawn)
        for panel_id, meter in demo.meters.items():
            panel = tree.panels[panel_id]
            base = base_load_a(panel.capacity_a, loop.time() - started)
            currents = {
                phase.value: base + amps for phase, amps in loads[panel_id].items()
            }
            power = sum(currents.values()) * panel.voltage / max(1, panel.phases)
            await meter.set_values(currents, power_w=power)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FEED_INTERVAL_S)


def demo_tag(driver_id: str) -> str:
    """The RFID tag the demo gives a resident."""
    return f"TAG-{driver_id}".upper()[:20]


async def seed_residents(services: Services) -> Mapping[str, tuple[str, ...]]:
    """A driver + tag per private charger, linked; returns the tags each charger takes.

    Private chargers take their resident's tag; account and public chargers
    take every resident's (all residents are account members); open chargers
    need none.
    """
    access = services.components["access"]
    assert isinstance(access, AccessService)
    config: SiteConfig = services.site.config
    residents: dict[str, str] = {}
    for charger in config.chargers:
        if charger.scope is not Scope.PRIVATE:
            continue
        driver_id = charger.private_driver or f"resident-{charger.id.lower()}"
        if driver_id not in residents:
            name = driver_id.replace("-", " ").title()
            await access_admin.save_driver(
                access, DRIVER({"id": driver_id, "name": name}), create=True
            )
            tag = demo_tag(driver_id)
            await access_admin.save_tag(
                access,
                TAG({"id_tag": tag, "owner": {"kind": "driver", "id": driver_id}}),
                create=True,
            )
            residents[driver_id] = tag
        await access_admin.link(access, charger.id, {"driver_id": driver_id})
    everyone = tuple(residents.values())
    tags: dict[str, tuple[str, ...]] = {}
    for charger in config.chargers:
        if charger.scope is Scope.PRIVATE:
            owner = charger.private_driver or f"resident-{charger.id.lower()}"
            tags[charger.id] = (residents[owner],)
        elif charger.scope in (Scope.ACCOUNT, Scope.PUBLIC, Scope.GROUPS):
            tags[charger.id] = everyone
        else:
            tags[charger.id] = ("OPEN",)
    return tags
