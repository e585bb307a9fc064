"""The collector pacer freezes old objects and still reclaims their cycles."""

from __future__ import annotations

import gc
import weakref

from evsite.control.gc_pacing import GcPacer, paused
from tests.conftest import wait_until


class _Node:
    def __init__(self) -> None:
        self.other: object = self


async def test_pacer_freezes_and_reclaims_cycles() -> None:
    pacer = GcPacer(freeze_s=0.01, full_s=0.05)
    cycle = _Node()
    ref = weakref.ref(cycle)
    pacer.start()
    try:
        assert gc.get_freeze_count() > 0
        del cycle  # garbage now, but frozen: only a full pass frees it
        await wait_until(lambda: pacer.passes >= 1)
        assert ref() is None
        assert gc.get_freeze_count() > 0  # survivors frozen again
    finally:
        await pacer.stop()
    assert gc.get_freeze_count() == 0


def test_paused_stops_automatic_collection_and_restores_it() -> None:
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():  # nested: the outer one restores
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()
    gc.disable()  # someone else turned it off: it stays off
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
