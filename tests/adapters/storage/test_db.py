from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evsite.adapters.storage.db import Database, multi_row
from evsite.errors import NotFoundError, StorageError

INSERT = "INSERT INTO probe (n, tag) VALUES (?, ?)"


@pytest.fixture
async def pdb(db: Database) -> Database:
    """The database with a probe table (no UNIQUE on n: duplicates would show)."""
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE probe (n INTEGER NOT NULL, tag TEXT NOT NULL)")
    return db


async def _count(db: Database, sql: str = "SELECT count(*) FROM probe") -> int:
    row = await db.fetchone(sql)
    assert row is not None
    return int(row[0])


async def test_transaction_commits(pdb: Database) -> None:
    async with pdb.transaction() as conn:
        await conn.execute(INSERT, (1, "a"))
        await conn.execute(INSERT, (2, "b"))
    rows = await pdb.fetchall("SELECT n, tag FROM probe ORDER BY n")
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    assert await pdb.fetchone("SELECT n FROM probe WHERE n = 99") is None


async def test_exception_in_body_rolls_back_and_propagates(pdb: Database) -> None:
    await pdb.write([(INSERT, (1, "kept"))])

    async def abort() -> None:
        async with pdb.transaction() as conn:
            await conn.execute(INSERT, (2, "lost"))
            await conn.execute("DELETE FROM probe WHERE n = 1")
            raise NotFoundError("thing", "x")

    with pytest.raises(NotFoundError):
        await abort()
    assert [tuple(r) for r in await pdb.fetchall("SELECT n, tag FROM probe")] == [
        (1, "kept")
    ]


async def test_sqlite_error_in_body_becomes_storage_error(pdb: Database) -> None:

    async def violate() -> None:
        async with pdb.transaction() as conn:
            await conn.execute(INSERT, (1, "a"))
            await conn.execute(INSERT, (2, None))

    with pytest.raises(StorageError, match="NOT NULL constraint failed") as info:
        await violate()
    assert info.value.__cause__ is not None
    assert await _count(pdb) == 0
    # The connection is usable again afterwards.
    async with pdb.transaction() as conn:
        await conn.execute(INSERT, (3, "c"))
    assert await _count(pdb) == 1


async def test_deferred_foreign_key_failure_at_commit_rolls_back(db: Database) -> None:
    with pytest.raises(StorageError, match="FOREIGN KEY constraint failed"):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO panels (id, parent, position, data) VALUES (?, ?, 0, ?)",
                ("sub", "missing", '{"id": "sub", "parent": "missing"}'),
            )
    assert await _count(db, "SELECT count(*) FROM panels") == 0
    async with db.transaction() as conn:  # not left inside a failed transaction
        assert not (await conn.execute_fetchall("SELECT 1 FROM panels"))


async def test_reads_inside_a_transaction_see_its_writes(pdb: Database) -> None:
    async with pdb.transaction() as conn:
        await conn.execute(INSERT, (1, "a"))
        assert await _count(pdb) == 1  # same task: no deadlock on the write lock


async def test_other_tasks_never_read_uncommitted_rows(pdb: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with pdb.transaction() as conn:
            await conn.execute(INSERT, (1, "a"))
            inside.set()
            await release.wait()
            raise RuntimeError("abort")

    task = asyncio.create_task(writer())
    await asyncio.wait_for(inside.wait(), 5)
    reader = asyncio.create_task(_count(pdb))
    await asyncio.sleep(0)  # let the reader queue behind the write lock
    assert not reader.done()
    release.set()
    with pytest.raises(RuntimeError, match="abort"):
        await task
    assert await asyncio.wait_for(reader, 5) == 0


async def test_nested_transaction_and_write_inside_transaction_are_refused(
    pdb: Database,
) -> None:
    async with pdb.transaction():
        with pytest.raises(StorageError, match="nested transaction"):
            async with pdb.transaction():
                pass
        with pytest.raises(StorageError, match="inside transaction"):
            await pdb.write([(INSERT, (1, "a"))])


async def test_bad_query_is_a_storage_error(db: Database) -> None:
    with pytest.raises(StorageError, match="no such table: missing_table"):
        await db.fetchall("SELECT * FROM missing_table")


async def test_group_commit_lands_every_write_once_in_few_transactions(
    pdb: Database,
) -> None:
    before = pdb.stats.batches
    await asyncio.gather(
        *(pdb.write([(INSERT, (i, "x")), (INSERT, (-i - 1, "y"))]) for i in range(500))
    )
    rows = await pdb.fetchall("SELECT n, count(*) FROM probe GROUP BY n")
    assert len(rows) == 1000
    assert all(r[1] == 1 for r in rows)
    assert pdb.stats.jobs == 500
    assert pdb.stats.statements == 1000
    # All 500 callers queue before the 5 ms window closes: far fewer commits.
    assert 1 <= pdb.stats.batches - before <= 5
    assert pdb.stats.fallbacks == 0


async def test_zero_window_still_batches_behind_a_commit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "evsite.db", commit_window_s=0)
    try:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE probe (n INTEGER NOT NULL, tag TEXT)")
        await asyncio.gather(*(db.write([(INSERT, (i, "x"))]) for i in range(300)))
        assert await _count(db) == 300
        assert db.stats.batches < 300
    finally:
        await db.close()


