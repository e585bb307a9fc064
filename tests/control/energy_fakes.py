"""Test support for energy control: a fake command sink and a site in SQLite."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsite.context import Services
from evsite.control.clock import ManualClock
from evsite.control.energy import EnergyController
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink, ConnectorStatus, MeterSample
from evsite.control.ports import LocalListEntry, ProfilePurpose
from evsite.errors import ChargerError
from tests.conftest import wait_until
from tests.support import stored_services

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday

PUBLIC = "public"
SITE: dict[str, Any] = {
    "site": {
        "id": "energy-site",
        "name": "Energy Site",
        "timezone": "Europe/Berlin",
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [
        {
            "id": "main",
            "name": "Main",
            "breaker_a": 100,
            "phases": 3,
            "voltage": 400,
        },
        {
            "id": "garage",
            "parent": "main",
            "breaker_a": 50,
            "phases": 3,
            "voltage": 400,
        },
    ],
    # Public chargers: a closed one (the default scope) gets 0 A (scope_closed).
    "chargers": [
        {"id": "CP-1", "parent": "garage", "limit_a": 32, "phases": 3, "scope": PUBLIC},
        {"id": "CP-2", "parent": "garage", "limit_a": 32, "phases": 3, "scope": PUBLIC},
        {
            "id": "CP-3",
            "parent": "main",
            "limit_a": 16,
            "phases": 3,
            "connectors": 2,
            "scope": PUBLIC,
        },
    ],
    "energy": {"deadband_a": 0.5, "ramp_up_step_a": 4},
}


def site_data(*, metered: bool = False) -> dict[str, Any]:
    """A fresh copy of the site document; ``metered`` adds a main meter."""
    data = copy.deepcopy(SITE)
    if metered:
        data["panels"][0]["meter"] = {
            "kind": "modbus_tcp",
            "host": "127.0.0.1",
            "port": 1502,
        }
    return data


@dataclass(frozen=True, slots=True)
class Sent:
    """One set_limit call."""

    charger_id: str
    connector_id: int
    limit_a: float
    purpose: ProfilePurpose
    transaction_id: str | None


class FakeCommands:
    """ChargerCommands that records profiles; chargers may reject or be slow."""

    def __init__(self) -> None:
        """Nobody connected, everything accepted."""
        self.connected: set[str] = set()
        self.rejecting: set[str] = set()
        self.slow: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()  # the link fails (not a rejection)
        self.sent: list[Sent] = []

    def is_connected(self, charger_id: str) -> bool:
        """Connected chargers only."""
        return charger_id in self.connected

    def supports(self, charger_id: str, feature: str) -> bool:
        """Everything."""
        return True

    async def set_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> bool:
        """Record; a slow charger answers when its event is set."""
        gate = self.slow.get(charger_id)
        if gate is not None:
            await gate.wait()
        if charger_id in self.failing:
            raise ChargerError(f"charger {charger_id!r}: call timed out")
        sent = Sent(charger_id, connector_id, limit_a, purpose, transaction_id)
        self.sent.append(sent)
        return charger_id not in self.rejecting

    def tx(self, charger_id: str, connector_id: int = 1) -> list[float]:
        """Every TxProfile limit sent to a connector, in order."""
        return [
            s.limit_a
            for s in self.sent
            if s.charger_id == charger_id
            and s.connector_id == connector_id
            and s.purpose is ProfilePurpose.TX
        ]

    def defaults(self, charger_id: str) -> list[float]:
        """Every TxDefaultProfile limit sent to a charger."""
        return [
            s.limit_a
            for s in self.sent
            if s.charger_id == charger_id and s.purpose is ProfilePurpose.TX_DEFAULT
        ]

    async def send_local_list(
        self,
        charger_id: str,
        version: int,
        entries: Sequence[LocalListEntry],
        *,
        full: bool,
    ) -> str:
        """Unused."""
        return "Accepted"

    async def get_local_list_version(self, charger_id: str) -> int:
        """Unused."""
        return 0

    async def reserve_now(
        self,
        charger_id: str,
        connector_id: int,
        reservation_id: int,
        id_tag: str,
        expiry: datetime,
    ) -> str:
        """Unused."""
        return "Accepted"

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> str:
        """Unused."""
        return "Accepted"

    async def change_availability(
        self, charger_id: str, connector_id: int, *, operative: bool
    ) -> str:
        """Unused."""
        return "Accepted"

    async def remote_start(
        self, charger_id: str, connector_id: int | None, id_tag: str
    ) -> str:
        """Unused."""
        return "Accepted"

    async def remote_stop(self, charger_id: str, transaction_id: str) -> str:
        """Unused."""
        return "Accepted"


class WritingCommands(FakeCommands):
    """Writes each profile as it is started, as the OCPP adapter does.

    The answer is :meth:`FakeCommands.set_limit`'s, run when the dispatcher
    awaits it; :meth:`started` is the hook for what a test notes at writing.
    """

    def started(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
    ) -> None:
        """Called as each profile is written."""

    async def start_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> Awaitable[bool]:
        """Write the profile now; its answer comes when awaited."""
        self.started(charger_id, connector_id, limit_a, purpose)
        return self.set_limit(
            charger_id, connector_id, limit_a, purpose, transaction_id
        )


async def make_services(tmp_path: Path, data: dict[str, Any] | None = None) -> Services:
    """Services over a real SQLite file holding the site."""
    return await stored_services(
        tmp_path,
        data or site_data(),
        clock=ManualClock(START),
        token="test-admin-token-0123456789",
    )


@asynccontextmanager
async def running(
    services: Services, commands: FakeCommands, **options: Any
) -> AsyncIterator[EnergyController]:
    """A started controller (no tick, no meter polling); stopped afterwards."""
    options.setdefault("tick_s", 3600.0)
    options.setdefault("retry_start_s", 0.01)
    controller = EnergyController(services, commands=commands, meters=False, **options)
    await controller.start()
    try:
        yield controller
    finally:
        await controller.stop()


def connect(services: Services, commands: FakeCommands, charger_id: str) -> None:
    """What the OCPP server does when a charger connects."""
    commands.connected.add(charger_id)
    services.live.charger(charger_id).link = ChargerLink.CONNECTED
    services.live.changed("charger", charger_id)
    services.bus.publish(
        Event(EventKind.CHARGER_CONNECTED, services.clock.now(), charger_id)
    )


def start_session(
    services: Services,
    charger_id: str,
    connector_id: int = 1,
    tx: str = "1",
    amps: float = 0.0,
) -> None:
    """What the OCPP server does on StartTransaction and a meter value."""
    conn = services.live.charger(charger_id).connector(connector_id)
    conn.status = ConnectorStatus.CHARGING
    conn.transaction_id = tx
    conn.session_started_at = services.clock.now()
    draw(services, charger_id, connector_id, amps)
    services.bus.publish(
        Event(EventKind.SESSION_STARTED, services.clock.now(), charger_id, connector_id)
    )


def draw(services: Services, charger_id: str, connector_id: int, amps: float) -> None:
    """A connector reports its current on three phases."""
    conn = services.live.charger(charger_id).connector(connector_id)
    conn.current_a = {"L1": amps, "L2": amps, "L3": amps}
    conn.last_meter_at = services.clock.now()


def meter(services: Services, panel_id: str, amps: float) -> None:
    """A panel meter sample (the Modbus reader's call)."""
    sample = MeterSample(services.clock.now(), {"L1": amps, "L2": amps, "L3": amps})
    services.live.record_meter(panel_id, sample)


async def settle(controller: EnergyController) -> None:
    """Run one cycle now and wait for its profiles to be sent."""
    await controller.run_cycle()
    await wait_until(lambda: not controller.dispatcher.busy())


def tick(services: Services, seconds: float = 1.0) -> None:
    """Advance the manual clock."""
    clock = services.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)
