"""Servers for ``ocpp_load.py``: start evsite or the baseline as a process; RSS/CPU."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from ocpp_load_client import ids

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benchmarks" / "baseline_csms.py"


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


if __name__ == "__main__" and sys.argv[1:2] == ["--serve-evsite"]:
    config, data, port = sys.argv[2:5]
    asyncio.run(serve_evsite(Path(config), Path(data), int(port)))
