"""The ``evsite`` command, run as a real subprocess where it matters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from evsite.cli import main
from tests.conftest import EXAMPLES, free_port

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_check_config_accepts_examples(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_config_prints_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(EXAMPLE_FILES[0].read_text())
    data["chargers"][0]["parent"] = "garage-x"
    data["chargers"][1]["limit_a"] = 5000
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(bad)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("chargers[1].limit_a:") for line in lines)
    assert all(": " in line for line in lines)
    assert "Traceback" not in "\n".join(lines)


def test_check_config_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "/nonexistent/site.yaml"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["type"] == "object"
    assert "chargers" in schema["properties"]


def test_import_export_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main(["import", str(EXAMPLE_FILES[0]), "--data", str(data)]) == 0
    out = tmp_path / "export.yaml"
    assert main(["export", "--data", str(data), "-o", str(out)]) == 0
    # A second import into the same database is refused with a clear message.
    assert main(["import", str(out), "--data", str(data)]) == 1
    assert "already holds site" in capsys.readouterr().err
    data2 = tmp_path / "data2"
    assert main(["import", str(out), "--data", str(data2)]) == 0
    out2 = tmp_path / "export2.yaml"
    assert main(["export", "--data", str(data2), "-o", str(out2)]) == 0
    assert out.read_text() == out2.read_text()


def _site_file(tmp_path: Path, web_port: int, ocpp_port: int) -> Path:
    data = yaml.safe_load(EXAMPLE_FILES[0].read_text())
    data["web"] = {"host": "127.0.0.1", "port": web_port}
    data["ocpp"] = {"host": "127.0.0.1", "port": ocpp_port}
    data["api"] = {"token": "cli-test-token-0123456789"}
    data.pop("mqtt", None)
    # Tests talk to 127.0.0.1 only: the example's meter is on the site's LAN.
    for panel in data["panels"]:
        panel["meter"] = None
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=2) as response:
        return response.status, response.read()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"evsite exited early: {proc.returncode}")
        try:
            status, _ = _get(url)
        except OSError:
            time.sleep(0.1)
            continue
        if status == 200:
            return
    raise AssertionError("evsite did not become healthy")


def test_run_serves_api_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    web_port = free_port()
    site = _site_file(tmp_path, web_port, free_port())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evsite",
            "run",
            "--config",
            str(site),
            "--data",
            str(tmp_path / "data"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "EVSITE_TOKEN": ""},
    )
    try:
        base = f"http://127.0.0.1:{web_port}/api/v1"
        _wait_healthy(f"{base}/health", proc)
        status, body = _get(f"{base}/chargers", "cli-test-token-0123456789")
        expected = yaml.safe_load(EXAMPLE_FILES[0].read_text())["chargers"]
        assert status == 200
        assert {c["id"] for c in json.loads(body)} == {c["id"] for c in expected}
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"evsite stopped" in out
    assert b"Traceback" not in out


def test_run_refuses_an_invalid_site(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE_FILES[0].read_text())
    data["panels"][1]["parent"] = data["panels"][1]["id"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evsite",
            "run",
            "--config",
            str(bad),
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1
    assert b"panels[1].parent" in proc.stderr
    assert not (tmp_path / "data").exists()
