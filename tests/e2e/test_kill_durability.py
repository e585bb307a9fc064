"""SIGKILL the service mid-stream: every acknowledged message is stored exactly once.

Simulated chargers (OCPP 1.6 and 2.0.1) stream meter values as fast as the
server acknowledges them; the `evsite run` process is killed with SIGKILL in the
middle, the chargers keep queueing, the service is restarted on the same data
directory, the chargers reconnect and replay (same message ids, original
timestamps), and the sessions end. Then the SQLite file is read directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from evsite.simulator.charger import SimCharger
from evsite.simulator.ev import Ev

ROOT = Path(__file__).resolve().parents[2]
CHARGERS = [(f"KILL{n:02d}", "1.6" if n % 2 else "2.0.1") for n in range(1, 9)]
ACKED_BEFORE_KILL = 400


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_yaml(ocpp_port: int, web_port: int) -> str:
    chargers = "\n".join(
        f"  - {{id: {cid}, parent: main, limit_a: 32, phases: 3, scope: open}}"
        for cid, _ in CHARGERS
    )
    return (
        "site: {id: killtest, name: Kill test, timezone: UTC,\n"
        "       main_service: {voltage: 230, phases: 3, main_breaker_a: 400}}\n"
        "panels:\n"
        "  - {id: main, breaker_a: 400, phases: 3, voltage: 230}\n"
        f"chargers:\n{chargers}\n"
        f"web: {{host: 127.0.0.1, port: {web_port}}}\n"
        f"ocpp: {{host: 127.0.0.1, port: {ocpp_port}}}\n"
        "api: {token: kill-test-token-0123456789}\n"
        "mqtt: {enabled: false}\n"
    )


async def _listening(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


@dataclass
class Service:
    """The `evsite run` process, restartable on the same config and data."""

    config: Path
    data: Path
    port: int
    web_port: int
    proc: asyncio.subprocess.Process | None = None
    logs: list[bytes] = field(default_factory=list)

    async def start(self, timeout: float = 30.0) -> str | None:
        """Start and wait for the OCPP port; a reason string when it never opens."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "evsite",
            "run",
            "--config",
            str(self.config),
            "--data",
            str(self.data),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.proc.returncode is not None:
                out = await self.proc.stdout.read() if self.proc.stdout else b""
                return (
                    f"`evsite run` exited with {self.proc.returncode}: {out[-600:]!r}"
                )
            if await _listening(self.port):
                return None
            if await _listening(self.web_port):  # web is up: OCPP must follow soon
                deadline = min(deadline, loop.time() + 5.0)
            await asyncio.sleep(0.1)
        return f"`evsite run` did not open its OCPP port {self.port}"

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)

    async def reap(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.logs.append(await self.proc.stdout.read())


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    port, web_port = free_port(), free_port()
    config = tmp_path / "site.yaml"
    config.write_text(site_yaml(port, web_port), encoding="utf-8")
    svc = Service(config, tmp_path / "data", port, web_port)
    reason = await svc.start()
    if reason is not None:
        await svc.reap()
        pytest.fail(f"evsite service did not start: {reason}")
    yield svc
    await svc.reap()


async def stream(sim: SimCharger, stop: asyncio.Event) -> None:
    """Meter values back to back while the server answers."""
    while not stop.is_set() and sim.online:
        await sim.send_meter_values()


def acked_samples(sim: SimCharger) -> list[tuple[int, datetime]]:
    """(connector, sample time) of every acknowledged meter reading."""
    out = []
    for action, fields, _ in sim.acked:
        if action == "MeterValues":
            connector = int(fields["connector_id"])
        elif action == "TransactionEvent" and fields.get("meter_value"):
            connector = int(fields["evse"]["id"])
        else:
            continue
        for mv in fields.get("meter_value") or []:
            out.append((connector, parse(mv["timestamp"])))
    return out


def parse(text: str) -> datetime:
    """A timestamp at millisecond precision (what chargers send and servers keep)."""
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def read_db(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


async def wait_until(check: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - bounded poll of simulator state
            await asyncio.sleep(0.05)


async def flush(sim: SimCharger) -> None:
    """Wait for the outbox to drain; on a timeout say where it is stuck."""
    try:
        await sim.flush(30)
    except TimeoutError:
        pytest.fail(
            f"{sim.id}: outbox not delivered: online={sim.online} "
            f"queued={sim.outbox_size} acked={len(sim.acked)}"
        )


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    service: Service,
) -> None:
    url = f"ws://127.0.0.1:{service.port}/ocpp"
    sims = [SimCharger(cid, url, v, response_timeout=5.0) for cid, v in CHARGERS]
    try:
        for sim in sims:
            await sim.connect()
            await sim.plug_in(1, Ev(max_current_a=32, capacity_wh=200_000))
            assert await sim.tap(1, "KILLTAG"), sim.id
        stop = asyncio.Event()
        streams = [asyncio.create_task(stream(s, stop)) for s in sims]
        await wait_until(
            lambda: sum(len(s.acked) for s in sims) >= ACKED_BEFORE_KILL, 60
        )
        service.kill()  # mid-stream: messages are in flight right now
        await service.proc.wait()  # type: ignore[union-attr]
        await wait_until(lambda: not any(s.online for s in sims), 10)
        stop.set()
        await asyncio.gather(*streams)
        for sim in sims:  # readings taken while the server is down are queued
            await sim.send_meter_values()
        assert all(s.outbox_size > 0 for s in sims)

        reason = await service.start()
        assert reason is None, reason
        await wait_until(lambda: all(s.online for s in sims), 30)
        for sim in sims:
            await flush(sim)
            await sim.send_meter_values()
            await sim.unplug(1)
            await flush(sim)
    finally:
        await asyncio.gather(*(s.close() for s in sims))
    await service.reap()

    db_path = service.data / "evsite.db"
    for sim in sims:
        samples = acked_samples(sim)
        assert len(samples) > 5, sim.id
        stored = Counter(
            (int(c), parse(at))
            for c, at in read_db(
                db_path,
                "SELECT connector_id, at FROM ocpp_meter_values WHERE charger_id = ?",
                sim.id,
            )
        )
        expected = Counter(samples)
        missing = [s for s, n in expected.items() if stored[s] < n]
        doubled = [s for s, n in expected.items() if stored[s] > n]
        assert not missing, f"{sim.id}: acknowledged but not stored: {missing[:5]}"
        assert not doubled, f"{sim.id}: stored more than once: {doubled[:5]}"
        sessions = read_db(
            db_path,
            "SELECT transaction_id, stopped_at FROM ocpp_sessions WHERE charger_id = ?",
            sim.id,
        )
        assert len(sessions) == 1, f"{sim.id}: {sessions}"
        assert sessions[0][1] is not None, f"{sim.id}: session not stopped"
        if sim.version == "1.6":
            starts = [r for a, _, r in sim.acked if a == "StartTransaction"]
            assert len(starts) == 1
            assert str(starts[0].transaction_id) == str(sessions[0][0])
        else:
            ids = {
                f["transaction_info"]["transaction_id"]
                for a, f, _ in sim.acked
                if a == "TransactionEvent"
            }
            assert ids == {sessions[0][0]}
