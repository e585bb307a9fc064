"""The fleet: one simulated charger per configured charger, a seeded scenario."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from evsite.config.load import parse_site
from evsite.config.models import SiteConfig
from evsite.simulator.fleet import Fleet, run_fleet, simulate_main, specs_by_count

SITE = {
    "site": {
        "id": "s1",
        "name": "S",
        "timezone": "UTC",
        "main_service": {"voltage": 230, "phases": 3, "main_breaker_a": 100},
    },
    "panels": [{"id": "main", "breaker_a": 100, "phases": 3, "voltage": 230}],
    "chargers": [
        {"id": "CP-A", "parent": "main", "limit_a": 32, "connectors": 2, "phases": 3},
        {"id": "CP-B", "parent": "main", "limit_a": 16, "phase_connection": "L1"},
    ],
}


def site() -> SiteConfig:
    return parse_site(SITE).config


async def until_sessions(csms: Any, ids: list[str], timeout: float = 10.0) -> None:
    def started(cp_id: str) -> bool:
        if csms.messages(cp_id, "StartTransaction"):
            return True
        return any(
            e["trigger_reason"] == "Authorized"
            for e in csms.messages(cp_id, "TransactionEvent")
        )

    async with asyncio.timeout(timeout):
        while not all(started(i) for i in ids):  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.02)


async def test_run_fleet_drives_every_configured_charger(csms: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_fleet(
            csms.url,
            site(),
            scenario="quick",
            seed=3,
            stop=stop,
            tags=["T1"],
            tags_by_charger={"CP-B": ["B-ONLY"]},
        )
    )
    await until_sessions(csms, ["CP-A", "CP-B"])
    stop.set()
    fleet = await asyncio.wait_for(task, 10)
    assert [s.id for s in fleet.chargers] == ["CP-A", "CP-B"]
    assert [s.version for s in fleet.chargers] == ["1.6", "2.0.1"]
    assert list(fleet.chargers[0].connectors) == [1, 2]
    assert fleet.chargers[1].connectors[1].charger_phases == 1
    assert fleet.sessions >= 1  # the last tap may be cut short by the stop
    assert not any(s.online for s in fleet.chargers)
    assert {a for _, a, _ in csms.log} >= {"BootNotification", "Authorize"}
    assert {m["id_tag"] for m in csms.messages("CP-A", "Authorize")} == {"T1"}
    tokens = {m["id_token"]["id_token"] for m in csms.messages("CP-B", "Authorize")}
    assert tokens == {"B-ONLY"}


def test_same_seed_same_plan() -> None:
    a = Fleet("ws://127.0.0.1:1/ocpp", specs_by_count(3), version="2.0.1", seed=9)
    b = Fleet("ws://127.0.0.1:1/ocpp", specs_by_count(3), version="2.0.1", seed=9)
    assert [a.rng.random() for _ in range(5)] == [b.rng.random() for _ in range(5)]
    assert all(s.version == "2.0.1" for s in a.chargers)


def test_simulate_main_needs_config_or_count(capsys: Any) -> None:
    assert simulate_main([]) == 2
    assert "exactly one" in capsys.readouterr().out


async def test_evsite_simulate_cli_runs_count_chargers(csms: Any) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evsite",
        "simulate",
        "--url",
        csms.url,
        "--count",
        "2",
        "--scenario",
        "quick",
        "--duration",
        "1.5",
        "--version",
        "mixed",
        "--seed",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "2 chargers" in out.decode()
    assert set(csms.actions("SIM0001")) >= {"BootNotification", "StatusNotification"}
    assert "BootNotification" in csms.actions("SIM0002")


async def test_evsite_simulate_cli_from_site_file(csms: Any, tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(SITE), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "evsite", "simulate", "--url", csms.url,
        "--config", str(path), "--scenario", "idle", "--duration", "1",
        "--version", "2.0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "2 chargers" in out.decode()
    boots = csms.messages("CP-A", "BootNotification")
    assert boots
    assert "charging_station" in boots[0]
    evse_ids = {m["evse_id"] for m in csms.messages("CP-A", "StatusNotification")}
    assert evse_ids == {1, 2}


def test_simulate_main_reports_an_invalid_site(tmp_path: Any, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("site: {id: x}\n", encoding="utf-8")
    assert simulate_main(["--config", str(path)]) == 2
    assert "site." in capsys.readouterr().out
