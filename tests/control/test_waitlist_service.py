"""The waitlist service: a full flow on a real database, a fake port, a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evsite.config.access_schema import DRIVER, TAG, WAITLIST_POLICY
from evsite.config.load import normalize
from evsite.context import Services
from evsite.control import access_admin as admin
from evsite.control import waitlist_admin
from evsite.control.access_service import AccessService
from evsite.control.clock import ManualClock
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink, ConnectorStatus
from evsite.control.ports import AuthPurpose
from evsite.control.waitlist_service import WaitlistService
from evsite.errors import ConflictError, NotFoundError
from tests.control.access_support import FakeCommands, make_services


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    services = await make_services(tmp_path)
    yield services
    await services.db.close()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands(connected={"WL"})


@pytest.fixture
async def parts(
    services: Services, commands: FakeCommands
) -> AsyncIterator[tuple[AccessService, WaitlistService]]:
    access = AccessService(services, commands)
    waitlists = WaitlistService(services, commands)
    services.components.update(access=access, authorizer=access, waitlists=waitlists)
    await access.start()
    await waitlists.start()
    for name in ("alice", "bob", "carol", "dora"):
        await admin.save_driver(
            access, normalize(DRIVER, {"id": name, "name": name}), create=True
        )
        owner = {"kind": "driver", "id": name}
        tag = {"id_tag": name[0].upper() + "1", "owner": owner}
        await admin.save_tag(access, normalize(TAG, tag), create=True)
    policy = {
        "id": "garage",
        "name": "Garage",
        "max_charging_minutes": 240,
        "stop_at_max": True,
        "hold_minutes": 10,
    }
    await waitlist_admin.save_policy(
        waitlists, normalize(WAITLIST_POLICY, policy), create=True
    )
    await waitlist_admin.assign(
        waitlists, {"target_kind": "charger", "target_id": "WL", "policy_id": "garage"}
    )
    yield access, waitlists
    await waitlists.stop()
    await access.stop()


def port(services: Services, connector: int, status: ConnectorStatus, tx: str | None,
         tag: str | None = None) -> None:  # fmt: skip
    live = services.live.charger("WL")
    live.link = ChargerLink.CONNECTED
    state = live.connector(connector)
    state.status, state.transaction_id, state.id_tag = status, tx, tag


def publish(services: Services, kind: EventKind, connector: int, **data: Any) -> None:
    services.bus.publish(Event(kind, services.clock.now(), "WL", connector, data))


async def test_full_waitlist_flow(
    services: Services,
    commands: FakeCommands,
    parts: tuple[AccessService, WaitlistService],
) -> None:
    access, waitlists = parts
    clock = services.clock
    assert isinstance(clock, ManualClock)
    seen: list[Event] = []
    services.bus.add_listener(seen.append)
    port(services, 1, ConnectorStatus.CHARGING, "tx1", "C1")
    port(services, 2, ConnectorStatus.CHARGING, "tx2", "D1")

    # Join: alice remotely, bob by tapping at the busy charger.
    await waitlists.join("alice", charger_id="WL")
    tapped = await access.authorize("WL", None, "B1", AuthPurpose.AUTHORIZE)
    assert tapped.rule == "waitlist_joined"
    assert waitlists.entry_view("bob")["position"] == 2
    with pytest.raises(ConflictError, match="already waiting"):
        await waitlists.join("bob", charger_id="WL")

    # Port 1 frees: alice's turn, the port is held and reserved for her.
    port(services, 1, ConnectorStatus.AVAILABLE, None)
    publish(services, EventKind.SESSION_STOPPED, 1, transaction_id="tx1")
    publish(services, EventKind.STATUS_CHANGED, 1, status="available")
    await waitlists.idle()
    turns = [e for e in seen if e.kind is EventKind.WAITLIST_TURN]
    assert [(t.data["driver_id"], t.connector_id) for t in turns] == [("alice", 1)]
    assert commands.named("reserve_now") == [("reserve_now", "WL", 1, 1, "A1")]
    held = await access.authorize("WL", 1, "B1", AuthPurpose.START)
    assert (held.accepted, held.rule) == (False, "waitlist_hold")

    # Alice does not come: after the hold time bob gets the port.
    clock.advance(10 * 60)
    await waitlists.tick()
    await waitlists.idle()
    assert [
        e.data["driver_id"] for e in seen if e.kind is EventKind.WAITLIST_NO_SHOW
    ] == ["alice"]
    assert commands.named("cancel_reservation") == [("cancel_reservation", "WL", 1)]
    turns = [e for e in seen if e.kind is EventKind.WAITLIST_TURN]
    assert turns[-1].data["driver_id"] == "bob"
    assert (await access.authorize("WL", 1, "B1", AuthPurpose.START)).accepted

    # Bob plugs in; his session is timed; at 4 h he is told and it is stopped.
    port(services, 1, ConnectorStatus.CHARGING, "tx3", "B1")
    publish(services, EventKind.SESSION_STARTED, 1, transaction_id="tx3", id_tag="B1")
    await waitlists.idle()
    assert waitlists.state.holds == ()
    clock.advance(240 * 60)
    await waitlists.tick()
    await waitlists.idle()
    maxed = [e for e in seen if e.kind is EventKind.WAITLIST_MAX_TIME]
    assert [(m.data["driver_id"], m.data["transaction_id"]) for m in maxed] == [
        ("bob", "tx3")
    ]
    assert ("remote_stop", "WL", "tx3") in commands.calls

    # Driver log and event log.
    alice_log = await waitlists.repo.log(
        "waitlist_driver_log", key="driver_id", value="alice"
    )
    assert [r["action"] for r in reversed(alice_log)] == ["joined", "turn", "no_show"]
    events = await waitlists.repo.log(
        "waitlist_event_log", key="queue_id", value="charger:WL"
    )
    assert {"reserve", "cancel_reservation", "stop", "turn_taken"} <= {
        r["kind"] for r in events
    }

    # A restart resumes the same state.
    again = WaitlistService(services, commands)
    await again.start()
    try:
        assert again.state == waitlists.state
    finally:
        await again.stop()


async def test_queue_rules(
    services: Services, parts: tuple[AccessService, WaitlistService]
) -> None:
    _, waitlists = parts
    with pytest.raises(ConflictError, match="no waitlist policy"):
        await waitlists.join("alice", charger_id="PU")
    with pytest.raises(NotFoundError):
        await waitlists.join("nobody", charger_id="WL")
    with pytest.raises(NotFoundError):
        await waitlists.leave("alice")
    await waitlists.join("alice", charger_id="WL")
    view = waitlist_admin.queue_view(waitlists, "charger:WL")
    assert (view["waiting"], view["max_charging_minutes"]) == (1, 240)
    assert [p["connector_id"] for p in view["ports"]] == [1, 2]
    await waitlists.leave("alice")
    assert waitlist_admin.queue_view(waitlists, "charger:WL")["waiting"] == 0
    with pytest.raises(ConflictError, match="applied to charger 'WL'"):
        await waitlist_admin.delete_policy(waitlists, "garage")
