"""The one SQLite connection: pragmas, migrations, transactions and group commit.

Every statement goes through a single aiosqlite connection, whose worker thread
runs calls strictly in order. Writes are serialised by one asyncio lock, so a
transaction never interleaves with another. High-rate writes (OCPP traffic) go
through :meth:`Database.write`: a single writer task commits everything queued
within a short window in one transaction, and acknowledges callers only after
the commit; with ``synchronous=FULL`` an acknowledged write survives a crash or
power loss (perf-reliability G4, G13).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from evsite.adapters.storage.migrations import apply_migrations
from evsite.errors import StorageError

_LOGGER = logging.getLogger(__name__)

Statement = tuple[str, Sequence[Any]]

DEFAULT_COMMIT_WINDOW_S = 0.005
DEFAULT_BUSY_TIMEOUT_MS = 5_000
# Callers per batch: bounds the time the write lock is held by one commit.
MAX_BATCH_CALLERS = 2_000
# Host parameters per statement: SQLite's lowest default (999 before 3.32).
MAX_VARIABLES = 999

# The task that holds the write lock inside ``transaction()``; its reads and
# nested calls must not wait for the lock it already holds.
_TX_OWNER: ContextVar[asyncio.Task[Any] | None] = ContextVar(
    "evsite_tx_owner", default=None
)


@dataclass(slots=True)
class _Job:
    """One caller's statements and the future acknowledging their commit."""

    statements: Sequence[Statement]
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class WriteStats:
    """Counters of the group-commit writer (for tests and diagnostics)."""

    batches: int = 0
    jobs: int = 0
    statements: int = 0
    fallbacks: int = 0


