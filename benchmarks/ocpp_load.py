"""OCPP load benchmark: evsite's central system vs a minimal ``ocpp`` baseline.

For each target server (started as a subprocess, so its RSS is its own):

1. connect ``--chargers`` OCPP 1.6 chargers over loopback (BootNotification
   Accepted, one StartTransaction each);
2. send MeterValues for ``--duration`` seconds at ``--rate`` messages/s in total,
   one message in flight per charger (OCPP-J), measuring the time from sending
   each CALL to its CALLRESULT;
3. read the server's RSS (VmRSS / VmHWM from /proc/<pid>/status);
4. reconnect storm: drop everyone, then ``--storm`` chargers connect and boot at
   the same moment; report the time until the last one is Accepted.

The load client is deliberately thin (raw aiohttp WebSockets, pre-built OCPP-J
frames) so that it does not dominate a 2-core machine.

Usage: python benchmarks/ocpp_load.py [--target both|evsite|baseline]
       [--chargers 1000] [--rate 1000] [--duration 30] [--storm 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benchmarks" / "baseline_csms.py"

# Canned answers to calls a central system may send right after boot.
_ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {
        "configurationKey": [
            {
                "key": "ChargingScheduleAllowedChargingRateUnit",
                "readonly": True,
                "value": "Current",
            }
        ],
        "unknownKey": [],
    },
    "GetLocalListVersion": {"listVersion": 0},
    "DataTransfer": {"status": "Accepted"},
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Result:
    """One target's figures."""

    target: str
    chargers: int = 0
    connected: int = 0
    connect_s: float = 0.0
    offered_rate: float = 0.0
    acked: int = 0
    errors: int = 0
    msgs_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    over_100ms_pct: float = 0.0
    server_cpu_pct: float = 0.0
    client_cpu_pct: float = 0.0
    load_avg_1m: float = 0.0
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    storm_chargers: int = 0
    storm_accepted: int = 0
    storm_s: float = 0.0
    storm_errors: int = 0
    notes: list[str] = field(default_factory=list)


class Charger:
    """A raw OCPP-J 1.6 client: one CALL in flight, answers server CALLs."""

    def __init__(self, cp_id: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.id = cp_id
        self.ws = ws
        self.seq = 0
        self.energy = 0
        self.tx_id = 0

    async def call(self, action: str, payload_json: str, timeout: float = 30.0) -> Any:
        """Send a CALL, answer interleaved server CALLs, return the reply payload."""
        self.seq += 1
        uid = f"{self.id}-{self.seq}"
        await self.ws.send_str(f'[2,"{uid}","{action}",{payload_json}]')
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"{self.id}: socket {msg.type}")
                frame = json.loads(msg.data)
                if frame[0] == 2:  # a CALL from the server: answer generically
                    answer = _ANSWERS.get(frame[2], {"status": "Accepted"})
                    await self.ws.send_str(json.dumps([3, frame[1], answer]))
                    continue
                if frame[1] != uid:
                    continue
                if frame[0] == 4:
                    raise RuntimeError(f"{self.id}: CALLERROR {frame[2]} {frame[3]}")
                return frame[2]

    async def boot(self) -> str:
        reply = await self.call(
            "BootNotification",
            '{"chargePointVendor":"evsite-bench","chargePointModel":"load"}',
        )
        return str(reply.get("status"))

    async def start_tx(self) -> None:
        await self.call(
            "StatusNotification",
            f'{{"connectorId":1,"errorCode":"NoError","status":"Preparing",'
            f'"timestamp":"{_now()}"}}',
        )
        reply = await self.call(
            "StartTransaction",
            f'{{"connectorId":1,"idTag":"BENCH","meterStart":0,"timestamp":"{_now()}"}}',
        )
        self.tx_id = int(reply["transactionId"])

    async def meter(self) -> None:
        self.energy += 37
        await self.call(
            "MeterValues",
            f'{{"connectorId":1,"transactionId":{self.tx_id},"meterValue":[{{'
            f'"timestamp":"{_now()}","sampledValue":['
            f'{{"value":"{self.energy}","measurand":"Energy.Active.Import.Register",'
            f'"unit":"Wh"}},'
            f'{{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"}},'
            f'{{"value":"3680","measurand":"Power.Active.Import","unit":"W"}}]}}]}}',
        )


