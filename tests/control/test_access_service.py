"""The access service over a real SQLite database: decisions, logs, alarms, links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evsite.config.access_schema import DRIVER, POLICY, TAG
from evsite.config.load import normalize
from evsite.config.models import Scope
from evsite.context import Services
from evsite.control import access_admin as admin
from evsite.control.access_service import AccessService
from evsite.control.clock import ManualClock
from evsite.control.events import Event, EventKind
from evsite.control.ports import AuthPurpose, IdTagStatus
from evsite.errors import ConfigError, ConflictError, NotFoundError
from tests.control.access_support import FakeCommands, make_services


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    services = await make_services(tmp_path)
    yield services
    await services.db.close()


async def seed(svc: AccessService) -> None:
    """Drivers, tags (with a household child and a blocked card) and groups."""
    for driver in (
        {"id": "alice", "name": "Alice"},
        {"id": "bob", "name": "Bob", "account_member": False},
        {"id": "carol", "name": "Carol"},
    ):
        await admin.save_driver(svc, normalize(DRIVER, driver), create=True)
    for tag in (
        {"id_tag": "A1", "owner": {"kind": "driver", "id": "alice"}},
        {"id_tag": "B1", "owner": {"kind": "driver", "id": "bob"}},
        {"id_tag": "C1", "owner": {"kind": "driver", "id": "carol"}},
        {"id_tag": "K1", "parent": "A1"},
        {"id_tag": "V1", "owner": {"kind": "vehicle", "id": "van-1"}},
        {
            "id_tag": "X1",
            "status": "blocked",
            "owner": {"kind": "driver", "id": "alice"},
        },
    ):
        await admin.save_tag(svc, normalize(TAG, tag), create=True)
    await admin.set_members(
        svc, "tenants", {"members": [{"kind": "driver", "id": "alice"}]}
    )
    await admin.set_members(
        svc,
        "staff",
        {
            "members": [
                {"kind": "driver", "id": "carol"},
                {"kind": "vehicle", "id": "van-1"},
            ]
        },
    )


@pytest.fixture
async def access(services: Services) -> AsyncIterator[AccessService]:
    svc = AccessService(services)
    await svc.start()
    await seed(svc)
    yield svc
    await svc.stop()


async def tap(svc: AccessService, charger: str, tag: str) -> tuple[bool, str]:
    result = await svc.authorize(charger, 1, tag, AuthPurpose.AUTHORIZE)
    return result.accepted, result.rule


async def test_scopes_decide_and_every_decision_is_logged(
    access: AccessService,
) -> None:
    assert await tap(access, "CL", "A1") == (False, "scope_closed")
    assert await tap(access, "OP", "nobody") == (True, "scope_open")
    assert await tap(access, "AC", "A1") == (True, "scope_account")
    assert await tap(access, "AC", "B1") == (False, "not_account_member")
    assert await tap(access, "GR", "A1") == (True, "scope_groups")
    assert await tap(access, "GR", "C1") == (False, "not_in_group")
    assert await tap(access, "PU", "B1") == (True, "scope_public")
    assert await tap(access, "PU", "V1") == (True, "scope_public")
    assert await tap(access, "JC", "anything") == (True, "just_charge")
    assert await tap(access, "GR", "K1") == (True, "scope_groups")  # child of A1
    assert await tap(access, "AC", "X1") == (False, "tag_blocked")
    log = await access.repo.auth_log(limit=100)
    assert len(log) == 11
    assert (log[0]["charger_id"], log[0]["id_tag"], log[0]["rule"]) == (
        "AC", "X1", "tag_blocked",
    )  # fmt: skip
    assert log[1]["driver_id"] == "alice"
    only_gr = await access.repo.auth_log(charger_id="GR")
    assert [r["id_tag"] for r in only_gr] == ["K1", "C1", "A1"]


async def test_unknown_card_raises_unknown_rfid_alarm(
    access: AccessService, services: Services
) -> None:
    seen: list[Event] = []
    services.bus.add_listener(seen.append)
    result = await access.authorize("PU", 2, "DEADBEEF", AuthPurpose.START)
    assert (result.status, result.rule) == (IdTagStatus.INVALID, "unknown_tag")
    alarms = [e for e in seen if e.kind is EventKind.ALARM]
    assert len(alarms) == 1
    assert alarms[0].charger_id == "PU"
    assert alarms[0].data["name"] == "Unknown RFID"
    assert alarms[0].data["id_tag"] == "DEADBEEF"
    auths = [e for e in seen if e.kind is EventKind.AUTHORIZATION]
    assert auths[0].data["rule"] == "unknown_tag"


async def test_policy_hours_follow_the_injected_clock(
    access: AccessService, services: Services
) -> None:
    policy = {
        "id": "daytime",
        "name": "Tenants by day",
        "rules": [
            {"group": "tenants", "hours": "windows",
             "windows": [{"start": "08:00", "end": "18:00", "days": ["wed"]}]},
            {"group": "*", "hours": "never"},
        ],
    }  # fmt: skip
    await admin.save_policy(access, normalize(POLICY, policy), create=True)
    await admin.set_charger_access(
        access, "PU", {"usable_by": "daytime", "visible_to": "daytime"}
    )
    assert await tap(access, "PU", "A1") == (True, "policy:daytime")  # 10:00
    # The accept expires when the window closes, so a charger's cache cannot outlive it.
    result = await access.authorize("PU", 1, "A1", AuthPurpose.AUTHORIZE)
    assert result.expiry == datetime(2026, 3, 11, 17, 0, tzinfo=UTC)  # 18:00 CET
    assert await tap(access, "PU", "B1") == (False, "policy_never")
    clock = services.clock
    assert isinstance(clock, ManualClock)
    clock.advance(8 * 3600)  # 18:00 Berlin: the window has closed
    assert await tap(access, "PU", "A1") == (False, "policy_hours")


async def test_policy_naming_an_unknown_group_is_refused_unchanged(
    access: AccessService,
) -> None:
    bad = {"id": "p", "name": "p", "rules": [{"group": "ghosts", "hours": "anytime"}]}
    with pytest.raises(ConfigError) as err:
        await admin.save_policy(access, normalize(POLICY, bad), create=True)
    assert [p.path for p in err.value.problems] == ["rules[0].group"]
    assert (await access.repo.load()).policies == {}


async def test_multifamily_private_charger_has_exactly_one_driver(
    access: AccessService,
) -> None:
    assert await tap(access, "PR", "A1") == (False, "not_private_driver")
    await admin.link(access, "PR", {"driver_id": "alice"})
    assert await tap(access, "PR", "A1") == (True, "scope_private")
    assert await tap(access, "PR", "K1") == (True, "scope_private")
    with pytest.raises(ConflictError, match="already linked to driver 'alice'"):
        await admin.link(access, "PR", {"driver_id": "bob"})
    assert (await access.repo.load()).links["PR"].driver_id == "alice"
    with pytest.raises(ConflictError, match="only private chargers"):
        await admin.link(access, "AC", {"driver_id": "bob"})
    await admin.unlink(access, "PR")
    await admin.link(access, "PR", {"driver_id": "bob"})
    assert await tap(access, "PR", "B1") == (True, "scope_private")


async def test_referential_checks_name_the_field(access: AccessService) -> None:
    owner = {"kind": "driver", "id": "x"}
    with pytest.raises(ConflictError) as err:
        await admin.save_tag(
            access, normalize(TAG, {"id_tag": "Z", "owner": owner}), create=True
        )
    assert err.value.path == "owner.id"
    with pytest.raises(ConflictError) as err:
        await admin.save_tag(
            access, normalize(TAG, {"id_tag": "Z", "parent": "K1"}), create=True
        )
    assert err.value.path == "parent"
    with pytest.raises(ConflictError, match="still owns tags"):
        await admin.delete_driver(access, "alice")
    with pytest.raises(ConflictError, match="is the parent of 'K1'"):
        await admin.delete_tag(access, "A1")
    with pytest.raises(NotFoundError):
        await admin.set_members(access, "ghosts", {"members": []})
    with pytest.raises(ConflictError, match="already exists"):
        await admin.save_driver(
            access, normalize(DRIVER, {"id": "bob", "name": "B"}), create=True
        )


async def test_closed_chargers_are_set_inoperative(services: Services) -> None:
    commands = FakeCommands(connected={"CL", "AC"})
    svc = AccessService(services, commands)
    await svc.start()
    try:
        await svc.enforce_availability("CL", reconnected=True)
        await svc.enforce_availability("AC", reconnected=True)
        assert commands.named("change_availability") == [
            ("change_availability", "CL", 0, False)
        ]
        # Opening the closed charger makes it operative again.
        config = services.site.config
        opened = tuple(
            replace(c, scope=Scope.PUBLIC) if c.id == "CL" else c
            for c in config.chargers
        )
        services.site.config = replace(config, chargers=opened)
        await svc.enforce_availability("CL")
        assert commands.named("change_availability")[-1] == (
            "change_availability", "CL", 0, True,
        )  # fmt: skip
    finally:
        await svc.stop()


async def test_stop_by_the_session_owner_is_accepted(
    access: AccessService, services: Services
) -> None:
    connector = services.live.charger("GR").connector(1)
    connector.id_tag = "C1"
    result = await access.authorize("GR", 1, "C1", AuthPurpose.STOP)
    assert (result.accepted, result.rule) == (True, "session_owner")
    other: Any = await access.authorize("GR", 1, "B1", AuthPurpose.STOP)
    assert not other.accepted
