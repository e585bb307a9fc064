"""Panel meters of the site: one Modbus reader per Modbus-metered panel (SPEC §11.5).

MQTT meters are fed by the MQTT subsystem into the same live state; here only
Modbus TCP/RTU meters get a polling task. The pool is rebuilt when the site's
meters change (a config change).
"""

from __future__ import annotations

import logging

from evsite.adapters.modbus.reader import MeterPool, MeterReader
from evsite.config.models import MeterConfig, MeterKind, SiteConfig
from evsite.context import SiteHolder
from evsite.control.clock import Clock
from evsite.control.live import LiveState

_LOGGER = logging.getLogger(__name__)

MODBUS_KINDS = frozenset({MeterKind.MODBUS_TCP, MeterKind.MODBUS_RTU})


def modbus_meters(config: SiteConfig) -> dict[str, MeterConfig]:
    """Panel id -> meter, for panels read over Modbus."""
    return {
        p.id: p.meter
        for p in config.panels
        if p.meter is not None and p.meter.kind in MODBUS_KINDS
    }


def build_meter_pool(config: SiteConfig, live: LiveState, clock: Clock) -> MeterPool:
    """A (not yet started) pool with one reader per Modbus-metered panel."""
    return MeterPool(
        [
            MeterReader(panel_id, meter, live, clock)
            for panel_id, meter in modbus_meters(config).items()
        ]
    )


class SiteMeters:
    """Owns the meter pool; restarts it when the configured meters change."""

    def __init__(self, site: SiteHolder, live: LiveState, clock: Clock) -> None:
        """Read the meters of ``site.config``."""
        self._site = site
        self._live = live
        self._clock = clock
        self._meters: dict[str, MeterConfig] = {}
        self.pool: MeterPool | None = None

    def _config(self) -> SiteConfig:
        return self._site.config

    def start(self) -> None:
        """Start polling every Modbus meter of the site."""
        config = self._config()
        self._meters = modbus_meters(config)
        self.pool = build_meter_pool(config, self._live, self._clock)
        self.pool.start()
        if self._meters:
            _LOGGER.info("polling %d Modbus meters", len(self._meters))

    async def reload(self) -> None:
        """Restart the pool if the configured meters changed."""
        if modbus_meters(self._config()) == self._meters:
            return
        await self.stop()
        self.start()

    async def stop(self) -> None:
        """Stop polling."""
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None
