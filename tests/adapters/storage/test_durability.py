from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from evsite.adapters.storage.db import Database

CHILD = Path(__file__).with_name("crash_writer.py")


async def _run_and_kill(path: Path, first: int, kill_after: int) -> list[int]:
    """Start a writer, SIGKILL it after ``kill_after`` acks; every id it acked."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        str(path),
        str(first),
        "32",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    acked: list[int] = []
    try:
        while len(acked) < kill_after:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if not line:
                error = (await proc.stderr.read()).decode()
                pytest.fail(f"writer exited early: {error}")
            acked.append(int(line))
    finally:
        proc.kill()  # SIGKILL: no cleanup, no close(), mid-stream
        rest = await proc.stdout.read()
        await proc.stderr.read()
        await proc.wait()
    # A line cut off by the kill was never fully acknowledged.
    acked += [int(x) for x in rest.split(b"\n")[:-1]]
    assert proc.returncode == -9
    return acked


async def test_acknowledged_writes_survive_sigkill_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "evsite.db"
    acked: list[int] = []
    for round_, kill_after in enumerate((150, 600, 1200)):
        acked += await _run_and_kill(path, round_ * 10_000_000, kill_after)
        db = await Database.open(path)  # recovery + migrations on the killed file
        try:
            check = await db.fetchone("PRAGMA integrity_check")
            assert check is not None
            assert check[0] == "ok"
            counts = {
                r[0]: r[1]
                for r in await db.fetchall("SELECT n, count(*) FROM acked GROUP BY n")
            }
        finally:
            await db.close()
        missing = [n for n in acked if n not in counts]
        assert missing == []
        assert {n: c for n, c in counts.items() if c != 1} == {}
        assert len(set(acked)) == len(acked)
        # Rows committed but not yet acknowledged when the kill came: at most
        # one in-flight batch (one per worker).
        assert 0 <= len(counts) - len(acked) <= 32
