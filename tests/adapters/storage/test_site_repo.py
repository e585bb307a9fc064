from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.load import LoadedSite
from evsite.config.models import (
    Charger,
    DelayWindow,
    DriverGroup,
    EnergySettings,
    Panel,
    Scope,
    ServiceSettings,
    SiteConfig,
    TimeWindow,
)
from evsite.errors import ConflictError, NotFoundError, StorageError

Contents = Callable[[Database], Any]


async def _stored(repo: SiteRepository) -> SiteConfig:
    config = await repo.load()
    assert config is not None
    return config


async def test_empty_database(db: Database) -> None:
    repo = SiteRepository(db)
    assert await repo.is_empty()
    assert await repo.load() is None


async def test_replace_then_load_gives_equal_models(
    db: Database, rich: LoadedSite
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    assert not await repo.is_empty()
    stored = await _stored(repo)
    # Service settings are not site data: the stored site carries defaults.
    assert stored == dataclasses.replace(rich.config, service=ServiceSettings())
    assert [p.id for p in stored.panels] == ["on", "12:30", "main"]  # file order


async def test_create_refuses_a_non_empty_database(
    db: Database, rich: LoadedSite, small: LoadedSite, contents: Contents
) -> None:
    repo = SiteRepository(db)
    await repo.create(rich.config)
    before = await contents(db)
    with pytest.raises(ConflictError, match="already holds site 'garage-1'"):
        await repo.create(small.config)
    assert await contents(db) == before


async def test_create_refuses_partial_data_without_a_site_row(
    db: Database, small: LoadedSite
) -> None:
    repo = SiteRepository(db)
    await repo.upsert_panel(small.config.panels[0])
    with pytest.raises(ConflictError, match="already holds site data"):
        await repo.create(small.config)


async def test_failed_replace_leaves_the_old_site(
    db: Database, rich: LoadedSite, small: LoadedSite, contents: Contents
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    before = await contents(db)
    orphan = dataclasses.replace(small.config.chargers[0], parent="nowhere")
    broken = dataclasses.replace(small.config, chargers=(orphan,))
    with pytest.raises(StorageError, match="FOREIGN KEY"):
        await repo.replace(broken)
    assert await contents(db) == before


async def test_site_and_energy_are_saved(db: Database, small: LoadedSite) -> None:
    repo = SiteRepository(db)
    await repo.replace(small.config)
    site = dataclasses.replace(
        small.config.site, name="Renamed", just_charge_allowed=True
    )
    energy = EnergySettings(min_current_a=8, offline_allocation_a=6)
    await repo.save_site(site)
    await repo.save_energy(energy)
    stored = await _stored(repo)
    assert stored.site == site
    assert stored.energy == energy
    assert stored.panels == small.config.panels


async def test_upserts_keep_position_and_append_new_rows(
    db: Database, rich: LoadedSite
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    changed = dataclasses.replace(rich.config.panels[0], name="Renamed", breaker_a=25)
    await repo.upsert_panel(changed)
    added = Panel("new", "New", breaker_a=20, phases=3, voltage=400, parent="main")
    await repo.upsert_panel(added)
    charger = dataclasses.replace(rich.config.chargers[1], alias="Moved", parent="main")
    await repo.upsert_charger(charger)
    new_charger = Charger("late", parent="new", limit_a=16, phases=3)
    await repo.upsert_charger(new_charger)
    stored = await _stored(repo)
    assert stored.panels == (changed, *rich.config.panels[1:], added)
    assert stored.chargers == (
        rich.config.chargers[0],
        charger,
        rich.config.chargers[2],
        new_charger,
    )


async def test_delete_panel_with_dependents_is_a_conflict_and_changes_nothing(
    db: Database, rich: LoadedSite, contents: Contents
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    before = await contents(db)
    with pytest.raises(ConflictError) as info:
        await repo.delete_panel("12:30")
    message = str(info.value)
    assert "child panels 'on'" in message
    assert "chargers '1e3'" in message
    with pytest.raises(ConflictError, match=r"panel 'on' still has chargers '007'"):
        await repo.delete_panel("on")
    assert await contents(db) == before


async def test_delete_panel_and_charger(db: Database, rich: LoadedSite) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    await repo.delete_charger("007")
    await repo.delete_panel("on")
    stored = await _stored(repo)
    assert [p.id for p in stored.panels] == ["12:30", "main"]
    assert [c.id for c in stored.chargers] == ["1e3", "yes"]
    with pytest.raises(NotFoundError, match="panel 'on' not found"):
        await repo.delete_panel("on")
    with pytest.raises(NotFoundError, match="charger '007' not found"):
        await repo.delete_charger("007")


async def test_upsert_refuses_unknown_references_and_cycles(
    db: Database, rich: LoadedSite, contents: Contents
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    before = await contents(db)
    main = rich.config.panel("main")
    assert main is not None
    with pytest.raises(ConflictError, match="cycle in the tree: main -> 12:30 -> main"):
        await repo.upsert_panel(dataclasses.replace(main, parent="12:30"))
    with pytest.raises(ConflictError, match="cycle"):
        await repo.upsert_panel(dataclasses.replace(main, parent="main"))
    with pytest.raises(ConflictError, match="unknown panel 'ghost'") as info:
        await repo.upsert_panel(dataclasses.replace(main, id="x", parent="ghost"))
    assert info.value.path == "parent"
    with pytest.raises(ConflictError, match="unknown panel 'ghost'"):
        await repo.upsert_charger(Charger("c", parent="ghost", limit_a=16))
    with pytest.raises(ConflictError, match="unknown group 'staff'") as info:
        await repo.upsert_charger(
            Charger(
                "c",
                parent="main",
                limit_a=16,
                scope=Scope.GROUPS,
                driver_groups=("tenants", "staff"),
            )
        )
    assert info.value.path == "driver_groups[1]"
    assert await contents(db) == before


async def test_driver_groups(
    db: Database, rich: LoadedSite, contents: Contents
) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    before = await contents(db)
    with pytest.raises(
        ConflictError, match="'tenants' is still used by chargers '007'"
    ):
        await repo.delete_driver_group("tenants")
    assert await contents(db) == before
    renamed = DriverGroup("tenants", "All tenants", "renamed")
    await repo.upsert_driver_group(renamed)
    await repo.upsert_driver_group(DriverGroup("staff", "Staff"))
    await repo.upsert_charger(
        dataclasses.replace(rich.config.chargers[0], driver_groups=("staff",))
    )
    await repo.delete_driver_group("tenants")
    stored = await _stored(repo)
    assert stored.driver_groups == (
        rich.config.driver_groups[1],
        DriverGroup("staff", "Staff"),
    )
    with pytest.raises(NotFoundError, match="driver group 'tenants' not found"):
        await repo.delete_driver_group("tenants")


async def test_delay_windows(db: Database, rich: LoadedSite) -> None:
    repo = SiteRepository(db)
    await repo.replace(rich.config)
    night = rich.config.delay_windows[0]
    changed = dataclasses.replace(
        night, name="Night", scopes=(Scope.PUBLIC, Scope.OPEN)
    )
    extra = DelayWindow("peak", TimeWindow(night.window.end, night.window.start))
    await repo.upsert_delay_window(extra)
    await repo.upsert_delay_window(changed)
    assert (await _stored(repo)).delay_windows == (changed, extra)
    await repo.delete_delay_window("night")
    assert (await _stored(repo)).delay_windows == (extra,)
    with pytest.raises(NotFoundError, match="delay window 'night' not found"):
        await repo.delete_delay_window("night")


async def test_unreadable_row_is_a_storage_error(
    db: Database, small: LoadedSite
) -> None:
    repo = SiteRepository(db)
    await repo.replace(small.config)
    async with db.transaction() as conn:
        await conn.execute("UPDATE energy_settings SET data = '{\"bogus\": 1}'")
    with pytest.raises(StorageError, match="unreadable"):
        await repo.load()
