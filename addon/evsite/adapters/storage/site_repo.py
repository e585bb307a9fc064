"""The site model in SQLite: rows in, domain models out (SPEC §1).

The repository keeps the database referentially sound (parents exist, no
cycles, nothing deleted while something depends on it). Whole-site rules
(capacities, QR alias uniqueness, …) are :func:`evsite.config.validate.check_site`'s
job, run by the caller before it saves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_rows import (
    charger_params,
    config_from_rows,
    energy_params,
    group_params,
    panel_params,
    site_params,
    window_params,
)
from evsite.config.models import (
    Charger,
    DelayWindow,
    DriverGroup,
    EnergySettings,
    Panel,
    Site,
    SiteConfig,
)
from evsite.core.tree import find_cycle
from evsite.errors import ConflictError, NotFoundError

# Children before parents: the order a whole-site delete must follow.
SITE_TABLES = (
    "chargers",
    "panels",
    "driver_groups",
    "delay_windows",
    "energy_settings",
    "site",
)
_LOAD_SQL = """
SELECT kind, data FROM (
    SELECT 'site' AS kind, 0 AS position, data FROM site
    UNION ALL SELECT 'energy', 0, data FROM energy_settings
    UNION ALL SELECT 'panel', position, data FROM panels
    UNION ALL SELECT 'charger', position, data FROM chargers
    UNION ALL SELECT 'group', position, data FROM driver_groups
    UNION ALL SELECT 'window', position, data FROM delay_windows
) ORDER BY kind, position
"""
_SAVE_SITE = (
    "INSERT INTO site (singleton, id, data) VALUES (1, ?, ?) ON CONFLICT (singleton)"
    " DO UPDATE SET id = excluded.id, data = excluded.data"
)
_SAVE_ENERGY = (
    "INSERT INTO energy_settings (singleton, data) VALUES (1, ?)"
    " ON CONFLICT (singleton) DO UPDATE SET data = excluded.data"
)


def _upsert_sql(table: str, parent: bool) -> str:
    """Insert last, or update in place keeping the row's position."""
    cols = "id, parent, data" if parent else "id, data"
    marks = "?, ?, ?" if parent else "?, ?"
    update = "parent = excluded.parent, " if parent else ""
    return (
        f"INSERT INTO {table} ({cols}, position) VALUES ({marks},"
        f" (SELECT coalesce(max(position), -1) + 1 FROM {table}))"
        f" ON CONFLICT (id) DO UPDATE SET {update}data = excluded.data"
    )


