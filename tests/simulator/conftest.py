"""The throwaway central system (benchmarks/baseline_csms.py) for simulator tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evsite.control.clock import ManualClock

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline_csms.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("baseline_csms", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_csms"] = module
    spec.loader.exec_module(module)
    return module


baseline_csms = _load()


@pytest.fixture
async def csms() -> AsyncIterator[Any]:
    """A recording baseline central system on a free loopback port."""
    server = baseline_csms.Baseline(record=True)
    port = await server.start()
    server.url = f"ws://127.0.0.1:{port}/ocpp"
    yield server
    await server.stop()


@pytest.fixture
def clock() -> ManualClock:
    """Simulated time, moved by the test."""
    return ManualClock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC))


@pytest.fixture
def baseline() -> Any:
    """The baseline module (for tests that configure their own server)."""
    return baseline_csms