async def test_failing_caller_does_not_fail_the_others(pdb: Database) -> None:
    async def good(i: int) -> None:
        await pdb.write([(INSERT, (i, "good"))])

    bad = pdb.write([(INSERT, (1000, "half")), (INSERT, (1001, None))])
    results = await asyncio.gather(
        *(good(i) for i in range(50)),
        bad,
        *(good(i) for i in range(50, 100)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], StorageError)
    assert "NOT NULL" in str(errors[0])
    assert errors[0].__cause__ is not None
    assert results[50] is errors[0]
    # The bad caller is atomic: its valid first statement was not kept either.
    rows = await pdb.fetchall("SELECT n FROM probe ORDER BY n")
    assert [r[0] for r in rows] == list(range(100))
    assert pdb.stats.fallbacks >= 1


@pytest.mark.parametrize(
    "bad_value", [2**70, "lone \ud800 surrogate", object()], ids=["int", "utf", "type"]
)
async def test_unbindable_parameter_fails_only_its_caller(
    pdb: Database, bad_value: object
) -> None:
    bad = pdb.write([(INSERT, (1000, "half")), (INSERT, (1001, bad_value))])
    results = await asyncio.gather(
        *(pdb.write([(INSERT, (i, "good"))]) for i in range(20)),
        bad,
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1
    assert isinstance(errors[0], StorageError)
    rows = await pdb.fetchall("SELECT n FROM probe ORDER BY n")
    assert [r[0] for r in rows] == list(range(20))


async def test_cancelled_caller_does_not_break_the_writer(pdb: Database) -> None:
    task = asyncio.create_task(pdb.write([(INSERT, (1, "maybe"))]))
    await asyncio.sleep(0)  # queued
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await pdb.write([(INSERT, (2, "sure"))])
    assert await _count(pdb, "SELECT count(*) FROM probe WHERE n = 2") == 1
    assert await _count(pdb, "SELECT count(*) FROM probe WHERE n = 1") <= 1


async def test_empty_write_is_a_no_op(pdb: Database) -> None:
    before = pdb.stats.batches
    await pdb.write([])
    assert pdb.stats.batches == before


async def test_close_drains_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    db = await Database.open(path)
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE probe (n INTEGER NOT NULL, tag TEXT)")
    tasks = [asyncio.create_task(db.write([(INSERT, (i, "x"))])) for i in range(200)]
    await asyncio.sleep(0)  # every write is queued
    await db.close()
    await asyncio.gather(*tasks)
    with pytest.raises(StorageError, match="closed"):
        await db.write([(INSERT, (1, "late"))])
    with pytest.raises(StorageError, match="closed"):
        await db.fetchall("SELECT 1")
    async with await Database.open(path) as again:
        assert await _count(again) == 200


def test_a_run_of_plain_inserts_becomes_multi_row_statements() -> None:
    rows = [(i, f"t{i}") for i in range(1200)]
    inserts = multi_row(INSERT, rows)
    assert inserts is not None
    assert [len(values) for _, values in inserts] == [998, 998, 404]  # ≤ 999 each
    sql, values = inserts[0]
    assert sql == "INSERT INTO probe (n, tag) VALUES " + ",".join(["(?, ?)"] * 499)
    assert values[:4] == [0, "t0", 1, "t1"]
    assert [v for _, chunk in inserts for v in chunk] == [v for r in rows for v in r]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO probe (n, tag) VALUES (?, ?) ON CONFLICT (n) DO NOTHING",
        "INSERT INTO probe (n, tag) VALUES (?, lower(?))",
        "INSERT INTO probe (n, tag) VALUES (?, 'x')",
        "INSERT INTO probe (n, tag) SELECT ?, ?",
        "UPDATE probe SET tag = ? WHERE n = ?",
    ],
)
def test_anything_but_a_plain_insert_keeps_executemany(sql: str) -> None:
    assert multi_row(sql, [(1, "a"), (2, "b")]) is None


def test_named_or_uneven_parameters_keep_executemany() -> None:
    assert multi_row(INSERT, [{"n": 1, "tag": "a"}, {"n": 2, "tag": "b"}]) is None
    assert multi_row(INSERT, [(1, "a"), (2,)]) is None


async def test_a_run_of_inserts_lands_in_order_with_per_row_conflicts(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)")
    upsert = "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)"
    # 1,500 callers, keys repeating: the later write of a key wins, as with
    # one statement per row.
    await asyncio.gather(
        *(db.write([(upsert, (i % 1000, f"v{i}"))]) for i in range(1500))
    )
    rows = await db.fetchall("SELECT k, v FROM kv ORDER BY k")
    assert len(rows) == 1000
    values = {row["k"]: row["v"] for row in rows}
    assert values[0] == "v1000"
    assert values[499] == "v1499"
    assert values[500] == "v500"
    assert values[999] == "v999"
