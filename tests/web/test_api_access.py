"""REST API of access control and waitlists: the real app over a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evsite.context import Services
from evsite.control.access_wiring import AccessSubsystem, start_access
from evsite.control.ports import AuthPurpose
from evsite.web import api_access
from evsite.web.api import create_app
from tests.control.access_support import make_services

Client = TestClient[Any, Any]
AiohttpClient = Callable[..., Awaitable[Client]]
ACCESS_TABLES = (
    "drivers",
    "rfid_tags",
    "group_members",
    "access_policies",
    "charger_access",
    "private_links",
    "waitlist_policies",
)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    services = await make_services(tmp_path)
    services.token = "secret-admin-token"
    yield services
    await services.db.close()


@pytest.fixture
async def subsystem(services: Services) -> AsyncIterator[AccessSubsystem]:
    found = await start_access(services, None, tick_s=None)
    yield found
    await found.stop()


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient, services: Services, subsystem: AccessSubsystem
) -> Client:
    app: web.Application = create_app(services, [api_access.register])
    return await aiohttp_client(
        app, headers={"Authorization": "Bearer secret-admin-token"}
    )


async def rows(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    return {
        t: [tuple(r) for r in await services.db.fetchall(f"SELECT * FROM {t}")]
        for t in ACCESS_TABLES
    }


async def refused(
    api: Client, method: str, path: str, body: Any
) -> tuple[int, list[str]]:
    response = await api.request(method, path, json=body)
    data = await response.json()
    return response.status, [p["path"] for p in data["error"].get("problems", [])]


async def seed(api: Client) -> None:
    body: dict[str, Any]
    for body in (
        {"id": "alice", "name": "Alice", "email": "alice@example.org"},
        {"id": "bob", "name": "Bob", "account_member": False},
    ):
        assert (await api.post("/api/v1/drivers", json=body)).status == 201
    for body in (
        {"id_tag": "A1", "owner": {"kind": "driver", "id": "alice"}},
        {"id_tag": "B1", "owner": {"kind": "driver", "id": "bob"}},
    ):
        assert (await api.post("/api/v1/tags", json=body)).status == 201


async def test_drivers_and_tags_crud(api: Client) -> None:
    await seed(api)
    drivers = await (await api.get("/api/v1/drivers")).json()
    assert [d["id"] for d in drivers] == ["alice", "bob"]
    put = await api.put(
        "/api/v1/drivers/bob", json={"name": "Robert", "phone": "+49 30 1"}
    )
    assert (put.status, (await put.json())["name"]) == (200, "Robert")
    tag = await (await api.get("/api/v1/tags/A1")).json()
    assert tag["owner"] == {"kind": "driver", "id": "alice"}
    assert (await api.get("/api/v1/tags/NOPE")).status == 404
    assert (
        await api.post("/api/v1/drivers", json={"id": "bob", "name": "B"})
    ).status == 409
    assert (await api.delete("/api/v1/drivers/bob")).status == 409  # owns B1
    assert (await api.delete("/api/v1/tags/B1")).status == 204
    assert (await api.delete("/api/v1/drivers/bob")).status == 204


async def test_bad_input_names_the_field_and_changes_nothing(
    api: Client, services: Services
) -> None:
    await seed(api)
    before = await rows(services)
    cases = [
        (
            "POST",
            "/api/v1/drivers",
            {"id": "c", "name": "C", "email": "nope"},
            400,
            ["email"],
        ),
        ("POST", "/api/v1/drivers", {"id": "c d", "name": "C"}, 400, ["id"]),
        ("PUT", "/api/v1/drivers/alice", {"id": "eve", "name": "E"}, 400, ["id"]),
        ("POST", "/api/v1/tags", {"id_tag": "T", "status": "lost"}, 400, ["status"]),
        (
            "POST",
            "/api/v1/tags",
            {"id_tag": "T", "expiry": "2027-01-01T00:00"},
            400,
            ["expiry"],
        ),
        (
            "POST",
            "/api/v1/tags",
            {"id_tag": "T", "owner": {"kind": "driver", "id": "x"}},
            409,
            ["owner.id"],
        ),
        ("POST", "/api/v1/tags", {"id_tag": "T", "parent": "T"}, 400, ["parent"]),
        (
            "POST",
            "/api/v1/access-policies",
            {
                "id": "p",
                "name": "p",
                "rules": [{"group": "tenants", "hours": "windows"}],
            },
            400,
            ["rules[0].windows"],
        ),
        (
            "POST",
            "/api/v1/access-policies",
            {
                "id": "p",
                "name": "p",
                "rules": [{"group": "ghosts", "hours": "anytime"}],
            },
            400,
            ["rules[0].group"],
        ),
        (
            "PUT",
            "/api/v1/chargers/AC/access",
            {"usable_by": "nope"},
            409,
            ["usable_by"],
        ),
        (
            "PUT",
            "/api/v1/groups/tenants/members",
            {"members": [{"kind": "pet", "id": "x"}]},
            400,
            ["members[0].kind"],
        ),
        (
            "PUT",
            "/api/v1/groups/tenants/members",
            {
                "members": [
                    {"kind": "driver", "id": "bob"},
                    {"kind": "driver", "id": "bob"},
                ]
            },
            400,
            ["members[1]"],
        ),
        (
            "POST",
            "/api/v1/waitlist-policies",
            {"id": "w", "name": "w", "hold_minutes": 0},
            400,
            ["hold_minutes"],
        ),
        (
            "POST",
            "/api/v1/waitlists/join",
            {"driver_id": "alice", "charger_id": "WL", "station_group": "lobby"},
            400,
            ["station_group"],
        ),
        ("POST", "/api/v1/waitlists/join", {"driver_id": "alice"}, 400, ["charger_id"]),
    ]
    for method, path, body, status, paths in cases:
        assert await refused(api, method, path, body) == (status, paths), (path, body)
    assert await rows(services) == before
    assert (
        await api.put("/api/v1/groups/ghosts/members", json={"members": []})
    ).status == 404


async def test_groups_policies_and_links(
    api: Client, subsystem: AccessSubsystem
) -> None:
    await seed(api)
    members = {"members": [{"kind": "driver", "id": "alice"}]}
    assert (await api.put("/api/v1/groups/tenants/members", json=members)).status == 200
    extra = await api.post(
        "/api/v1/groups/tenants/members", json={"kind": "vehicle", "id": "van"}
    )
    assert extra.status == 201
    listed = await (await api.get("/api/v1/groups/tenants/members")).json()
    assert listed == [
        {"kind": "driver", "id": "alice"},
        {"kind": "vehicle", "id": "van"},
    ]
    policy = {
        "id": "tenants",
        "name": "Tenants only",
        "rules": [
            {"group": "tenants", "hours": "anytime"},
            {"group": "*", "hours": "never"},
        ],
    }
    assert (await api.post("/api/v1/access-policies", json=policy)).status == 201
    applied = await api.put("/api/v1/chargers/PU/access", json={"usable_by": "tenants"})
    assert (await applied.json())["usable_by"] == "tenants"
    assert (await api.delete("/api/v1/access-policies/tenants")).status == 409
    access = subsystem.access
    assert (await access.authorize("PU", 1, "A1", AuthPurpose.AUTHORIZE)).accepted
    assert not (await access.authorize("PU", 1, "B1", AuthPurpose.AUTHORIZE)).accepted

    link = await api.put("/api/v1/chargers/PR/link", json={"driver_id": "alice"})
    assert (link.status, (await link.json())["driver_id"]) == (200, "alice")
    second = await api.put("/api/v1/chargers/PR/link", json={"driver_id": "bob"})
    assert second.status == 409
    assert "exactly one driver" in (await second.json())["error"]["message"]
    assert [x["driver_id"] for x in await (await api.get("/api/v1/links")).json()] == [
        "alice"
    ]


async def test_auth_log_lists_every_decision(
    api: Client, subsystem: AccessSubsystem
) -> None:
    await seed(api)
    access = subsystem.access
    await access.authorize("AC", 1, "A1", AuthPurpose.AUTHORIZE)
    await access.authorize("AC", 1, "B1", AuthPurpose.AUTHORIZE)
    await access.authorize("PU", 2, "ZZZ", AuthPurpose.START)
    log = await (await api.get("/api/v1/auth-log")).json()
    assert [(r["charger_id"], r["id_tag"], r["status"], r["rule"]) for r in log] == [
        ("PU", "ZZZ", "Invalid", "unknown_tag"),
        ("AC", "B1", "Invalid", "not_account_member"),
        ("AC", "A1", "Accepted", "scope_account"),
    ]
    only = await (await api.get("/api/v1/auth-log?charger_id=AC&limit=1")).json()
    assert [r["id_tag"] for r in only] == ["B1"]
    older = await (await api.get(f"/api/v1/auth-log?before={only[0]['id']}")).json()
    assert [r["id_tag"] for r in older] == ["A1"]
    assert await refused(api, "GET", "/api/v1/auth-log?limit=0", None) == (
        400,
        ["limit"],
    )


async def test_waitlist_routes(api: Client) -> None:
    await seed(api)
    policy = {"id": "garage", "name": "Garage", "max_charging_minutes": 240}
    assert (await api.post("/api/v1/waitlist-policies", json=policy)).status == 201
    assign = {
        "target_kind": "station_group",
        "target_id": "lobby",
        "policy_id": "garage",
    }
    assert (await api.put("/api/v1/waitlist-assignments", json=assign)).status == 200
    bad = {"target_kind": "charger", "target_id": "NOPE", "policy_id": "garage"}
    assert await refused(api, "PUT", "/api/v1/waitlist-assignments", bad) == (
        400,
        ["target_id"],
    )
    joined = await api.post(
        "/api/v1/waitlists/join", json={"driver_id": "alice", "charger_id": "WL"}
    )
    assert (joined.status, (await joined.json())["position"]) == (201, 1)
    again = await api.post(
        "/api/v1/waitlists/join", json={"driver_id": "alice", "station_group": "lobby"}
    )
    assert again.status == 409
    view = await (await api.get("/api/v1/chargers/WL/waitlist")).json()
    assert (view["queue_id"], view["waiting"]) == ("group:lobby", 1)
    assert (await api.get("/api/v1/chargers/AC/waitlist")).status == 404
    assert (await api.get("/api/v1/waitlists/drivers/alice")).status == 200
    assert (await api.delete("/api/v1/waitlists/drivers/alice")).status == 204
    log = await (await api.get("/api/v1/waitlists/driver-log?driver_id=alice")).json()
    assert [r["action"] for r in log] == ["left", "joined"]
    events = await (
        await api.get("/api/v1/waitlists/event-log?queue_id=group:lobby")
    ).json()
    assert len(events) == 2


async def test_routes_are_in_the_openapi_document(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/auth-log",
        "/api/v1/drivers/{driver_id}",
        "/api/v1/waitlists/join",
        "/api/v1/chargers/{charger_id}/link",
    ):
        assert path in document["paths"]


async def test_viewer_cannot_write(
    aiohttp_client: AiohttpClient, services: Services, subsystem: AccessSubsystem
) -> None:
    from evsite.web.auth import Authenticator, Principal, Role

    auth = Authenticator()
    auth.add_token("viewer-token", Principal("viewer", Role.VIEWER))
    app = create_app(services, [api_access.register], authenticator=auth)
    client = await aiohttp_client(app, headers={"Authorization": "Bearer viewer-token"})
    assert (await client.get("/api/v1/drivers")).status == 200
    assert (
        await client.post("/api/v1/drivers", json={"id": "x", "name": "X"})
    ).status == 403
