"""Interoperability: ocpp-rpc (npm, strict schema validation) drives evsite's server.

An independent OCPP implementation runs a full session per version: boot,
status, heartbeat, authorize, start, meter values, stop (2.0.1: TransactionEvent
Started/Updated/Ended). ocpp-rpc's strict mode validates every frame in both
directions against the official schemas, so any invalid answer from evsite
fails the run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evsite.config.load import parse_site

HERE = Path(__file__).resolve().parent

SITE = {
    "site": {
        "id": "interop",
        "name": "Interop",
        "timezone": "UTC",
        "main_service": {"voltage": 230, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [{"id": "main", "breaker_a": 100, "phases": 3, "voltage": 230}],
    "chargers": [
        {"id": "RPC16", "parent": "main", "limit_a": 32, "phases": 3, "scope": "open"},
        {"id": "RPC201", "parent": "main", "limit_a": 32, "phases": 3, "scope": "open"},
    ],
    "web": {"host": "127.0.0.1", "port": 0},
    "ocpp": {"host": "127.0.0.1", "port": 0},
    "api": {"token": "interop-token-0123456789"},
    "mqtt": {"enabled": False},
}


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """ocpp-rpc installed from the pinned lock file (npm ci) when missing."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("Node.js/npm not installed: the ocpp-rpc interop test needs them")
    if not (HERE / "node_modules" / "ocpp-rpc").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300
        )
    return HERE / "node_modules"


@pytest.fixture
async def evsite_url(tmp_path: Path) -> AsyncIterator[str]:
    """evsite's OCPP endpoint, in process, on a free port."""
    from evsite.app import EvsiteApp

    loaded = parse_site(SITE)
    app = EvsiteApp(loaded, loaded.config.service, tmp_path / "data")
    await app.start()
    try:
        assert app.ocpp_port, "EvsiteApp did not start its OCPP server"
        yield f"ws://127.0.0.1:{app.ocpp_port}/ocpp"
    finally:
        await app.stop()


async def run_charger(url: str, identity: str, protocol: str) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "charger.js"),
        url,  # ocpp-rpc appends "/<identity>" itself
        identity,
        protocol,
        cwd=HERE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = out.decode().strip().splitlines()
    assert lines, f"node printed nothing; stderr: {err.decode()}"
    report: dict[str, object] = json.loads(lines[-1])
    assert proc.returncode == 0, report
    return report


@pytest.mark.parametrize(
    ("identity", "protocol"), [("RPC16", "ocpp1.6"), ("RPC201", "ocpp2.0.1")]
)
async def test_ocpp_rpc_strict_full_session(
    node_modules: Path, evsite_url: str, tmp_path: Path, identity: str, protocol: str
) -> None:
    report = await run_charger(evsite_url, identity, protocol)
    assert report["ok"] is True
    assert report["failures"] == []
    db = sqlite3.connect(f"file:{tmp_path / 'data' / 'evsite.db'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT transaction_id, energy_wh, stopped_at FROM ocpp_sessions "
            "WHERE charger_id = ?",
            (identity,),
        ).fetchall()
    finally:
        db.close()
    assert len(rows) == 1
    tx_id, energy, stopped = rows[0]
    assert str(tx_id) == str(report["transactionId"])
    assert energy == pytest.approx(400)
    assert stopped is not None
