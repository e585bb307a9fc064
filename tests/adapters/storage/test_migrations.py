from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.migrations import (
    Migration,
    apply_migrations,
    load_migrations,
)
from evsite.errors import StorageError


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def _pragma(db: Database, name: str) -> Any:
    row = await db.fetchone(f"PRAGMA {name}")
    assert row is not None
    return row[0]


def test_packaged_migrations_are_found_in_order() -> None:
    migrations = load_migrations()
    numbers = [m.number for m in migrations]
    assert numbers[0] == 1
    assert migrations[0].name == "site"
    assert numbers == sorted(set(numbers))
    assert "CREATE TABLE panels" in migrations[0].sql


async def test_open_applies_migrations_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "evsite.db"
    db = await Database.open(path)
    try:
        latest = load_migrations()[-1].number
        assert await _pragma(db, "user_version") == latest
        applied = [
            r[0] for r in await db.fetchall("SELECT number FROM schema_migrations")
        ]
        assert applied == [m.number for m in load_migrations()]
        assert await _pragma(db, "journal_mode") == "wal"
        assert await _pragma(db, "synchronous") == 2  # FULL
        assert await _pragma(db, "foreign_keys") == 1
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert {
            "site",
            "panels",
            "chargers",
            "driver_groups",
            "delay_windows",
        } <= tables
    finally:
        await db.close()


async def test_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    db = await Database.open(path)
    first = [tuple(r) for r in await db.fetchall("SELECT * FROM schema_migrations")]
    schema = [tuple(r) for r in await db.fetchall("SELECT sql FROM sqlite_master")]
    await db.close()
    for _ in range(2):
        db = await Database.open(path)
        try:
            again = [
                tuple(r) for r in await db.fetchall("SELECT * FROM schema_migrations")
            ]
            assert again == first
            assert [
                tuple(r) for r in await db.fetchall("SELECT sql FROM sqlite_master")
            ] == schema
        finally:
            await db.close()


async def test_database_newer_than_code_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    await (await Database.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 9999")
    with pytest.raises(
        StorageError, match="schema version 9999 is newer than this evsite"
    ):
        await Database.open(path)
    assert _user_version(path) == 9999


async def test_unknown_applied_migration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await apply_migrations(conn, [Migration(1, "a", "CREATE TABLE a (x)")])
        await apply_migrations(
            conn, [Migration(1, "a", ""), Migration(2, "b", "CREATE TABLE b (x)")]
        )
        with pytest.raises(
            StorageError, match=r"migrations \[2\] this evsite does not"
        ):
            await apply_migrations(
                conn, [Migration(1, "a", ""), Migration(3, "c", "CREATE TABLE c (x)")]
            )


async def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(StorageError, match="not created by evsite"):
        await Database.open(path)


async def test_failed_migration_rolls_back_completely(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    good = Migration(1, "good", "CREATE TABLE good (x INTEGER)")
    bad = Migration(
        2, "bad", "CREATE TABLE half (x INTEGER);\nINSERT INTO nowhere VALUES (1)"
    )
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        with pytest.raises(
            StorageError, match="migration 0002_bad failed: no such table"
        ):
            await apply_migrations(conn, [good, bad])
        assert not conn.in_transaction
        names = {
            r[0] for r in await conn.execute_fetchall("SELECT name FROM sqlite_master")
        }
        assert "good" in names
        assert "half" not in names
        rows = await conn.execute_fetchall("SELECT number FROM schema_migrations")
        assert [r[0] for r in rows] == [1]
    assert _user_version(path) == 1


async def test_later_migrations_are_picked_up_and_late_numbers_applied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evsite.db"
    one = Migration(1, "one", "CREATE TABLE one (x)")
    two = Migration(2, "two", "CREATE TABLE two (x)")
    three = Migration(3, "three", "CREATE TABLE three (x)")
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        assert await apply_migrations(conn, [one]) == 1
        assert await apply_migrations(conn, [one, three]) == 3
        # 0002 arrived after 0003 was applied (parallel development): applied once.
        assert await apply_migrations(conn, [one, two, three]) == 3
        assert await apply_migrations(conn, [one, two, three]) == 3
        rows = await conn.execute_fetchall("SELECT number FROM schema_migrations")
        assert sorted(r[0] for r in rows) == [1, 2, 3]
    assert _user_version(path) == 3


async def test_open_of_unwritable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot open database"):
        await Database.open(blocker / "evsite.db")


async def test_open_of_a_non_database_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="cannot open database"):
        await Database.open(path)


async def test_migration_may_rebuild_tables_but_not_leave_dangling_keys(
    tmp_path: Path,
) -> None:
    path = tmp_path / "evsite.db"
    base = Migration(
        1,
        "base",
        "CREATE TABLE parent (id TEXT PRIMARY KEY);\n"
        "CREATE TABLE child (id TEXT, parent TEXT REFERENCES parent (id));\n"
        "INSERT INTO parent VALUES ('p');\nINSERT INTO child VALUES ('c', 'p');",
    )
    # The "12 steps" table rebuild: only possible with foreign keys off.
    rebuild = Migration(
        2,
        "rebuild",
        "CREATE TABLE parent_new (id TEXT PRIMARY KEY, name TEXT DEFAULT '');\n"
        "INSERT INTO parent_new (id) SELECT id FROM parent;\n"
        "DROP TABLE parent;\nALTER TABLE parent_new RENAME TO parent;",
    )
    dangling = Migration(3, "dangling", "DELETE FROM parent;")
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        assert await apply_migrations(conn, [base, rebuild]) == 2
        with pytest.raises(
            StorageError, match="0003_dangling failed: CHECK constraint"
        ):
            await apply_migrations(conn, [base, rebuild, dangling])
        assert [
            tuple(r) for r in await conn.execute_fetchall("SELECT * FROM parent")
        ] == [("p", "")]
        fk = await conn.execute_fetchall("PRAGMA foreign_keys")
        assert [r[0] for r in fk] == [1]
    assert _user_version(path) == 2
