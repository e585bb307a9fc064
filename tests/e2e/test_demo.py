"""The README's first command: ``evsite demo`` brings up a working site."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import yaml

from evsite.cli import DEMO_TOKEN, demo_site_file
from tests.conftest import free_port


def _get(url: str) -> Any:
    request = urllib.request.Request(url)
    request.add_header("Authorization", f"Bearer {DEMO_TOKEN}")
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.loads(response.read())


def _poll(url: str, proc: subprocess.Popen[bytes], ok: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, "demo exited early"
        try:
            last = _get(url)
        except OSError:
            last = None
        if last is not None and ok(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{url} never satisfied the check; last: {last!r}")


def test_demo_serves_the_example_with_connected_simulated_chargers() -> None:
    web, ocpp = free_port(), free_port()
    expected = {
        c["id"] for c in yaml.safe_load(demo_site_file().read_text())["chargers"]
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evsite",
            "--log-level",
            "WARNING",
            "demo",
            "--web-port",
            str(web),
            "--ocpp-port",
            str(ocpp),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{web}/api/v1"
        chargers = _poll(f"{base}/chargers", proc, lambda d: len(d) > 0, 30)
        assert {c["id"] for c in chargers} == expected
        # Every simulated charger connects over OCPP and reports its connectors.
        allocation = _poll(
            f"{base}/allocation",
            proc,
            lambda d: (
                {c["charger_id"] for c in d["connectors"]} == expected
                and all(c["status"] != "unknown" for c in d["connectors"])
            ),
            30,
        )
        panels = {p["panel_id"]: p for p in allocation["panels"]}
        # The metered main panel reads the simulated meter, never a LAN address.
        metered = [p for p in panels.values() if p["measured_a"] is not None]
        assert metered
        assert not any(p["stale"] for p in metered)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"Traceback" not in out
