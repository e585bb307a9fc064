"""Child process of the durability test: write, print each acknowledged id, run on.

Usage: ``python crash_writer.py DB_PATH FIRST_ID WORKERS``. It never stops by
itself; the test SIGKILLs it mid-stream.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from evsite.adapters.storage.db import Database


async def main(path: Path, first: int, workers: int) -> None:
    """Write ids from ``first`` on with ``workers`` concurrent callers."""
    db = await Database.open(path)
    async with db.transaction() as conn:
        # No UNIQUE constraint: a duplicate row must be visible to the test.
        await conn.execute("CREATE TABLE IF NOT EXISTS acked (n INTEGER NOT NULL)")
    ids = iter(range(first, first + 100_000_000))

    async def worker() -> None:
        for n in ids:
            await db.write([("INSERT INTO acked (n) VALUES (?)", (n,))])
            # Acknowledge only after write() returned, i.e. after the commit.
            sys.stdout.write(f"{n}\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker() for _ in range(workers)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
