"""Access end to end: the real OCPP server, the simulator, SQLite, an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from evsite.adapters.csms.server import CentralSystem
from evsite.config.access_schema import DRIVER, POLICY, TAG, WAITLIST_POLICY
from evsite.config.load import normalize
from evsite.context import Services
from evsite.control import access_admin as admin
from evsite.control import waitlist_admin
from evsite.control.access_wiring import AccessSubsystem, start_access
from evsite.control.clock import ManualClock
from evsite.control.events import Event, EventKind
from evsite.simulator.charger import SimCharger
from tests.control.access_support import make_services

TIMEOUT = 10.0


class Stack:
    """A running central system with the access subsystem, and its events."""

    def __init__(self, services: Services, central: CentralSystem, port: int) -> None:
        self.services = services
        self.central = central
        self.url = f"ws://127.0.0.1:{port}/ocpp"
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        services.bus.add_listener(self._seen)
        self.access: AccessSubsystem | None = None
        self.sims: list[SimCharger] = []

    def _seen(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, what: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
        """Wait until ``what()`` is truthy (re-checked after every event)."""
        async with asyncio.timeout(timeout):
            while not (found := what()):
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), 0.05)
                except TimeoutError:
                    continue
            return found

    def of(self, kind: EventKind, charger: str | None = None) -> list[Event]:
        return [
            e for e in self.events
            if e.kind is kind and (charger is None or e.charger_id == charger)
        ]  # fmt: skip

    async def charger(
        self, charger_id: str, version: str = "1.6", **kw: Any
    ) -> SimCharger:
        sim = SimCharger(charger_id, self.url, version, **kw)
        self.sims.append(sim)
        await sim.connect()
        # Features are read after boot; local lists follow them.
        await self.wait(
            lambda: self.central.commands.supports(charger_id, "local_auth_list")
        )
        return sim


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    services = await make_services(tmp_path)
    central = CentralSystem(
        services, ws_ping_interval_s=None, heartbeat_timeout_s=10**7
    )
    await central.start()
    port = await central.listen("127.0.0.1", 0)
    stack = Stack(services, central, port)
    stack.access = await start_access(services, None, tick_s=None)
    await seed(stack.access)
    yield stack
    for sim in stack.sims:
        await sim.close()
    await stack.access.stop()
    await central.stop()
    await services.db.close()


async def seed(sub: AccessSubsystem) -> None:
    """alice: tenant; bob: outside the account; carol, dora: staff; a child tag."""
    svc = sub.access
    for name, member in (
        ("alice", True),
        ("bob", False),
        ("carol", True),
        ("dora", True),
    ):
        body = {"id": name, "name": name.title(), "account_member": member}
        await admin.save_driver(svc, normalize(DRIVER, body), create=True)
        owner = {"kind": "driver", "id": name}
        await admin.save_tag(
            svc,
            normalize(TAG, {"id_tag": name[0].upper() + "1", "owner": owner}),
            create=True,
        )
    await admin.save_tag(
        svc, normalize(TAG, {"id_tag": "K1", "parent": "A1"}), create=True
    )
    blocked = {
        "id_tag": "X1",
        "status": "blocked",
        "owner": {"kind": "driver", "id": "alice"},
    }
    await admin.save_tag(svc, normalize(TAG, blocked), create=True)
    await admin.set_members(
        svc, "tenants", {"members": [{"kind": "driver", "id": "alice"}]}
    )
    staff = {
        "members": [{"kind": "driver", "id": "carol"}, {"kind": "driver", "id": "dora"}]
    }
    await admin.set_members(svc, "staff", staff)
    await admin.link(svc, "PR", {"driver_id": "alice"})


# What each scope answers to each card (SPEC §3; the core decision table).
EXPECTED = {
    "OP": {"A1": True, "B1": True, "K1": True, "X1": True, "UNKNOWN": True},
    "PR": {"A1": True, "B1": False, "K1": True, "X1": False, "UNKNOWN": False},
    "AC": {"A1": True, "B1": False, "K1": True, "X1": False, "UNKNOWN": False},
    "GR": {"A1": True, "B1": False, "K1": True, "X1": False, "UNKNOWN": False},
    "PU": {"A1": True, "B1": True, "K1": True, "X1": False, "UNKNOWN": False},
    "JC": {"A1": True, "B1": True, "K1": True, "X1": True, "UNKNOWN": True},
}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_taps_on_every_scope(stack: Stack, version: str) -> None:
    for charger_id, answers in EXPECTED.items():
        sim = await stack.charger(charger_id, version)
        got = {tag: await sim.authorize(tag) for tag in answers}
        assert got == answers, charger_id
    alarms = [
        e for e in stack.of(EventKind.ALARM) if e.data.get("name") == "Unknown RFID"
    ]
    assert {e.charger_id for e in alarms} == {"PR", "AC", "GR", "PU"}
    assert all(e.data["id_tag"] == "UNKNOWN" for e in alarms)
    log = await stack.access.access.repo.auth_log(limit=1000)  # type: ignore[union-attr]
    assert len(log) == sum(len(a) for a in EXPECTED.values())


async def test_closed_charger_is_set_inoperative_and_refuses(stack: Stack) -> None:
    sim = await stack.charger("CL")
    await stack.wait(lambda: not sim.connector(1).available)
    assert not await sim.authorize("A1")
    await sim.plug_in(1)
    assert not await sim.tap(1, "A1")


async def test_a_started_session_is_authorized_too(stack: Stack) -> None:
    sim = await stack.charger("GR")
    await sim.plug_in(1)
    assert await sim.tap(1, "A1")
    started = await stack.wait(lambda: stack.of(EventKind.SESSION_STARTED, "GR"))
    assert started[0].data["id_tag"] == "A1"
    assert started[0].data["session_number"] == 1  # RFID starts count from 1
    log = await stack.access.access.repo.auth_log(charger_id="GR")  # type: ignore[union-attr]
    assert {r["purpose"] for r in log} >= {"authorize", "start_transaction"}
    # A remote start (app, operator) is numbered from 1,000,000,000 (seed 003).
    sim2 = await stack.charger("PU", connectors=2)
    await sim2.plug_in(2)
    status = await stack.central.commands.remote_start("PU", 2, "B1")
    assert status == "Accepted"
    remote = await stack.wait(lambda: stack.of(EventKind.SESSION_STARTED, "PU"))
    assert remote[0].data["session_number"] == 1_000_000_000


async def test_offline_charger_accepts_exactly_its_local_list(stack: Stack) -> None:
    sub = stack.access
    assert sub is not None
    policy = {
        "id": "mixed",
        "name": "Staff anytime, tenants by day",
        "rules": [
            {"group": "staff", "hours": "anytime"},
            {"group": "tenants", "hours": "windows",
             "windows": [{"start": "08:00", "end": "18:00"}]},
        ],
    }  # fmt: skip
    await admin.save_policy(sub.access, normalize(POLICY, policy), create=True)
    await admin.set_charger_access(
        sub.access, "AC", {"usable_by": "mixed", "visible_to": None}
    )
    sim = await stack.charger("AC")
    # The documented requirement for hour-limited sites: no authorization cache.
    assert sim.settings.change("AuthorizationCacheEnabled", "false") == "Accepted"
    await stack.wait(lambda: set(sim.local_list) == {"C1", "D1"})
    assert await sim.authorize("A1")  # online, 10:00: inside the tenants' window
    await sim.go_offline()
    offline = {
        tag: await sim.authorize(tag) for tag in ("A1", "K1", "B1", "C1", "D1", "X1")
    }
    assert offline == {"A1": False, "K1": False, "B1": False, "C1": True, "D1": True,
                       "X1": False}  # fmt: skip
    # A change while offline reaches the charger when it reconnects.
    await admin.set_members(
        sub.access, "staff", {"members": [{"kind": "driver", "id": "dora"}]}
    )
    await sim.go_online()
    await stack.wait(lambda: set(sim.local_list) == {"D1"})
    await sim.go_offline()
    assert not await sim.authorize("C1")
    assert await sim.authorize("D1")


async def test_full_waitlist_flow(stack: Stack) -> None:
    sub = stack.access
    assert sub is not None
    clock = stack.services.clock
    assert isinstance(clock, ManualClock)
    policy = {"id": "lobby", "name": "Lobby", "max_charging_minutes": 240,
              "stop_at_max": True, "hold_minutes": 10}  # fmt: skip
    await waitlist_admin.save_policy(
        sub.waitlists, normalize(WAITLIST_POLICY, policy), create=True
    )
    await waitlist_admin.assign(
        sub.waitlists,
        {"target_kind": "station_group", "target_id": "lobby", "policy_id": "lobby"},
    )
    sim = await stack.charger("WL", connectors=2)
    for connector, tag in ((1, "C1"), (2, "D1")):
        await sim.plug_in(connector)
        assert await sim.tap(connector, tag)
    await stack.wait(lambda: len(stack.of(EventKind.SESSION_STARTED, "WL")) == 2)

    # alice joins remotely; bob taps at the busy charger and is queued.
    await sub.waitlists.join("alice", charger_id="WL")
    assert await sim.authorize("B1")
    assert sub.waitlists.entry_view("bob")["position"] == 2

    # Carol finishes and leaves: alice's turn, port 1 reserved for her.
    assert await sim.tap(1, "C1")
    await sim.unplug(1)
    turn = await stack.wait(lambda: stack.of(EventKind.WAITLIST_TURN))
    assert (turn[0].data["driver_id"], turn[0].connector_id) == ("alice", 1)
    await sub.waitlists.idle()
    await stack.wait(lambda: sim.connector(1).reserved_for == "A1")
    assert not await sim.tap(1, "B1")  # the charger holds it for alice

    # alice does not come: after the hold time the turn passes to bob.
    clock.advance(10 * 60)
    await sub.waitlists.tick()
    await sub.waitlists.idle()
    no_show = await stack.wait(lambda: stack.of(EventKind.WAITLIST_NO_SHOW))
    assert no_show[0].data["driver_id"] == "alice"
    await stack.wait(lambda: sim.connector(1).reserved_for == "B1")

    # bob plugs in and starts; at the max charging time he is told and stopped.
    await sim.plug_in(1)
    assert await sim.tap(1, "B1")
    started = await stack.wait(
        lambda: [
            e for e in stack.of(EventKind.SESSION_STARTED) if e.data["id_tag"] == "B1"
        ]
    )
    await sub.waitlists.idle()
    assert sub.waitlists.state.holds == ()
    clock.advance(240 * 60)
    await sub.waitlists.tick()
    # dora has charged since the start (250 min): she reaches the limit too.
    maxed = await stack.wait(lambda: stack.of(EventKind.WAITLIST_MAX_TIME))
    assert sorted(e.data["driver_id"] for e in maxed) == ["bob", "dora"]
    tx = started[0].data["transaction_id"]
    await stack.wait(
        lambda: [e for e in stack.of(EventKind.SESSION_STOPPED)
                 if e.data["transaction_id"] == tx]
    )  # fmt: skip
    await sub.waitlists.idle()
    log = await sub.waitlists.repo.log(
        "waitlist_driver_log", key="driver_id", value="bob"
    )
    assert [r["action"] for r in reversed(log)] == [
        "joined", "turn", "turn_taken", "max_time",
    ]  # fmt: skip


async def test_rest_remote_start_obeys_the_access_policy(
    stack: Stack, aiohttp_client: Any
) -> None:
    from evsite.web import api_ocpp
    from evsite.web.api import create_app

    client = await aiohttp_client(create_app(stack.services, [api_ocpp.register]))
    auth = {"Authorization": f"Bearer {stack.services.token}"}
    sim = await stack.charger("AC")
    await sim.plug_in(1)
    url = "/api/v1/chargers/AC/commands/remote_start"
    # bob is not an account member: refused before anything reaches the charger.
    refused = await client.post(url, json={"id_tag": "B1"}, headers=auth)
    assert refused.status == 409
    body = await refused.json()
    assert body["error"]["problems"][0]["path"] == "id_tag"
    assert not stack.of(EventKind.SESSION_STARTED, "AC")
    accepted = await client.post(
        url, json={"id_tag": "A1", "connector_id": 1}, headers=auth
    )
    assert accepted.status == 200, await accepted.text()
    started = await stack.wait(lambda: stack.of(EventKind.SESSION_STARTED, "AC"))
    assert started[0].data["session_number"] == 1_000_000_000