def _quoted(ids: Sequence[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids)


class SiteRepository:
    """Reads and writes the site, its panels, chargers, groups and windows."""

    def __init__(self, db: Database) -> None:
        """Use ``db`` for every read and write."""
        self._db = db

    async def is_empty(self) -> bool:
        """True when no site data at all is stored."""
        counts = " + ".join(f"(SELECT count(*) FROM {t})" for t in SITE_TABLES)
        row = await self._db.fetchone(f"SELECT {counts}")
        return row is None or row[0] == 0

    async def load(self) -> SiteConfig | None:
        """The stored site (default service settings), or ``None`` if none is stored.

        Raises:
            StorageError: a stored row cannot be turned back into a model.
        """
        # One statement, so one consistent snapshot of every table.
        rows = await self._db.fetchall(_LOAD_SQL)
        return config_from_rows((r[0], r[1]) for r in rows)

    async def create(self, config: SiteConfig) -> None:
        """Write a whole site into an empty database (atomic).

        Raises:
            ConflictError: the database already holds site data.
        """
        async with self._db.transaction() as conn:
            row = await _fetchone(conn, "SELECT id FROM site")
            if row is not None:
                raise ConflictError(
                    f"database already holds site '{row[0]}'; export it or use a "
                    "fresh data directory"
                )
            if not await _tables_empty(conn):
                raise ConflictError(
                    "database already holds site data; export it or use a fresh "
                    "data directory"
                )
            await _write_all(conn, config)

    async def replace(self, config: SiteConfig) -> None:
        """Replace everything stored with ``config`` in one transaction."""
        async with self._db.transaction() as conn:
            for table in SITE_TABLES:
                await conn.execute(f"DELETE FROM {table}")
            await _write_all(conn, config)

    async def save_site(self, site: Site) -> None:
        """Create or update the site row."""
        async with self._db.transaction() as conn:
            await conn.execute(_SAVE_SITE, site_params(site))

    async def save_energy(self, energy: EnergySettings) -> None:
        """Create or update the energy settings."""
        async with self._db.transaction() as conn:
            await conn.execute(_SAVE_ENERGY, energy_params(energy))

    async def upsert_panel(self, panel: Panel) -> None:
        """Create or update a panel (its position is kept).

        Raises:
            ConflictError: the parent is unknown or the change makes a cycle.
        """
        async with self._db.transaction() as conn:
            parents = {
                r[0]: r[1]
                for r in await conn.execute_fetchall("SELECT id, parent FROM panels")
            }
            if panel.parent not in (None, panel.id, *parents):
                raise ConflictError(f"unknown panel '{panel.parent}'", path="parent")
            parents[panel.id] = panel.parent
            cycle = find_cycle(parents, panel.id)
            if cycle:
                raise ConflictError(
                    f"cycle in the tree: {' -> '.join(cycle)}", path="parent"
                )
            await conn.execute(
                _upsert_sql("panels", parent=True),
                panel_params(panel),
            )

    async def delete_panel(self, panel_id: str) -> None:
        """Delete a panel nothing hangs under.

        Raises:
            NotFoundError: no such panel.
            ConflictError: child panels or chargers still depend on it.
        """
        async with self._db.transaction() as conn:
            await _require(conn, "panels", "panel", panel_id)
            panels = await _ids(
                conn, "SELECT id FROM panels WHERE parent = ?", panel_id
            )
            chargers = await _ids(
                conn, "SELECT id FROM chargers WHERE parent = ?", panel_id
            )
            if panels or chargers:
                parts = []
                if panels:
                    parts.append(f"child panels {_quoted(panels)}")
                if chargers:
                    parts.append(f"chargers {_quoted(chargers)}")
                raise ConflictError(
                    f"panel '{panel_id}' still has {' and '.join(parts)}; "
                    "move or delete them first"
                )
            await conn.execute("DELETE FROM panels WHERE id = ?", (panel_id,))

    async def upsert_charger(self, charger: Charger) -> None:
        """Create or update a charger (its position is kept).

        Raises:
            ConflictError: its panel or one of its driver groups is unknown.
        """
        async with self._db.transaction() as conn:
            if (
                await _fetchone(
                    conn, "SELECT 1 FROM panels WHERE id = ?", (charger.parent,)
                )
                is None
            ):
                raise ConflictError(f"unknown panel '{charger.parent}'", path="parent")
            groups = set(await _ids(conn, "SELECT id FROM driver_groups"))
            for index, group in enumerate(charger.driver_groups):
                if group not in groups:
                    raise ConflictError(
                        f"unknown group '{group}'", path=f"driver_groups[{index}]"
                    )
            await conn.execute(
                _upsert_sql("chargers", parent=True),
                charger_params(charger),
            )

    async def delete_charger(self, charger_id: str) -> None:
        """Delete a charger.

        Raises:
            NotFoundError: no such charger.
        """
        await self._delete("chargers", "charger", charger_id)

    async def upsert_driver_group(self, group: DriverGroup) -> None:
        """Create or update a driver group (its position is kept)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                _upsert_sql("driver_groups", parent=False), group_params(group)
            )

    async def delete_driver_group(self, group_id: str) -> None:
        """Delete a driver group no charger uses.

        Raises:
            NotFoundError: no such group.
            ConflictError: chargers still list it.
        """
        async with self._db.transaction() as conn:
            await _require(conn, "driver_groups", "driver group", group_id)
            users = await _ids(
                conn,
                "SELECT DISTINCT c.id FROM chargers AS c,"
                " json_each(c.data, '$.driver_groups') AS g WHERE g.value = ?"
                " ORDER BY c.position",
                group_id,
            )
            if users:
                raise ConflictError(
                    f"driver group '{group_id}' is still used by chargers "
                    f"{_quoted(users)}; remove it from them first"
                )
            await conn.execute("DELETE FROM driver_groups WHERE id = ?", (group_id,))

    async def upsert_delay_window(self, window: DelayWindow) -> None:
        """Create or update a delay window (its position is kept)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                _upsert_sql("delay_windows", parent=False),
                window_params(window),
            )

    async def delete_delay_window(self, window_id: str) -> None:
        """Delete a delay window.

        Raises:
            NotFoundError: no such delay window.
        """
        await self._delete("delay_windows", "delay window", window_id)

    async def _delete(self, table: str, kind: str, entity_id: str) -> None:
        async with self._db.transaction() as conn:
            await _require(conn, table, kind, entity_id)
            await conn.execute(f"DELETE FROM {table} WHERE id = ?", (entity_id,))


async def _fetchone(
    conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()
) -> sqlite3.Row | None:
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


async def _ids(conn: aiosqlite.Connection, sql: str, *params: Any) -> list[str]:
    return [str(r[0]) for r in await conn.execute_fetchall(sql, params)]


async def _require(
    conn: aiosqlite.Connection, table: str, kind: str, entity_id: str
) -> None:
    if (
        await _fetchone(conn, f"SELECT 1 FROM {table} WHERE id = ?", (entity_id,))
        is None
    ):
        raise NotFoundError(kind, entity_id)


async def _tables_empty(conn: aiosqlite.Connection) -> bool:
    for table in SITE_TABLES:
        if await _fetchone(conn, f"SELECT 1 FROM {table} LIMIT 1") is not None:
            return False
    return True


async def _write_all(conn: aiosqlite.Connection, config: SiteConfig) -> None:
    """Insert every row of ``config`` into empty tables, positions in file order."""
    await conn.execute(_SAVE_SITE, site_params(config.site))
    await conn.execute(_SAVE_ENERGY, energy_params(config.energy))
    # Foreign keys are deferred, so file order (child before parent) is fine.
    await conn.executemany(
        "INSERT INTO panels (id, parent, data, position) VALUES (?, ?, ?, ?)",
        [(*panel_params(p), i) for i, p in enumerate(config.panels)],
    )
    await conn.executemany(
        "INSERT INTO chargers (id, parent, data, position) VALUES (?, ?, ?, ?)",
        [(*charger_params(c), i) for i, c in enumerate(config.chargers)],
    )
    await conn.executemany(
        "INSERT INTO driver_groups (id, data, position) VALUES (?, ?, ?)",
        [(*group_params(g), i) for i, g in enumerate(config.driver_groups)],
    )
    await conn.executemany(
        "INSERT INTO delay_windows (id, data, position) VALUES (?, ?, ?)",
        [(*window_params(w), i) for i, w in enumerate(config.delay_windows)],
    )
