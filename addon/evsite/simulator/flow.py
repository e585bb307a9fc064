"""Version-neutral charger behaviour: states, commands; versions build the messages."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ocpp.routing import on as _ocpp_on

from evsite.simulator import profiles as prof
from evsite.simulator.ev import ConnectorState
from evsite.simulator.link import Link
from evsite.simulator.profiles import VOLTS

if TYPE_CHECKING:
    from evsite.simulator.charger import SimCharger


# Every frame of every simulated charger: quiet unless asked for (demo with 26+).
WIRE_LOG = logging.getLogger("evsite.simulator.wire")
WIRE_LOG.setLevel(logging.WARNING)

_F = TypeVar("_F", bound=Callable[..., Any])


def on(action: str) -> Callable[[_F], _F]:
    """``ocpp.routing.on`` with a type (the library ships none)."""
    return cast(Callable[[_F], _F], _ocpp_on(action))


def const(payload: Any) -> Callable[[], Any]:
    """A builder for a payload fixed now (nothing to resolve at send time)."""
    return lambda: payload


def iso(when: datetime) -> str:
    """OCPP timestamp text (UTC, ``Z``)."""
    # Milliseconds, as chargers send them (and as central systems store them).
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def desired_status(conn: ConnectorState) -> str:
    """The 1.6 ChargePointStatus the connector's state implies."""
    tx = conn.tx
    if not conn.available:
        return "Unavailable"
    if tx is not None and not tx.stopped and tx.authorized:
        if conn.draw_a > 0:
            return "Charging"
        return (
            "SuspendedEV" if conn.ev is not None and conn.ev.full else "SuspendedEVSE"
        )
    if conn.ev is not None:
        return "Finishing" if tx is not None and tx.stopped else "Preparing"
    if conn.reserved_for is not None:
        return "Reserved"
    return "Available"


