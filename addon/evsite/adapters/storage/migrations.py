"""Schema migrations: ``migrations/NNNN_name.sql`` applied in order, once each.

``PRAGMA user_version`` holds the highest applied number and the
``schema_migrations`` table records every applied file, so a database is never
migrated twice and a database written by a newer evsite is refused, not damaged.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

import aiosqlite

from evsite.errors import StorageError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_PACKAGE = "evsite.adapters.storage"
# Fails the migration's transaction if it left a dangling foreign key.
_FK_GUARD = (
    "CREATE TEMP TABLE IF NOT EXISTS fk_guard (violations INTEGER"
    " CONSTRAINT foreign_keys_left_dangling CHECK (violations = 0));\n"
    "INSERT INTO temp.fk_guard SELECT count(*) FROM pragma_foreign_key_check;\n"
    "DELETE FROM temp.fk_guard;\n"
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    number: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every packaged migration, in number order.

    Raises:
        StorageError: a file is misnamed or two files share a number.
    """
    folder = resources.files(_PACKAGE).joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise StorageError(
                f"migration file '{entry.name}' must be named NNNN_name.sql"
            )
        number = int(match.group(1))
        if number == 0 or number in found:
            raise StorageError(f"migration number {number:04d} is invalid or reused")
        found[number] = Migration(number, match.group(2), entry.read_text("utf-8"))
    return [found[n] for n in sorted(found)]


async def apply_migrations(
    conn: aiosqlite.Connection, migrations: list[Migration] | None = None
) -> int:
    """Apply every migration not yet applied, each in its own transaction.

    Args:
        conn: a connection in autocommit mode (``isolation_level=None``).
        migrations: the migrations to apply; the packaged ones by default.

    Returns:
        The schema version (highest applied number) afterwards.

    Raises:
        StorageError: the database is newer than this code, or a migration failed.
    """
    known = load_migrations() if migrations is None else migrations
    latest = known[-1].number if known else 0
    version = await _scalar(conn, "PRAGMA user_version")
    if version > latest:
        raise StorageError(
            f"database schema version {version} is newer than this evsite "
            f"(it knows up to {latest}); upgrade evsite or use another data directory"
        )
    applied = await _applied(conn) if version else set()
    unknown = applied - {m.number for m in known}
    if unknown:
        raise StorageError(
            f"database has migrations {sorted(unknown)} this evsite does not know; "
            "upgrade evsite or use another data directory"
        )
    pending = [m for m in known if m.number not in applied]
    if not pending:
        return version
    # Foreign keys off while migrating, so a migration may rebuild a table
    # (sqlite.org/lang_altertable.html, "12 steps"); _FK_GUARD checks them.
    await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for migration in pending:
            # A number below user_version appears when migrations were added
            # out of order during development; apply it all the same.
            version = max(version, migration.number)
            await _apply(conn, migration, version)
    finally:
        await conn.execute("PRAGMA foreign_keys = ON")
    return version


async def _scalar(conn: aiosqlite.Connection, sql: str) -> int:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def _applied(conn: aiosqlite.Connection) -> set[int]:
    rows = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name = 'schema_migrations'"
    )
    if not list(rows):
        raise StorageError(
            "database has a schema version but no schema_migrations table; "
            "it was not created by evsite"
        )
    return {
        int(r[0])
        for r in await conn.execute_fetchall("SELECT number FROM schema_migrations")
    }


async def _apply(
    conn: aiosqlite.Connection, migration: Migration, version: int
) -> None:
    """Run one migration and record it, atomically."""
    # executescript() takes no parameters; the name matched _NAME ([a-z0-9_]).
    script = (
        "BEGIN IMMEDIATE;\n"
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));\n"
        f"{migration.sql}\n;\n"
        "INSERT INTO schema_migrations (number, name) "
        f"VALUES ({migration.number}, '{migration.name}');\n"
        f"PRAGMA user_version = {int(version)};\n"
        f"{_FK_GUARD}"
        "COMMIT;\n"
    )
    try:
        await conn.executescript(script)
    except sqlite3.Error as err:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise StorageError(
            f"migration {migration.number:04d}_{migration.name} failed: {err}"
        ) from err
