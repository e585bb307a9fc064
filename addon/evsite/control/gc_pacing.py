"""Keeps Python's full garbage collections off the OCPP reply path.

With 1,000+ chargers the heap holds millions of long-lived objects (sockets,
protocol state, the site model), and every automatic generation-2 collection
walks all of them: 150-200 ms with the event loop stopped, several times a
minute, which alone broke the p99 ≤ 100 ms ack target. Every few seconds the
objects that exist are moved to the permanent generation (``gc.freeze``, which
costs no scan), so automatic collections walk only what is new; a full pass
(unfreeze, collect, freeze) runs on a slow timer, so reference cycles that got
frozen are still reclaimed, just minutes later.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator

_LOGGER = logging.getLogger(__name__)

FREEZE_S = 5.0
FULL_PASS_S = 300.0


def full_pass() -> float:
    """Collect everything, then freeze the survivors; returns the seconds taken."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside: for a short burst that must go out first.

    A shed allocates the state of 1,000 calls in flight at once; the young
    collections it would trigger (tens of them, each walking everything new)
    run after the burst instead, as one. The caller keeps the burst short
    (the energy dispatch yields within 40 ms slices and ends within its
    cycle). Collection is restored as it was, also on error.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class GcPacer:
    """Freezes every ``freeze_s`` s and runs :func:`full_pass` every ``full_s`` s."""

    def __init__(self, freeze_s: float = FREEZE_S, full_s: float = FULL_PASS_S) -> None:
        """Prepare; nothing runs until :meth:`start`."""
        self._freeze_s = freeze_s
        self._full_s = full_s
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    def start(self) -> None:
        """Freeze what start-up built and start the timer."""
        gc.freeze()
        self._task = asyncio.create_task(self._run(), name="gc-pacer")

    async def stop(self) -> None:
        """Stop the timer and hand every object back to the collector."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        gc.unfreeze()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        while True:
            await asyncio.sleep(self._freeze_s)
            if loop.time() - last_full < self._full_s:
                gc.freeze()
                continue
            took = full_pass()
            last_full = loop.time()
            self.passes += 1
            _LOGGER.debug("full garbage collection took %.0f ms", took * 1000)
