"""Wires adapters and control together; owns every long-lived task."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from evsite.adapters.csms.server import CentralSystem
from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SiteRepository
from evsite.adapters.zeroconf import ZeroconfAnnouncer
from evsite.config.load import LoadedSite
from evsite.config.models import ServiceSettings, SiteConfig
from evsite.config.transfer import import_site
from evsite.context import Services, SiteHolder
from evsite.control.clock import Clock, SystemClock
from evsite.control.events import EventBus
from evsite.control.live import LiveState
from evsite.errors import ConfigError, Problem

_LOGGER = logging.getLogger(__name__)

DB_FILE = "evsite.db"
TOKEN_FILE = "api-token"

Stopper = Callable[[], Awaitable[None]]
# Each subsystem gets this long to stop; a hung one must not hold up the rest.
STOP_TIMEOUT_S = 5.0


def resolve_token(settings: ServiceSettings, data_dir: Path) -> str:
    """The admin token: config ``api.token``, else ``EVSITE_TOKEN``, else generated.

    A generated token is kept in the data directory so it survives restarts.
    """
    if settings.api.token:
        return settings.api.token
    env = os.environ.get("EVSITE_TOKEN")
    if env:
        return env
    path = data_dir / TOKEN_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    _LOGGER.warning("No api.token configured; generated one in %s", path)
    return token


class EvsiteApp:
    """One running evsite: database, OCPP server, control, web, MQTT."""

    def __init__(
        self,
        seed: LoadedSite | None,
        settings: ServiceSettings,
        data_dir: Path,
        *,
        clock: Clock | None = None,
    ) -> None:
        """Prepare; nothing runs until :meth:`start`."""
        self._seed = seed
        self._settings = settings
        self._data_dir = data_dir
        self._clock: Clock = clock or SystemClock()
        self._stoppers: list[Stopper] = []
        self.services: Services | None = None
        self.web_port = 0
        self.ocpp_port = 0

    async def start(self) -> Services:
        """Open storage, load the site and start every subsystem."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(self._data_dir / DB_FILE)
        self._stoppers.append(db.close)
        config = await self._load_site(db)
        services = Services(
            settings=self._settings,
            data_dir=self._data_dir,
            db=db,
            sites=SiteRepository(db),
            site=SiteHolder(config),
            bus=EventBus(),
            live=LiveState(),
            clock=self._clock,
            token=resolve_token(self._settings, self._data_dir),
        )
        self.services = services
        # Order matters: the OCPP commands exist before the subsystems that use
        # them, and chargers can connect only once everything is ready.
        central = await self._start_csms(services)
        await self._start_access(services)
        await self._start_energy(services)
        await self._start_mqtt(services)
        await self._start_web(services)
        self.ocpp_port = await central.listen(
            self._settings.ocpp.host, self._settings.ocpp.port
        )
        await self._start_zeroconf(services)
        self._start_gc_pacer()
        _LOGGER.info(
            "evsite running site '%s': web on %d, OCPP on %d",
            config.site.id,
            self.web_port,
            self.ocpp_port,
        )
        return services

    async def stop(self) -> None:
        """Stop everything in reverse start order; safe to call twice."""
        if not self._stoppers:
            return
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                await asyncio.wait_for(stopper(), STOP_TIMEOUT_S)
            except TimeoutError:
                _LOGGER.error("a subsystem did not stop within %.0f s", STOP_TIMEOUT_S)
            except Exception:
                _LOGGER.exception("error while stopping")
        _LOGGER.info("evsite stopped")

    def _start_gc_pacer(self) -> None:
        """Keep full garbage collections off the reply path (control/gc_pacing)."""
        from evsite.control.gc_pacing import GcPacer

        pacer = GcPacer()
        pacer.start()
        self._stoppers.append(pacer.stop)

    async def _load_site(self, db: Database) -> SiteConfig:
        repo = SiteRepository(db)
        if await repo.is_empty():
            if self._seed is None:
                raise ConfigError(
                    [Problem("", "the database is empty and no site file was given")]
                )
            await import_site(db, self._seed)
            _LOGGER.info("imported site '%s'", self._seed.config.site.id)
        elif self._seed is not None:
            _LOGGER.info(
                "database already holds a site; the file's site data is not "
                "re-imported (use `evsite export` / `evsite import`)"
            )
        config = await repo.load()
        if config is None:  # pragma: no cover - is_empty() said otherwise
            raise ConfigError([Problem("", "the database holds no site")])
        return replace(config, service=self._settings)

    async def _start_csms(self, services: Services) -> CentralSystem:
        """The OCPP central system (SPEC §4); registers the charger commands."""
        central = CentralSystem(services)
        await central.start()
        self._stoppers.append(central.stop)
        return central

    async def _start_access(self, services: Services) -> None:
        """Authorizer, local lists and waitlists (SPEC §3, §5)."""
        from evsite.control.access_wiring import start_access

        access = await start_access(services, None)
        self._stoppers.append(access.stop)

    async def _start_mqtt(self, services: Services) -> None:
        """MQTT state, events, commands and discovery (SPEC §11.3), if enabled."""
        if not self._settings.mqtt.enabled:
            return
        from evsite.adapters.mqtt.bridge import MqttBridge

        bridge = MqttBridge(services)
        await bridge.start()
        self._stoppers.append(bridge.stop)

    async def _start_zeroconf(self, services: Services) -> None:
        """Announce the API on the LAN (loopback only when serving loopback)."""
        settings = self._settings.zeroconf
        if not settings.enabled:
            return
        interfaces: list[str] | None = list(settings.interfaces) or None
        addresses: list[str] | None = None
        if interfaces is None and _is_loopback(self._settings.web.host):
            interfaces = addresses = ["127.0.0.1"]
        announcer = ZeroconfAnnouncer(
            services.site.config.site.id,
            self.web_port,
            addresses=addresses,
            interfaces=interfaces,
        )
        # Registration probes the network for ~1.5 s; never delay start-up for it.
        task = asyncio.create_task(self._announce(announcer), name="zeroconf")
        self._stoppers.append(lambda: self._withdraw(task, announcer))

    @staticmethod
    async def _announce(announcer: ZeroconfAnnouncer) -> None:
        try:
            await announcer.start()
        except OSError as err:
            # mDNS is a convenience; the controller runs without it.
            _LOGGER.warning("zeroconf announcement failed: %s", err)

    @staticmethod
    async def _withdraw(task: asyncio.Task[None], announcer: ZeroconfAnnouncer) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await announcer.stop()

    async def _start_energy(self, services: Services) -> None:
        """Energy management (SPEC §2) and its meters; needs the OCPP commands."""
        from evsite.control.energy import COMMANDS_COMPONENT, EnergyController

        if COMMANDS_COMPONENT not in services.components:
            _LOGGER.warning("no OCPP server running: energy management not started")
            return
        energy = EnergyController(services)
        await energy.start()
        self._stoppers.append(energy.stop)

    async def _start_web(self, services: Services) -> None:
        from evsite.web import api_access, api_energy, api_ocpp
        from evsite.web.api import create_app

        app = create_app(
            services,
            [api_ocpp.register, api_energy.register, api_access.register],
        )
        self.web_port = await self._serve(
            app, self._settings.web.host, self._settings.web.port
        )

    async def _serve(
        self,
        app: web.Application,
        host: str,
        port: int,
        ssl_context: object | None = None,
    ) -> int:
        """Run ``app`` on ``host:port``; return the bound port (port 0 picks one)."""
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)  # type: ignore[arg-type]
        await site.start()
        self._stoppers.append(runner.cleanup)
        bound: int = runner.addresses[0][1]
        return bound


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def run_until_stopped(app: EvsiteApp, stop: asyncio.Event) -> None:
    """Start ``app``, wait for ``stop``, then shut down cleanly."""
    try:
        await app.start()
        await stop.wait()
    finally:
        await app.stop()
