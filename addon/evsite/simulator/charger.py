"""SimCharger: one scripted OCPP 1.6 / 2.0.1 charger with cars that charge."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evsite.control.clock import Clock, SystemClock
from evsite.errors import ChargerError
from evsite.simulator import profiles as prof
from evsite.simulator.connection import ChargerConnection
from evsite.simulator.ev import ConnectorState, Ev
from evsite.simulator.flow import Flow, make_flow
from evsite.simulator.link import Link
from evsite.simulator.settings import Settings

_LOG = logging.getLogger(__name__)
VERSIONS = ("1.6", "2.0.1")


class SimCharger(ChargerConnection):
    """A simulated charging station; every public coroutine is a script step."""

    def __init__(
        self,
        charger_id: str,
        url: str,
        version: str = "1.6",
        *,
        connectors: int | Sequence[int] = 1,
        phases: int = 3,
        max_current_a: float = 32.0,
        password: str | None = None,
        clock: Clock | None = None,
        meter_interval: float | None = None,
        rate_unit: str = "Current",
        auto_reconnect: bool = True,
        response_timeout: float = 10.0,
    ) -> None:
        """Describe the charger; nothing connects until :meth:`connect`."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, not {version!r}")
        ids = range(1, connectors + 1) if isinstance(connectors, int) else connectors
        super().__init__(
            charger_id,
            url,
            version,
            password=password,
            meter_interval=meter_interval,
            auto_reconnect=auto_reconnect,
            response_timeout=response_timeout,
        )
        self.clock: Clock = clock or SystemClock()
        self.connectors = {c: ConnectorState(c, max_current_a, phases) for c in ids}
        self.profiles: tuple[prof.Profile, ...] = ()
        self.settings = Settings.defaults(
            len(self.connectors), rate_unit, meter_interval or 60
        )
        self.local_list: dict[str, str] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, str] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._flow: Flow = make_flow(self)
        self._last_mono = self.clock.monotonic()
        self._next_local = 0

    # -- hooks of the connection -------------------------------------------

    def make_cp(self, link: Link) -> Any:
        """The version's ChargePoint, answering commands."""
        return self._flow.make_cp(link)

    def boot_payload(self) -> Any:
        """BootNotification."""
        return self._flow.boot()

    def heartbeat_payload(self) -> Any:
        """Heartbeat."""
        return self._flow.heartbeat()

    async def after_boot(self) -> None:
        """Every connector's status, as chargers report after booting."""
        for conn in self.connectors.values():
            await self._flow.status(conn, conn.status, force=True)

    async def go_online(self, boot: bool = False) -> None:
        """Reconnect (optionally with BootNotification) and replay the outbox."""
        self.refresh_energy()
        await self.connect(boot=boot)

    # -- physics -----------------------------------------------------------

    def refresh_energy(self) -> None:
        """Integrate energy up to now at the draws in force since last time."""
        mono = self.clock.monotonic()
        elapsed, self._last_mono = mono - self._last_mono, mono
        for conn in self.connectors.values():
            conn.advance(elapsed)

    def session_ref(self, connector: int) -> tuple[str | None, datetime | None]:
        """(transaction id, start) of the running session; id "" = not known yet."""
        tx = self.connectors[connector].tx
        if tx is None or tx.stopped:
            return None, None
        return tx.tx_id or "", tx.started

    def effective_limit(self, connector: int) -> float | None:
        """Per-phase amps the installed profiles allow now (None: no profile)."""
        tx_id, started = self.session_ref(connector)
        return prof.limit_amps(
            self.profiles,
            connector,
            tx_id,
            started,
            self.clock.now(),
            self.connectors[connector].phases,
        )

    def current_draw(self, connector: int) -> float:
        """Amps per phase the car draws now."""
        self.refresh_energy()
        conn = self.connectors[connector]
        conn.draw_a = conn.wanted_a(self.effective_limit(connector))
        return conn.draw_a

    async def refresh(self) -> None:
        """Integrate, re-apply limits and report changed connector states."""
        self.refresh_energy()
        for conn in self.connectors.values():
            conn.draw_a = conn.wanted_a(self.effective_limit(conn.id))
            await self._flow.sync(conn)

    # -- script steps --------------------------------------------------------

    def connector(self, connector: int) -> ConnectorState:
        """A connector's state (raises KeyError for an unknown id)."""
        return self.connectors[connector]

    async def plug_in(self, connector: int, ev: Ev | None = None) -> None:
        """Plug a car in (a default car when none given)."""
        self.refresh_energy()
        conn = self.connectors[connector]
        conn.ev = ev or Ev()
        await self._flow.plugged(conn)
        await self.refresh()

    async def unplug(self, connector: int) -> None:
        """Unplug: ends any session (EVDisconnected) and frees the connector."""
        self.refresh_energy()
        await self._flow.unplugged(self.connectors[connector])
        self.connectors[connector].ev = None
        await self.refresh()

    async def tap(self, connector: int, id_tag: str) -> bool:
        """Present an RFID card: start, or stop with the same card; True if acted on."""
        self.refresh_energy()
        conn = self.connectors[connector]
        tx = conn.tx
        if tx is not None and tx.authorized and not tx.stopped:
            if tx.id_tag != id_tag:
                return False
            await self._flow.stop(conn, "Local")
            await self.refresh()
            return True
        if conn.reserved_for is not None and conn.reserved_for != id_tag:
            return False
        if not await self.authorize(id_tag):
            return False
        await self._flow.authorized(conn, id_tag)
        await self.refresh()
        return True

    async def authorize(self, id_tag: str) -> bool:
        """Authorize online, or from the local list / cache while offline."""
        if self._online:
            try:
                res = await self.call(self._flow.authorize(id_tag))
            except ChargerError:
                return self._offline_ok(id_tag)
            status = self._flow.auth_status(res)
            if self.settings.flag.get("AuthorizationCacheEnabled"):
                self.auth_cache[id_tag] = status
            return status == "Accepted"
        return self._offline_ok(id_tag)

    def _offline_ok(self, id_tag: str) -> bool:
        """Local authorization list first, then the cache (OCPP 1.6 §3.5)."""
        if self.settings.flag.get("LocalAuthListEnabled") and id_tag in self.local_list:
            return self.local_list[id_tag] == "Accepted"
        return self.auth_cache.get(id_tag) == "Accepted"

    async def send_meter_values(self, connector: int | None = None) -> None:
        """Send a meter reading for active sessions (or the one connector)."""
        await self.refresh()
        for conn in self.connectors.values():
            if (
                connector in (None, conn.id)
                and conn.tx is not None
                and not conn.tx.stopped
            ):
                await self._flow.meter(conn)

    def next_local_id(self) -> int:
        """A charger-local transaction number."""
        self._next_local += 1
        return self._next_local