async def open_charger(session: aiohttp.ClientSession, url: str, cp_id: str) -> Charger:
    ws = await session.ws_connect(
        f"{url}/{cp_id}", protocols=("ocpp1.6",), autoping=True, heartbeat=None
    )
    return Charger(cp_id, ws)


def rss(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB of a process."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, kib = line.split()[:2]
            values[key] = int(kib) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def ids(n: int) -> list[str]:
    return [f"LOAD{i:05d}" for i in range(1, n + 1)]


async def connect_all(
    session: aiohttp.ClientSession, url: str, names: list[str], parallel: int
) -> tuple[list[Charger], int]:
    """Connect and boot every charger, ``parallel`` handshakes at a time."""
    gate = asyncio.Semaphore(parallel)
    errors = 0

    async def one(name: str) -> Charger | None:
        nonlocal errors
        async with gate:
            try:
                ch = await open_charger(session, url, name)
                if await ch.boot() != "Accepted":
                    raise RuntimeError("not accepted")
                await ch.start_tx()
                return ch
            except Exception:
                errors += 1
                return None

    done = await asyncio.gather(*(one(n) for n in names))
    return [c for c in done if c is not None], errors


async def steady(
    chargers: list[Charger], rate: float, duration: float, res: Result
) -> None:
    """MeterValues at ``rate`` msgs/s in total, spread evenly over the chargers."""
    period = len(chargers) / rate
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter() + 0.5
    end = start + duration

    async def run(i: int, ch: Charger) -> None:
        nonlocal errors
        due = start + period * i / len(chargers)
        while due < end:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            try:
                await ch.meter()
            except Exception:
                errors += 1
                return
            latencies.append(time.perf_counter() - t0)
            due += period

    await asyncio.gather(*(run(i, c) for i, c in enumerate(chargers)))
    elapsed = max(time.perf_counter() - start, 1e-9)
    res.offered_rate = rate
    res.acked = len(latencies)
    res.errors += errors
    res.msgs_per_s = round(len(latencies) / min(elapsed, duration + 1), 1)
    if latencies:
        ordered = sorted(latencies)
        res.p50_ms = round(statistics.median(ordered) * 1000, 1)
        res.p99_ms = round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1)
        res.max_ms = round(ordered[-1] * 1000, 1)
        late = sum(1 for v in ordered if v > 0.1)
        res.over_100ms_pct = round(100 * late / len(ordered), 2)