class Database:
    """Owns the site database: one connection, one write lock, one writer task."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: Path,
        commit_window_s: float = DEFAULT_COMMIT_WINDOW_S,
    ) -> None:
        """Wrap an open connection; use :meth:`open` instead."""
        self._conn = conn
        self.path = path
        self._commit_window_s = commit_window_s
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self.stats = WriteStats()

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        commit_window_s: float = DEFAULT_COMMIT_WINDOW_S,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Database:
        """Open (creating if needed) the database at ``path`` and migrate it.

        Raises:
            StorageError: the file cannot be opened or migrated, or its schema
                is newer than this code.
        """
        if not 0 <= commit_window_s <= 1:
            raise StorageError(f"commit window {commit_window_s} s is outside 0-1 s")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit BEGINs; we issue BEGIN IMMEDIATE.
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise StorageError(f"cannot open database {path}: {err}") from err
        db = cls(conn, path, commit_window_s)
        try:
            conn.row_factory = sqlite3.Row
            await db._configure(busy_timeout_ms)
            await apply_migrations(conn)
        except BaseException as err:
            await conn.close()
            if isinstance(err, sqlite3.Error):
                raise StorageError(f"cannot open database {path}: {err}") from err
            raise
        db._writer = asyncio.create_task(db._write_loop(), name="evsite-db-writer")
        return db

    async def _configure(self, busy_timeout_ms: int) -> None:
        """Set the pragmas every connection needs (WAL, FULL, foreign keys)."""
        await self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        async with self._conn.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise StorageError(f"cannot enable WAL on {self.path}: got {row}")
        await self._conn.execute("PRAGMA synchronous = FULL")
        await self._conn.execute("PRAGMA foreign_keys = ON")

    async def __aenter__(self) -> Database:
        """``async with await Database.open(path) as db:`` closes on exit."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the database."""
        await self.close()

    async def close(self) -> None:
        """Commit everything already queued, stop the writer, close the file."""
        if self._closing:
            return
        self._closing = True
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
        async with self._lock:
            await self._conn.close()

    # Reads

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query (committed data, or the caller's open transaction)."""
        async with self._read_access():
            try:
                return list(await self._conn.execute_fetchall(sql, params))
            except (sqlite3.Error, ValueError) as err:
                raise StorageError(f"query failed: {err}") from err

    async def fetchone(
        self, sql: str, params: Sequence[Any] = ()
    ) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def _read_access(self) -> AsyncIterator[None]:
        """Wait for the write lock unless this task already holds it.

        Reads share the writer's connection, so a read while another task's
        transaction is open would see its uncommitted rows.
        """
        if self._owns_transaction():
            yield
            return
        self._check_open()
        async with self._lock:
            yield

    def _owns_transaction(self) -> bool:
        owner = _TX_OWNER.get()
        return owner is not None and owner is asyncio.current_task()

    def _check_open(self) -> None:
        if self._closing:
            raise StorageError("the database is closed")

    # Transactions

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back if the body raises.

        SQLite errors in the body or at commit become :class:`StorageError`;
        other exceptions propagate unchanged after the rollback.
        """
        if self._owns_transaction():
            raise StorageError("nested transaction: use the connection you hold")
        self._check_open()
        async with self._lock:
            token = _TX_OWNER.set(asyncio.current_task())
            try:
                await self._begin()
                try:
                    yield self._conn
                    await self._conn.execute("COMMIT")
                except BaseException as err:
                    await self._rollback()
                    if isinstance(err, sqlite3.Error):
                        raise StorageError(f"transaction failed: {err}") from err
                    raise
            finally:
                _TX_OWNER.reset(token)

    async def _begin(self) -> None:
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, ValueError) as err:
            raise StorageError(f"cannot begin a transaction: {err}") from err

    async def _rollback(self) -> None:
        """Roll back if a transaction is still open (a failed COMMIT leaves one)."""
        if self._conn.in_transaction:
            # Shielded: a second cancellation must not leave the transaction open.
            await asyncio.shield(self._conn.execute("ROLLBACK"))

    # Group commit

    async def write(self, statements: Sequence[Statement]) -> None:
        """Run ``statements`` atomically; return once they are durably committed.

        Statements of concurrent callers share one commit. If a caller is
        cancelled while waiting, its statements may still be committed.

        Raises:
            StorageError: the statements failed (no part of them was committed),
                or the database is closed.
        """
        if not statements:
            return
        if self._owns_transaction():
            raise StorageError("write() inside transaction(): use the connection")
        self._check_open()
        job = _Job(statements)
        self._queue.put_nowait(job)
        await job.future

    async def _write_loop(self) -> None:
        """Collect queued jobs for one window, commit them, acknowledge them."""
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            # The batching window; skipped when a full batch is already waiting.
            if self._commit_window_s > 0 and self._queue.qsize() < MAX_BATCH_CALLERS:
                await asyncio.sleep(self._commit_window_s)
            batch = [first]
            while len(batch) < MAX_BATCH_CALLERS and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True  # commit what came before the stop
                    break
                batch.append(job)
            try:
                await self._commit_batch(batch)
            except Exception as err:  # keep the writer alive; fail this batch
                _LOGGER.exception("database writer failed")
                for job in batch:
                    _fail(job, f"write failed: {err}", err)
        while not self._queue.empty():  # close() raced with write(): refuse
            job = self._queue.get_nowait()
            if job is not None:
                _fail(job, "the database is closed")

    async def _commit_batch(self, batch: list[_Job]) -> None:
        """One transaction for the batch; on error, one per caller."""
        async with self._lock:
            try:
                await self._run_in_transaction(
                    [s for job in batch for s in job.statements]
                )
            except _WRITE_ERRORS:
                self.stats.fallbacks += 1
                for job in batch:
                    await self._commit_alone(job)
                return
        self.stats.batches += 1
        self.stats.jobs += len(batch)
        self.stats.statements += sum(len(j.statements) for j in batch)
        for job in batch:
            if not job.future.done():
                job.future.set_result(None)

    async def _commit_alone(self, job: _Job) -> None:
        try:
            await self._run_in_transaction(job.statements)
        except _WRITE_ERRORS as err:
            _fail(job, f"write failed: {err}", err)
            return
        self.stats.batches += 1
        self.stats.jobs += 1
        self.stats.statements += len(job.statements)
        if not job.future.done():
            job.future.set_result(None)

    async def _run_in_transaction(self, statements: Sequence[Statement]) -> None:
        """BEGIN IMMEDIATE, statements, COMMIT; roll back and re-raise on error."""
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in _runs(statements):
                if len(params) == 1:
                    await self._conn.execute(sql, params[0])
                elif (inserts := multi_row(sql, params)) is not None:
                    for one_sql, values in inserts:
                        await self._conn.execute(one_sql, values)
                else:
                    # One worker-thread hop for a run of the same statement.
                    await self._conn.executemany(sql, params)
            await self._conn.execute("COMMIT")
        except BaseException:
            await self._rollback()
            raise


# What one caller's bad statement raises: SQLite errors, and parameter binding
# errors (integers over 64 bits, lone surrogates, unsupported types).
_WRITE_ERRORS = (sqlite3.Error, ValueError, TypeError, OverflowError)


def _runs(statements: Sequence[Statement]) -> list[tuple[str, list[Sequence[Any]]]]:
    """Group consecutive statements with the same SQL, keeping their order."""
    runs: list[tuple[str, list[Sequence[Any]]]] = []
    for sql, params in statements:
        if runs and runs[-1][0] == sql:
            runs[-1][1].append(params)
        else:
            runs.append((sql, [params]))
    return runs


def multi_row(
    sql: str, rows: Sequence[Sequence[Any]]
) -> list[tuple[str, list[Any]]] | None:
    """A run of one plain ``INSERT ... VALUES (?, ...)`` as multi-row INSERTs.

    ``executemany`` steps SQLite once per row, and takes the GIL back from the
    event loop's thread after each step: 1,000 rows took 70-300 ms with the
    loop busy, against 15-25 ms as one statement per chunk. Same rows, same
    order, same conflict handling (each row still its own insert). None when
    the statement is anything else (a clause after VALUES, expressions,
    named parameters): that runs with executemany.
    """
    head, found, tail = sql.partition(" VALUES (")
    if (
        not found
        or not head.lstrip().upper().startswith("INSERT")
        or not tail.endswith(")")
        or any(c in tail[:-1] for c in "()'\"")
        or not all(type(row) is tuple or type(row) is list for row in rows)
    ):
        return None
    group = "(" + tail
    width = group.count("?")
    if width == 0 or any(len(row) != width for row in rows):
        return None
    per = max(1, MAX_VARIABLES // width)
    return [
        (
            f"{head} VALUES {','.join([group] * len(chunk))}",
            [value for row in chunk for value in row],
        )
        for chunk in (rows[i : i + per] for i in range(0, len(rows), per))
    ]


def _fail(job: _Job, message: str, cause: BaseException | None = None) -> None:
    """Fail a caller with a StorageError chained to ``cause``."""
    if not job.future.done():
        error = StorageError(message)
        error.__cause__ = cause
        job.future.set_exception(error)
