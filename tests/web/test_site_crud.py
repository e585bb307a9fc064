"""Happy paths of the site, panel and charger routes, checked against the database."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from evsite.config.build import site_config_dict
from evsite.context import Services
from evsite.control.events import EventKind
from evsite.control.live import ChargerLink, ConnectorStatus

NEW_PANEL = {
    "id": "carport",
    "name": "Carport",
    "parent": "main",
    "breaker_a": 40,
    "phases": 3,
    "voltage": 400,
}
NEW_CHARGER = {"id": "CP-3", "parent": "spare", "limit_a": 16, "phases": 3}


async def assert_stored(services: Services) -> None:
    """The database holds exactly the site in force."""
    stored = await services.sites.load()
    assert stored is not None
    assert site_config_dict(stored) == site_config_dict(services.site.config)


async def test_get_site(api: TestClient[Any, Any]) -> None:
    resp = await api.get("/api/v1/site")
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == "test-site"
    assert body["main_service"] == {"voltage": 400, "phases": 3, "main_breaker_a": 100}
    assert body["currency"] == "USD" or len(body["currency"]) == 3


async def test_patch_site_changes_only_given_fields(
    api: TestClient[Any, Any], services: Services
) -> None:
    events = services.bus.subscribe()
    version = services.site.version
    resp = await api.patch("/api/v1/site", json={"name": "Renamed", "currency": "EUR"})
    assert resp.status == 200
    body = await resp.json()
    assert body["name"] == "Renamed"
    assert body["currency"] == "EUR"
    assert body["timezone"] == "Europe/Berlin"
    assert body["warnings"] == []
    assert services.site.config.site.name == "Renamed"
    assert services.site.version == version + 1
    event = events.get_nowait()
    assert event is not None
    assert event.kind is EventKind.CONFIG_CHANGED
    await assert_stored(services)


async def test_put_site_replaces_fields(
    api: TestClient[Any, Any], services: Services
) -> None:
    await api.patch("/api/v1/site", json={"just_charge_allowed": True})
    site = {
        "id": "test-site",
        "name": "Replaced",
        "timezone": "UTC",
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 125},
    }
    resp = await api.put("/api/v1/site", json=site)
    assert resp.status == 200
    body = await resp.json()
    assert body["main_service"]["main_breaker_a"] == 125
    assert body["just_charge_allowed"] is False  # PUT: omitted fields take defaults
    await assert_stored(services)


async def test_panel_crud(api: TestClient[Any, Any], services: Services) -> None:
    resp = await api.get("/api/v1/panels")
    assert [p["id"] for p in await resp.json()] == ["main", "garage", "spare"]

    resp = await api.post("/api/v1/panels", json=NEW_PANEL)
    assert resp.status == 201
    assert resp.headers["Location"] == "/api/v1/panels/carport"
    created = await resp.json()
    assert created["continuous_factor"] == 0.8
    assert created["warnings"] == []
    await assert_stored(services)

    got = await (await api.get("/api/v1/panels/carport")).json()
    assert got == {k: v for k, v in created.items() if k != "warnings"}

    resp = await api.patch("/api/v1/panels/carport", json={"breaker_a": 32})
    assert (await resp.json())["breaker_a"] == 32
    assert (await resp.json())["name"] == "Carport"

    body = {**NEW_PANEL, "name": "", "breaker_a": 25}
    del body["id"]  # the id comes from the path
    resp = await api.put("/api/v1/panels/carport", json=body)
    assert resp.status == 200
    assert (await resp.json())["name"] == "carport"  # an empty name is the id
    await assert_stored(services)

    resp = await api.delete("/api/v1/panels/carport")
    assert resp.status == 204
    assert (await api.get("/api/v1/panels/carport")).status == 404
    assert services.site.config.panel("carport") is None
    await assert_stored(services)


async def test_panel_breaker_above_parent_is_a_warning(
    api: TestClient[Any, Any],
) -> None:
    resp = await api.patch("/api/v1/panels/spare", json={"breaker_a": 125})
    assert resp.status == 200
    warnings = (await resp.json())["warnings"]
    assert warnings
    assert all(not w["path"].startswith("panels[") for w in warnings)


async def test_charger_crud(api: TestClient[Any, Any], services: Services) -> None:
    resp = await api.post("/api/v1/chargers", json=NEW_CHARGER)
    assert resp.status == 201
    assert resp.headers["Location"] == "/api/v1/chargers/CP-3"
    created = await resp.json()
    assert created["connectors"] == [{"id": 1, "payment_terminal": None}]
    assert created["live"] is None
    assert created["has_password"] is False
    assert "password_hash" not in created
    await assert_stored(services)

    resp = await api.get("/api/v1/chargers")
    assert [c["id"] for c in await resp.json()] == ["CP-1", "CP-2", "CP-3"]

    resp = await api.patch("/api/v1/chargers/CP-3", json={"alias": "Bay 3"})
    patched = await resp.json()
    assert patched["alias"] == "Bay 3"
    assert patched["limit_a"] == 16

    # GET, edit, PUT back: read-only fields in the body are ignored.
    patched["limit_a"] = 20
    resp = await api.put("/api/v1/chargers/CP-3", json=patched)
    assert resp.status == 200
    assert (await resp.json())["limit_a"] == 20
    await assert_stored(services)

    assert (await api.delete("/api/v1/chargers/CP-3")).status == 204
    assert (await api.get("/api/v1/chargers/CP-3")).status == 404
    await assert_stored(services)


async def test_put_keeps_password_hash_unless_sent(
    api: TestClient[Any, Any], services: Services
) -> None:
    resp = await api.patch("/api/v1/chargers/CP-1", json={"password_hash": "pbkdf2$x"})
    assert (await resp.json())["has_password"] is True
    body = {"parent": "garage", "limit_a": 25, "phases": 3}
    resp = await api.put("/api/v1/chargers/CP-1", json=body)
    assert resp.status == 200
    charger = services.site.config.charger("CP-1")
    assert charger is not None
    assert charger.password_hash == "pbkdf2$x"
    assert charger.limit_a == 25


async def test_get_charger_includes_live_state(
    api: TestClient[Any, Any], services: Services
) -> None:
    state = services.live.charger("CP-2")
    state.link = ChargerLink.CONNECTED
    state.connector(2).status = ConnectorStatus.CHARGING
    body = await (await api.get("/api/v1/chargers/CP-2")).json()
    assert body["live"]["link"] == "connected"
    assert [c["status"] for c in body["live"]["connectors"]] == ["charging"]
    listed = await (await api.get("/api/v1/chargers")).json()
    assert listed[1]["live"]["link"] == "connected"
    assert listed[0]["live"] is None