async def storm(url: str, names: list[str], res: Result) -> None:
    """All chargers connect and boot at once; time until the last is Accepted."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        errors = 0
        opened: list[Charger] = []

        async def one(name: str) -> bool:
            nonlocal errors
            try:
                ch = await open_charger(session, url, name)
                opened.append(ch)
                return await ch.boot() == "Accepted"
            except Exception:
                errors += 1
                return False

        t0 = time.perf_counter()
        ok = await asyncio.gather(*(one(n) for n in names))
        res.storm_s = round(time.perf_counter() - t0, 2)
        res.storm_chargers = len(names)
        res.storm_accepted = sum(ok)
        res.storm_errors = errors
        await asyncio.gather(*(c.ws.close() for c in opened), return_exceptions=True)


async def measure(target: str, url: str, pid: int, args: argparse.Namespace) -> Result:
    """Steady load, RSS, then the storm, against one running server."""
    res = Result(target, chargers=args.chargers)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        chargers, errors = await connect_all(session, url, ids(args.chargers), 200)
        res.connect_s = round(time.perf_counter() - t0, 2)
        res.connected, res.errors = len(chargers), errors
        if chargers:
            cpu0, mine0, wall0 = cpu_seconds(pid), time.process_time(), time.monotonic()
            await steady(chargers, args.rate, args.duration, res)
            wall = time.monotonic() - wall0
            res.server_cpu_pct = round(100 * (cpu_seconds(pid) - cpu0) / wall, 1)
            res.client_cpu_pct = round(100 * (time.process_time() - mine0) / wall, 1)
            # Other processes on the machine skew the figures: record how busy it was.
            res.load_avg_1m = round(os.getloadavg()[0], 2)
        res.rss_mib, res.hwm_mib = (round(v, 1) for v in rss(pid))
        await asyncio.gather(*(c.ws.close() for c in chargers), return_exceptions=True)
    if args.storm:
        await asyncio.sleep(1.0)  # let the server notice the disconnects
        await storm(url, ids(args.storm), res)
    return res


# -- servers -------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def listening(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def wait_port(
    port: int, proc: subprocess.Popen[bytes], timeout: float, web_port: int = 0
) -> None:
    """Until the server accepts TCP connections (or died, or only web came up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if await listening(port):
            return
        if web_port and await listening(web_port):
            deadline = min(deadline, time.monotonic() + 10)  # OCPP must follow
            web_port = 0
        await asyncio.sleep(0.1)
    raise RuntimeError(f"server did not open its OCPP port {port}")


def site_yaml(n: int, ocpp_port: int, web_port: int) -> str:
    """A site with ``n`` configured single-phase chargers (ids LOAD00001…)."""
    lines = [
        "site: {id: bench, name: Bench, timezone: UTC,",
        "       main_service: {voltage: 230, phases: 1, main_breaker_a: 10000}}",
        "panels:",
        "  - {id: main, breaker_a: 10000, phases: 1, voltage: 230}",
        "chargers:",
    ]
    lines += [f"  - {{id: {cid}, parent: main, limit_a: 16}}" for cid in ids(n)]
    lines += [
        f"web: {{host: 127.0.0.1, port: {web_port}}}",
        f"ocpp: {{host: 127.0.0.1, port: {ocpp_port}}}",
        "api: {token: bench-token-0123456789}",
        "mqtt: {enabled: false}",
    ]
    return "\n".join(lines) + "\n"


async def serve_evsite(config: Path, data: Path, port: int) -> None:
    """Fallback server process: evsite's app plus its CentralSystem on ``port``.

    Used only while ``evsite run`` does not serve OCPP yet; still a separate
    process, so the RSS measured is the server's alone.
    """
    from evsite.adapters.csms.server import CentralSystem
    from evsite.app import EvsiteApp
    from evsite.config.load import load_site_file

    loaded = load_site_file(config)
    app = EvsiteApp(loaded, loaded.config.service, data)
    services = await app.start()
    central = CentralSystem(services)
    await central.start()
    await central.listen("127.0.0.1", port)
    print(f"ready {port}", flush=True)
    await asyncio.Event().wait()


def launch(
    target: str, n: int, workdir: Path, mode: str = "cli"
) -> tuple[subprocess.Popen[bytes], int, int, str]:
    """Start a target as a subprocess; returns it, OCPP port, web port, base URL."""
    port, web_port = free_port(), 0
    if target == "baseline":
        cmd = [sys.executable, str(BASELINE), "--port", str(port)]
        url = f"ws://127.0.0.1:{port}"
    else:
        web_port = free_port()
        cfg = workdir / "bench-site.yaml"
        cfg.write_text(site_yaml(n, port, web_port), encoding="utf-8")
        data = workdir / f"data-{mode}"
        cmd = [sys.executable, "-m", "evsite", "--log-level", "WARNING", "run"]
        cmd += ["--config", str(cfg), "--data", str(data)]
        if mode == "inprocess":
            cmd = [sys.executable, __file__, "--serve-evsite", str(cfg), str(data)]
            cmd.append(str(port))
        url = f"ws://127.0.0.1:{port}/ocpp"
    with (workdir / f"{target}-{mode}.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return proc, port, web_port, url


async def start_server(
    target: str, n: int, workdir: Path, notes: list[str]
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a target and wait for its port; returns it and its OCPP base URL.

    evsite is started as ``python -m evsite run``; while that does not serve
    OCPP yet, as a separate process running its app and CentralSystem.
    """
    modes = ["cli", "inprocess"] if target == "evsite" else ["cli"]
    for mode in modes:
        proc, port, web_port, url = launch(target, n, workdir, mode)
        try:
            await wait_port(port, proc, 180, web_port if mode == "cli" else 0)
        except RuntimeError as err:
            proc.kill()
            proc.wait()
            if mode == modes[-1]:
                raise
            notes.append(f"`evsite run` unusable ({err}); fell back to {modes[-1]}")
            continue
        if target == "evsite":
            notes.append(
                f"evsite started as: {'evsite run' if mode == 'cli' else mode}"
            )
        return proc, url
    raise RuntimeError("unreachable")


def log_tails(workdir: Path) -> list[str]:
    """The end of each server log (why a server did not come up)."""
    return [
        f"{log.name}: {log.read_text(errors='replace')[-1500:]}"
        for log in sorted(workdir.glob("*.log"))
    ]


async def run_target(target: str, args: argparse.Namespace) -> Result:
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix=f"ocpp-load-{target}-") as tmp:
        try:
            proc, url = await start_server(
                target, max(args.chargers, args.storm), Path(tmp), notes
            )
        except RuntimeError as err:
            res = Result(target, notes=notes)
            res.notes.append(f"server not available: {err}")
            res.notes += log_tails(Path(tmp))
            return res
        try:
            res = await measure(target, url, proc.pid, args)
            res.notes = notes + res.notes
            return res
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


def report(results: list[Result]) -> None:
    cols = [
        "connected",
        "connect_s",
        "msgs_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "over_100ms_pct",
        "server_cpu_pct",
        "client_cpu_pct",
        "load_avg_1m",
        "rss_mib",
        "hwm_mib",
        "storm_accepted",
        "storm_s",
        "errors",
    ]
    print(
        f"{'metric':<16}"
        + "".join(f"{r.target:>12}" for r in results)
        + ("   evsite/baseline" if len(results) == 2 else "")
    )
    for col in cols:
        vals = [getattr(r, col) for r in results]
        line = f"{col:<16}" + "".join(f"{v:>12}" for v in vals)
        if len(results) == 2:
            line += f"   {ratio(vals[0], vals[1]):>8}"
        print(line)
    for r in results:
        for note in r.notes:
            print(f"[{r.target}] {note}")


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} vCPU ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-evsite":
        config, data, port = sys.argv[2:]
        asyncio.run(serve_evsite(Path(config), Path(data), int(port)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target", choices=("both", "evsite", "baseline"), default="both"
    )
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="MeterValues/s in total"
    )
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds of steady load"
    )
    parser.add_argument("--storm", type=int, default=5000, help="0 skips the storm")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    targets = ["evsite", "baseline"] if args.target == "both" else [args.target]
    print(f"machine: {machine()}")
    print(
        f"load: {args.chargers} chargers, {args.rate:g} msg/s offered for "
        f"{args.duration:g} s, storm of {args.storm}",
        flush=True,
    )
    results = asyncio.run(run_all(targets, args))
    report(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "args": vars(args),
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
    del soft


async def run_all(targets: list[str], args: argparse.Namespace) -> list[Result]:
    """Each target in turn (never concurrently: they share the 2 cores)."""
    return [await run_target(t, args) for t in targets]


if __name__ == "__main__":
    main()
