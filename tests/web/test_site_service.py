"""SiteService beyond single requests: concurrent writes, storage failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from evsite.config.build import site_config_dict
from evsite.context import Services
from evsite.control.site_service import CHARGERS, DRIVER_GROUPS, PANELS, site_service
from evsite.errors import ConfigError, ConflictError, NotFoundError


def _charger(index: int) -> dict[str, Any]:
    return {"id": f"EV-{index}", "parent": "spare", "limit_a": 6, "phases": 3}


async def test_one_service_per_context(services: Services) -> None:
    assert site_service(services) is site_service(services)


async def test_concurrent_writes_are_serialised(services: Services) -> None:
    service = site_service(services)
    await asyncio.gather(*(service.create(CHARGERS, _charger(i)) for i in range(8)))
    ids = [c.id for c in services.site.config.chargers]
    assert ids[:2] == ["CP-1", "CP-2"]
    assert sorted(ids[2:]) == sorted(f"EV-{i}" for i in range(8))
    stored = await services.sites.load()
    assert stored is not None
    assert site_config_dict(stored) == site_config_dict(services.site.config)


async def test_concurrent_creates_of_one_id_store_it_once(services: Services) -> None:
    service = site_service(services)
    results = await asyncio.gather(
        service.create(CHARGERS, _charger(1)),
        service.create(CHARGERS, _charger(1)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    stored = await services.sites.load()
    assert stored is not None
    assert [c.id for c in stored.chargers].count("EV-1") == 1


async def test_storage_failure_keeps_the_config_in_force(
    api: TestClient[Any, Any], services: Services
) -> None:
    config, version = services.site.config, services.site.version
    await services.db.close()
    resp = await api.patch("/api/v1/chargers/CP-1", json={"alias": "x"})
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "storage_unavailable"
    assert services.site.config is config
    assert services.site.version == version
    health = await api.get("/api/v1/health")
    assert health.status == 503
    assert (await health.json())["db_ok"] is False


async def test_driver_groups_use_the_same_write_path(services: Services) -> None:
    service = site_service(services)
    await service.create(DRIVER_GROUPS, {"id": "tenants", "name": "Tenants"})
    await service.update(
        CHARGERS,
        "CP-1",
        {"scope": "groups", "driver_groups": ["tenants"]},
        partial=True,
    )
    with pytest.raises(ConflictError, match="'CP-1'"):
        await service.delete(DRIVER_GROUPS, "tenants")
    stored = await services.sites.load()
    assert stored is not None
    assert [g.id for g in stored.driver_groups] == ["tenants"]


async def test_get_unknown_raises_not_found(services: Services) -> None:
    service = site_service(services)
    with pytest.raises(NotFoundError, match="panel 'nope' not found"):
        service.get(PANELS, "nope")


async def test_energy_settings_are_validated_and_stored(services: Services) -> None:
    service = site_service(services)
    written = await service.update_energy({"deadband_a": 0.5}, partial=True)
    assert written.value.deadband_a == 0.5
    assert service.energy().min_current_a == services.site.config.energy.min_current_a
    with pytest.raises(ConfigError) as info:
        await service.update_energy({"min_current_a": "six"}, partial=True)
    assert [p.path for p in info.value.problems] == ["min_current_a"]
    stored = await services.sites.load()
    assert stored is not None
    assert stored.energy == services.site.config.energy
    assert stored.energy.deadband_a == 0.5
