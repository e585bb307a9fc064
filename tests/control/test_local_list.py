"""Local authorization list sync: full, differential, versions, reconnects, hours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evsite.config.access_schema import DRIVER, POLICY, TAG
from evsite.config.load import normalize
from evsite.context import Services
from evsite.control import access_admin as admin
from evsite.control.access_service import AccessService
from evsite.control.events import Event, EventKind
from evsite.control.local_list import LocalListSync
from evsite.control.ports import AuthPurpose
from tests.control.access_support import FakeCommands, make_services


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    services = await make_services(tmp_path)
    yield services
    await services.db.close()


@pytest.fixture
def commands() -> FakeCommands:
    return FakeCommands(connected={"GR", "AC"})


@pytest.fixture
async def access(services: Services) -> AsyncIterator[AccessService]:
    svc = AccessService(services)
    await svc.start()
    for driver in ("alice", "dora"):
        await admin.save_driver(
            svc, normalize(DRIVER, {"id": driver, "name": driver}), create=True
        )
        owner = {"kind": "driver", "id": driver}
        await admin.save_tag(
            svc, normalize(TAG, {"id_tag": driver.upper(), "owner": owner}), create=True
        )
    await admin.set_members(
        svc, "tenants", {"members": [{"kind": "driver", "id": "alice"}]}
    )
    await admin.set_members(
        svc, "staff", {"members": [{"kind": "driver", "id": "dora"}]}
    )
    yield svc
    await svc.stop()


@pytest.fixture
async def sync(
    services: Services, access: AccessService, commands: FakeCommands
) -> AsyncIterator[LocalListSync]:
    sync = LocalListSync(services, access, commands)
    yield sync
    await sync.stop()


def sent(commands: FakeCommands, charger: str) -> list[tuple[int, list[str], bool]]:
    return [
        (c[2], c[3], c[4]) for c in commands.named("send_local_list") if c[1] == charger
    ]


async def test_first_sync_is_full_and_holds_exactly_the_allowed_tags(
    sync: LocalListSync, commands: FakeCommands
) -> None:
    assert await sync.sync("GR") == "full"
    assert await sync.sync("AC") == "full"
    assert sent(commands, "GR") == [(1, ["ALICE"], True)]  # groups: tenants only
    assert sent(commands, "AC") == [(1, ["ALICE", "DORA"], True)]  # account members
    assert await sync.sync("GR") == "unchanged"
    assert await sync.sync("PU") == "offline"


async def test_additions_go_differential_removals_full(
    sync: LocalListSync, access: AccessService, commands: FakeCommands
) -> None:
    await sync.sync("AC")
    owner = {"kind": "driver", "id": "dora"}
    await admin.save_tag(
        access, normalize(TAG, {"id_tag": "D2", "owner": owner}), create=True
    )
    assert await sync.sync("AC") == "differential"
    assert sent(commands, "AC")[-1] == (2, ["D2"], False)
    blocked = {"id_tag": "D2", "status": "blocked", "owner": owner}
    await admin.save_tag(access, normalize(TAG, blocked), create=False)
    assert await sync.sync("AC") == "full"
    assert sent(commands, "AC")[-1] == (3, ["ALICE", "DORA"], True)
    assert sorted(commands.lists["AC"]) == ["ALICE", "DORA"]


async def test_hour_limited_tags_stay_off_the_list(
    sync: LocalListSync, access: AccessService, commands: FakeCommands
) -> None:
    policy = {
        "id": "mixed",
        "name": "Tenants by day, staff anytime",
        "rules": [
            {"group": "tenants", "hours": "windows",
             "windows": [{"start": "08:00", "end": "18:00"}]},
            {"group": "staff", "hours": "anytime"},
        ],
    }  # fmt: skip
    await admin.save_policy(access, normalize(POLICY, policy), create=True)
    await admin.set_charger_access(
        access, "AC", {"usable_by": "mixed", "visible_to": None}
    )
    await sync.sync("AC")
    assert sorted(commands.lists["AC"]) == ["DORA"]
    # Online, inside the window, alice is still accepted.
    online = await access.authorize("AC", 1, "ALICE", AuthPurpose.AUTHORIZE)
    assert (online.accepted, online.rule) == (True, "policy:mixed")


async def test_reconnect_compares_versions(
    sync: LocalListSync, commands: FakeCommands
) -> None:
    await sync.sync("GR")
    assert await sync.sync("GR", reconnected=True) == "unchanged"
    commands.versions["GR"] = 0  # the charger was reset and lost its list
    assert await sync.sync("GR", reconnected=True) == "full"
    assert sent(commands, "GR")[-1] == (2, ["ALICE"], True)


async def test_version_mismatch_on_differential_is_retried_full(
    sync: LocalListSync, access: AccessService, commands: FakeCommands
) -> None:
    await sync.sync("AC")
    owner = {"kind": "driver", "id": "alice"}
    await admin.save_tag(
        access, normalize(TAG, {"id_tag": "A2", "owner": owner}), create=True
    )
    commands.list_answer = "VersionMismatch"
    assert await sync.sync("AC") == "full"
    assert [s[2] for s in sent(commands, "AC")] == [True, False, True]
    assert sorted(commands.lists["AC"]) == ["A2", "ALICE", "DORA"]


async def test_unsupported_chargers_get_nothing(
    sync: LocalListSync, commands: FakeCommands
) -> None:
    commands.features = set()
    assert await sync.sync("GR") == "unsupported"
    assert commands.named("send_local_list") == []


async def test_running_task_resyncs_after_a_reconnect_event(
    sync: LocalListSync, services: Services, commands: FakeCommands
) -> None:
    await sync.start()
    await sync.settled()
    assert len(sent(commands, "GR")) == 1
    commands.versions["GR"] = 7  # someone else's list
    services.bus.publish(Event(EventKind.CHARGER_CONNECTED, services.clock.now(), "GR"))
    await sync.settled()
    assert sent(commands, "GR")[-1] == (2, ["ALICE"], True)