class Flow(ABC):
    """What differs between versions is the wire; this base holds the rest."""

    def __init__(self, sim: SimCharger) -> None:
        """Serve one charger."""
        self.sim = sim

    # -- wire, per version ------------------------------------------------

    @abstractmethod
    def make_cp(self, link: Link) -> Any:
        """The ``ocpp`` ChargePoint handling this charger's incoming calls."""

    @abstractmethod
    def boot(self) -> Any:
        """BootNotification payload."""

    @abstractmethod
    def heartbeat(self) -> Any:
        """Heartbeat payload."""

    @abstractmethod
    def authorize(self, id_tag: str) -> Any:
        """Authorize payload."""

    @abstractmethod
    def auth_status(self, result: Any) -> str:
        """Authorization status of an Authorize result."""

    @abstractmethod
    async def status(
        self, conn: ConnectorState, status: str, force: bool = False
    ) -> None:
        """Report ``status`` (a 1.6 name) when it changed (or when forced)."""

    @abstractmethod
    async def plugged(self, conn: ConnectorState) -> None:
        """A car was plugged in."""

    @abstractmethod
    async def unplugged(self, conn: ConnectorState) -> None:
        """The car is about to leave."""

    @abstractmethod
    async def authorized(self, conn: ConnectorState, id_tag: str) -> None:
        """A card (or remote start) was accepted for this connector."""

    @abstractmethod
    async def stop(self, conn: ConnectorState, reason: str) -> None:
        """End the session on ``conn`` with a 1.6 Reason name."""

    @abstractmethod
    async def meter(self, conn: ConnectorState) -> None:
        """One periodic meter reading for the session on ``conn``."""

    def later(self, coro: Any) -> None:
        """Run ``coro`` once the reply to the command being handled was sent."""
        cp = self.sim.current_cp
        if cp is not None:
            cp.deferred.append(coro)
        else:
            self.sim.spawn(coro)

    async def sync(self, conn: ConnectorState) -> None:
        """Report a changed connector state."""
        await self.status(conn, desired_status(conn))

    # -- readings -----------------------------------------------------------

    def readings(
        self, conn: ConnectorState
    ) -> list[tuple[str, float, str, str | None]]:
        """Sampled values: (measurand, value, unit, phase)."""
        out: list[tuple[str, float, str, str | None]] = [
            ("Energy.Active.Import.Register", round(conn.energy_wh, 1), "Wh", None),
            ("Power.Active.Import", round(conn.power_w, 1), "W", None),
        ]
        for n in range(1, conn.phases + 1):
            out.append(("Current.Import", conn.draw_a, "A", f"L{n}"))
        if conn.ev is not None:
            out.append(("SoC", round(conn.ev.soc_percent, 1), "Percent", None))
        return out

    # -- commands from the central system (shared logic) ------------------

    def set_profile(self, profile: prof.Profile) -> bool:
        """Install a profile if the unit, connector and purpose allow it."""
        sim = self.sim
        if not sim.settings.accepts_unit(profile.unit):
            return False
        if profile.connector != 0 and profile.connector not in sim.connectors:
            return False
        if profile.purpose is prof.Purpose.TX:
            conn = sim.connectors.get(profile.connector)
            if conn is None or conn.tx is None or conn.tx.stopped:
                return False  # OCPP 1.6 §5.16.3: TxProfile needs a transaction
        if profile.purpose is prof.Purpose.MAX and profile.connector != 0:
            return False
        sim.profiles = prof.install(sim.profiles, profile)
        self.later(sim.refresh())
        return True

    def clear_profiles(self, **match: Any) -> bool:
        """ClearChargingProfile; True when something was removed."""
        self.sim.profiles, removed = prof.clear(self.sim.profiles, **match)
        self.later(self.sim.refresh())
        return removed

    def composite(
        self, connector: int, duration: int, unit: str | None
    ) -> tuple[str, list[tuple[int, float]]] | None:
        """Composite schedule in ``unit`` (A default), or None for a bad connector."""
        sim = self.sim
        conn = sim.connectors.get(connector)
        if conn is None:
            return None
        tx_id, started = sim.session_ref(connector)
        periods = prof.composite(
            sim.profiles,
            connector,
            tx_id,
            started,
            sim.clock.now(),
            duration,
            conn.phases,
            conn.hardware_a,
        )
        if unit == "W":
            scale = VOLTS * conn.phases
            return "W", [(s, round(a * scale, 1)) for s, a in periods]
        return "A", periods

    def free_connector(self, connector: int | None) -> ConnectorState | None:
        """The connector a remote start targets (first idle one when unspecified)."""
        sim = self.sim
        if connector:
            conn = sim.connectors.get(connector)
            return conn if conn is not None and conn.available else None
        for conn in sim.connectors.values():
            if conn.available and (conn.tx is None or conn.tx.stopped):
                return conn
        return None

    def remote_start(
        self, connector: int | None, id_tag: str, profile: prof.Profile | None
    ) -> bool:
        """Accept a remote start and run it (after the reply is sent)."""
        conn = self.free_connector(connector)
        if conn is None or (
            conn.tx is not None and conn.tx.authorized and not conn.tx.stopped
        ):
            return False

        async def run() -> None:
            if self.sim.settings.flag.get("AuthorizeRemoteTxRequests") and not (
                await self.sim.authorize(id_tag)
            ):
                return
            if (
                profile is not None
            ):  # the session's TxProfile is in force from its start
                self.sim.profiles = prof.install(
                    self.sim.profiles, prof.replace_connector(profile, conn.id)
                )
            await self.authorized(conn, id_tag)
            await self.sim.refresh()

        self.later(run())
        return True

    def session_on(self, tx_id: str) -> ConnectorState | None:
        """The connector whose running session has this id."""
        for conn in self.sim.connectors.values():
            if conn.tx is not None and not conn.tx.stopped and conn.tx.tx_id == tx_id:
                return conn
        return None

    def remote_stop(self, tx_id: str) -> bool:
        """Accept a remote stop for a running session."""
        conn = self.session_on(tx_id)
        if conn is None:
            return False
        self.later(self._stop_and_refresh(conn, "Remote"))
        return True

    async def _stop_and_refresh(self, conn: ConnectorState, reason: str) -> None:
        """Stop then report the new state."""
        await self.stop(conn, reason)
        await self.sim.refresh()

    def reset(self, reason: str) -> None:
        """Stop sessions, drop the link and boot again (after the reply)."""

        async def run() -> None:
            for conn in self.sim.connectors.values():
                if conn.tx is not None and not conn.tx.stopped:
                    await self.stop(conn, reason)
            await asyncio.sleep(0)
            await self.sim.go_offline()
            await self.sim.connect(boot=True)

        self.later(run())

    def unlock(self, connector: int) -> str:
        """UnlockConnector: ends a running session first (OCPP 1.6 §5.18)."""
        conn = self.sim.connectors.get(connector)
        if conn is None:
            return "NotSupported"
        if conn.tx is not None and not conn.tx.stopped:
            self.later(self._stop_and_refresh(conn, "UnlockCommand"))
        return "Unlocked"

    def change_availability(self, connector: int, operative: bool) -> str:
        """Set connectors (0 = all) operative or not; Scheduled while charging."""
        targets = (
            list(self.sim.connectors.values())
            if connector == 0
            else [c for c in self.sim.connectors.values() if c.id == connector]
        )
        if not targets:
            return "Rejected"
        busy = False
        for conn in targets:
            if conn.tx is not None and not conn.tx.stopped and not operative:
                busy = True
                conn.extra["availability_after"] = operative
                continue
            conn.available = operative
        self.later(self.sim.refresh())
        return "Scheduled" if busy else "Accepted"

    def reserve(self, connector: int, id_tag: str, reservation_id: int) -> str:
        """ReserveNow on a connector (0 = any idle one)."""
        conn = self.free_connector(connector or None)
        if conn is None or not conn.available:
            return "Unavailable"
        if conn.ev is not None or conn.tx is not None:
            return "Occupied"
        if conn.reserved_for is not None and conn.reservation_id != reservation_id:
            return "Occupied"
        conn.reserved_for, conn.reservation_id = id_tag, reservation_id
        self.later(self.sim.refresh())
        return "Accepted"

    def cancel_reservation(self, reservation_id: int) -> bool:
        """CancelReservation; True when it existed."""
        for conn in self.sim.connectors.values():
            if conn.reservation_id == reservation_id:
                conn.reserved_for = conn.reservation_id = None
                self.later(self.sim.refresh())
                return True
        return False

    def send_local_list(
        self, version: int, full: bool, entries: dict[str, str | None]
    ) -> str:
        """Replace or update the local authorization list."""
        sim = self.sim
        if not sim.settings.flag.get("LocalAuthListEnabled"):
            return "NotSupported"
        if not full and version <= sim.local_list_version:
            return "VersionMismatch"
        if full:
            sim.local_list = {}
        for tag, status in entries.items():
            if status is None:
                sim.local_list.pop(tag, None)
            else:
                sim.local_list[tag] = status
        sim.local_list_version = version
        return "Accepted"

    def end_session(self, conn: ConnectorState) -> None:
        """Bookkeeping when a session stops: TxProfiles and reservations end."""
        if conn.tx is not None:
            conn.tx.stopped = True
        self.sim.profiles = prof.end_transaction(self.sim.profiles, conn.id)
        conn.reserved_for = conn.reservation_id = None
        pending = conn.extra.pop("availability_after", None)
        if pending is not None:
            conn.available = bool(pending)


def make_flow(sim: SimCharger) -> Flow:
    """The flow for the charger's OCPP version."""
    if sim.version == "1.6":
        from evsite.simulator.flow16 import Flow16

        return Flow16(sim)
    from evsite.simulator.flow201 import Flow201

    return Flow201(sim)
