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
import gc
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import aiohttp
from ocpp_load_client import Result, _worst_second, connect_all, ids, steady, storm
from ocpp_load_servers import cpu_seconds, log_tails, rss, start_server


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
            # The client's own full collections (100+ ms over 1,000 sockets)
            # would count as server latency: none while measuring.
            gc.freeze()
            gc.disable()
            try:
                await steady(chargers, args.rate, args.duration, res)
            finally:
                gc.enable()
                gc.unfreeze()
            wall = time.monotonic() - wall0
            res.server_cpu_pct = round(100 * (cpu_seconds(pid) - cpu0) / wall, 1)
            res.client_cpu_pct = round(100 * (time.process_time() - mine0) / wall, 1)
            # Other processes on the machine skew the figures: record how busy it was.
            res.load_avg_1m = round(os.getloadavg()[0], 2)
        res.rss_mib, res.hwm_mib = (round(v, 1) for v in rss(pid))
        await asyncio.gather(*(c.close() for c in chargers), return_exceptions=True)
    if args.storm:
        await asyncio.sleep(1.0)  # let the server notice the disconnects
        await storm(url, ids(args.storm), res)
    return res


# -- servers -------------------------------------------------------------------


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
        res = Result(target, notes=notes)
        try:
            res = await measure(target, url, proc.pid, args)
            res.notes = notes + res.notes
            return res
        finally:
            started = time.monotonic()
            proc.terminate()
            try:
                proc.wait(15)
                took = time.monotonic() - started
                res.notes.append(f"exited {took:.1f} s after SIGTERM")
            except subprocess.TimeoutExpired:
                res.notes.append("still running 15 s after SIGTERM: killed")
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


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def details(results: list[Result]) -> None:
    """Where each run was slowest, and how the storm ended."""
    for r in results:
        worst = _worst_second(r.trace)
        if worst:
            print(
                f"[{r.target}] slowest second of the run: t={worst[0]:.0f} s, "
                f"p99 {worst[1]:.0f} ms over {worst[2]} acks"
            )
        slow = sorted({int(t) for t, lat in r.trace if lat > 0.1})
        if slow:
            print(f"[{r.target}] seconds with an ack over 100 ms: {slow}")
        r.trace = []
        if r.storm_outcomes:
            print(f"[{r.target}] storm outcomes: {r.storm_outcomes}")


def main() -> None:
    args = build_parser().parse_args()
    # Thousands of sockets on both ends: raise the descriptor limit to the maximum.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
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
    details(results)
    if args.json:
        doc = {"machine": machine(), "args": vars(args)}
        doc["results"] = [asdict(r) for r in results]
        Path(args.json).write_text(json.dumps(doc, indent=2))


async def run_all(targets: list[str], args: argparse.Namespace) -> list[Result]:
    """Each target in turn (never concurrently: they share the 2 cores)."""
    return [await run_target(t, args) for t in targets]


if __name__ == "__main__":
    main()
