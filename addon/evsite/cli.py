"""The ``evsite`` command: run, demo, simulate, check-config, import, export, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from evsite import __version__
from evsite.config.load import LoadedSite, load_site_file
from evsite.errors import ConfigError, EvsiteError

_LOGGER = logging.getLogger("evsite")

DEMO_SITE = "apartment-building.yaml"
DEMO_TOKEN = "evsite-demo-token-please-change"  # Documented in the README.


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def demo_site_file() -> Path:
    """The example site the demo runs (from the checkout's panel_config/)."""
    return _repo_root() / "panel_config" / DEMO_SITE


def _print_problems(err: ConfigError, out: Callable[[str], None]) -> None:
    for problem in err.problems:
        out(str(problem))


def _err(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a site file: one line per problem, non-zero exit on errors."""
    try:
        loaded = load_site_file(Path(args.path))
    except ConfigError as err:
        _print_problems(err, _err)
        return 1
    for warning in loaded.warnings:
        _err(f"warning: {warning}")
    config = loaded.config
    print(
        f"{args.path}: ok - site '{config.site.id}', {len(config.panels)} panels, "
        f"{len(config.chargers)} chargers"
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the site-file format."""
    from evsite.config.jsonschema import site_json_schema

    print(json.dumps(site_json_schema(), indent=2))
    return 0


async def _open_db(data: Path):  # type: ignore[no-untyped-def]
    from evsite.adapters.storage.db import Database
    from evsite.app import DB_FILE

    return await Database.open(data / DB_FILE)


def cmd_import(args: argparse.Namespace) -> int:
    """Load a site YAML file into an empty database."""
    from evsite.config.transfer import import_site

    loaded = load_site_file(Path(args.path))

    async def run() -> None:
        db = await _open_db(Path(args.data))
        try:
            await import_site(db, loaded)
        finally:
            await db.close()

    asyncio.run(run())
    print(f"imported site '{loaded.config.site.id}' into {args.data}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the database's site back to YAML (stdout or a file)."""
    from evsite.config.transfer import export_site

    async def run() -> str:
        db = await _open_db(Path(args.data))
        try:
            return await export_site(db)
        finally:
            await db.close()

    text = asyncio.run(run())
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _serve(loaded: LoadedSite, data: Path) -> None:
    from evsite.app import EvsiteApp, run_until_stopped

    stop = asyncio.Event()
    _install_signal_handlers(stop)
    await run_until_stopped(EvsiteApp(loaded, loaded.config.service, data), stop)


async def _serve_demo(loaded: LoadedSite, data: Path, with_fleet: bool) -> None:
    from evsite.app import EvsiteApp
    from evsite.demo import feed_meters, seed_residents, simulate_meters
    from evsite.simulator.fleet import run_fleet

    stop = asyncio.Event()
    _install_signal_handlers(stop)
    loaded, meters = await simulate_meters(loaded)
    app = EvsiteApp(loaded, loaded.config.service, data)
    tasks: list[asyncio.Task[object]] = []
    try:
        services = await app.start()
        tags = await seed_residents(services)
        tasks.append(asyncio.create_task(feed_meters(services, meters, stop)))
        if with_fleet:
            url = f"ws://127.0.0.1:{app.ocpp_port}/ocpp/"
            fleet = run_fleet(
                url, loaded.config, scenario="demo", stop=stop, tags_by_charger=tags
            )
            tasks.append(asyncio.create_task(fleet))
        print("evsite demo: running; Ctrl-C stops", flush=True)
        await stop.wait()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.stop()
        await meters.stop()


def cmd_run(args: argparse.Namespace) -> int:
    """Run a site from its YAML file, data in ``--data``."""
    loaded = load_site_file(Path(args.config))
    for warning in loaded.warnings:
        _LOGGER.warning("config: %s", warning)
    asyncio.run(_serve(loaded, Path(args.data)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the apartment example with simulated chargers and a fresh database."""
    path = demo_site_file()
    if not path.exists():
        _err(f"demo site not found: {path} (run from a checkout of evsite)")
        return 1
    loaded = load_site_file(path)
    service = loaded.config.service
    # Loopback only: the demo talks to nothing outside this machine.
    service = replace(
        service,
        web=replace(service.web, host="127.0.0.1", port=args.web_port),
        ocpp=replace(service.ocpp, host="127.0.0.1", port=args.ocpp_port),
        api=replace(service.api, token=service.api.token or DEMO_TOKEN),
        mqtt=replace(service.mqtt, enabled=False),
    )
    loaded = replace(loaded, config=replace(loaded.config, service=service))
    data = Path(tempfile.mkdtemp(prefix="evsite-demo-"))
    token = service.api.token
    print(
        f"evsite demo: site '{loaded.config.site.id}' with "
        f"{len(loaded.config.chargers)} simulated chargers\n"
        f"  web/API: http://127.0.0.1:{args.web_port}/api/v1  (token: {token})\n"
        f"  OCPP:    ws://127.0.0.1:{args.ocpp_port}/ocpp/<charger_id>\n"
        f"  try:     curl -H 'Authorization: Bearer {token}' "
        f"http://127.0.0.1:{args.web_port}/api/v1/chargers\n"
        f"  data:    {data} (removed on exit)",
        flush=True,
    )
    try:
        asyncio.run(_serve_demo(loaded, data, with_fleet=not args.no_simulator))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run simulated chargers against a running evsite."""
    from evsite.simulator.fleet import simulate_main

    return simulate_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``evsite`` command."""
    parser = argparse.ArgumentParser(prog="evsite", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a site")
    run.add_argument("--config", required=True, help="site YAML file")
    run.add_argument("--data", default="data", help="data directory (SQLite)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="run the demo site with simulated chargers")
    demo.add_argument("--web-port", type=int, default=8099)
    demo.add_argument("--ocpp-port", type=int, default=9000)
    demo.add_argument("--no-simulator", action="store_true")
    demo.set_defaults(func=cmd_demo)

    simulate = sub.add_parser("simulate", help="run simulated chargers")
    simulate.add_argument("rest", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=cmd_simulate)

    check = sub.add_parser("check-config", help="validate a site file")
    check.add_argument("path")
    check.set_defaults(func=cmd_check_config)

    imp = sub.add_parser("import", help="load a site file into an empty database")
    imp.add_argument("path")
    imp.add_argument("--data", default="data")
    imp.set_defaults(func=cmd_import)

    exp = sub.add_parser("export", help="write the database's site as YAML")
    exp.add_argument("--data", default="data")
    exp.add_argument("--output", "-o", default="-")
    exp.set_defaults(func=cmd_export)

    schema = sub.add_parser("schema", help="print the JSON Schema of site files")
    schema.set_defaults(func=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if "simulate" in raw:
        # argparse.REMAINDER does not capture leading --options; hand everything
        # after "simulate" to the simulator's own parser.
        cut = raw.index("simulate") + 1
        args = build_parser().parse_args(raw[:cut])
        args.rest = raw[cut:]
    else:
        args = build_parser().parse_args(raw)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except ConfigError as err:
        _print_problems(err, _err)
        return 1
    except EvsiteError as err:
        _err(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        return 130
    return code
