"""Many simulated chargers from a site config, driven by a seeded scenario."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evsite.config.models import SiteConfig
from evsite.errors import ChargerError
from evsite.simulator.charger import SimCharger
from evsite.simulator.ev import Ev

_LOG = logging.getLogger(__name__)

DEMO_TAGS: tuple[str, ...] = tuple(f"DEMO{n:04d}" for n in range(1, 21))


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    """What the fleet needs to know about one charger."""

    id: str
    connectors: tuple[int, ...] = (1,)
    phases: int = 3
    max_current_a: float = 32.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """Timing of a scenario in seconds: (min, max) ranges drawn uniformly."""

    idle_s: tuple[float, float]
    stay_s: tuple[float, float]
    tap_delay_s: tuple[float, float] = (1.0, 5.0)


SCENARIOS: dict[str, Scenario] = {
    "demo": Scenario(idle_s=(5.0, 90.0), stay_s=(120.0, 900.0)),
    "busy": Scenario(idle_s=(1.0, 10.0), stay_s=(20.0, 120.0), tap_delay_s=(0.2, 1.0)),
    "quick": Scenario(idle_s=(0.01, 0.1), stay_s=(0.1, 0.5), tap_delay_s=(0.01, 0.05)),
    "idle": Scenario(idle_s=(1e9, 1e9), stay_s=(1.0, 1.0)),
}


def specs_from_config(config: SiteConfig) -> list[ChargerSpec]:
    """One spec per configured charger: ids, connectors, phases, limit."""
    return [
        ChargerSpec(c.id, tuple(k.id for k in c.connectors), c.phases, c.limit_a)
        for c in config.chargers
    ]


def specs_by_count(count: int, prefix: str = "SIM") -> list[ChargerSpec]:
    """``count`` two-connector chargers named ``SIM0001`` and up."""
    return [ChargerSpec(f"{prefix}{n:04d}", (1, 2)) for n in range(1, count + 1)]


def pick_version(version: str, index: int) -> str:
    """1.6, 2.0.1, or alternating for "mixed"."""
    if version == "mixed":
        return "1.6" if index % 2 == 0 else "2.0.1"
    return version


class Fleet:
    """Simulated chargers running a scenario until told to stop."""

    def __init__(
        self,
        url_base: str,
        specs: Sequence[ChargerSpec],
        *,
        version: str = "mixed",
        seed: int = 0,
        meter_interval: float = 10.0,
        tags: Sequence[str] = DEMO_TAGS,
        passwords: Mapping[str, str] | None = None,
        tags_by_charger: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """One :class:`SimCharger` per spec; taps use per-charger tags if given."""
        self.rng = random.Random(seed)
        self.tags = tuple(tags)
        self.tags_by_charger = {k: tuple(v) for k, v in (tags_by_charger or {}).items()}
        self.chargers = [
            SimCharger(
                spec.id,
                url_base,
                pick_version(version, i),
                connectors=spec.connectors,
                phases=spec.phases,
                max_current_a=spec.max_current_a,
                password=(passwords or {}).get(spec.id),
                meter_interval=meter_interval,
            )
            for i, spec in enumerate(specs)
        ]
        self.sessions = 0

    async def connect_all(self, stop: asyncio.Event, retry_s: float = 1.0) -> None:
        """Connect every charger (staggered), retrying until the server answers."""

        async def one(sim: SimCharger) -> None:
            while not stop.is_set():
                try:
                    await sim.connect()
                    return
                except ChargerError as err:
                    _LOG.info("%s: %s; retrying", sim.id, err)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), retry_s)

        await asyncio.gather(*(one(sim) for sim in self.chargers))

    async def run(self, scenario: str, stop: asyncio.Event) -> None:
        """Connect, drive every connector until ``stop``, then disconnect."""
        plan = SCENARIOS.get(scenario)
        if plan is None:
            raise ValueError(
                f"unknown scenario {scenario!r}; one of {sorted(SCENARIOS)}"
            )
        try:
            await self.connect_all(stop)
            drivers = [
                asyncio.create_task(self._drive(sim, c, plan, stop, self.rng.random()))
                for sim in self.chargers
                for c in sim.connectors
            ]
            await stop.wait()
            for task in drivers:
                task.cancel()
            await asyncio.gather(*drivers, return_exceptions=True)
        finally:
            await asyncio.gather(*(sim.close() for sim in self.chargers))

    async def _drive(
        self,
        sim: SimCharger,
        connector: int,
        plan: Scenario,
        stop: asyncio.Event,
        seed: float,
    ) -> None:
        """Arrive, tap, charge, leave; repeat with seeded random timing."""
        rng = random.Random(seed)
        while not stop.is_set():
            if await _pause(stop, rng.uniform(*plan.idle_s)):
                return
            try:
                await self._visit(sim, connector, plan, stop, rng)
            except ChargerError as err:  # charger offline: try the next visit
                _LOG.info("%s/%s: %s", sim.id, connector, err)

    async def _visit(
        self,
        sim: SimCharger,
        connector: int,
        plan: Scenario,
        stop: asyncio.Event,
        rng: random.Random,
    ) -> None:
        """One car: plug in, tap a card, stay, unplug."""
        capacity = rng.choice((40_000.0, 60_000.0, 77_000.0))
        ev = Ev(
            max_current_a=rng.choice((16.0, 24.0, 32.0)),
            phases=rng.choice((1, 3, 3)),
            capacity_wh=capacity,
            soc_wh=capacity * rng.uniform(0.1, 0.7),
        )
        await sim.plug_in(connector, ev)
        if await _pause(stop, rng.uniform(*plan.tap_delay_s)):
            return
        tags = self.tags_by_charger.get(sim.id) or self.tags
        if await sim.tap(connector, rng.choice(tags)):
            self.sessions += 1
        if await _pause(stop, rng.uniform(*plan.stay_s)):
            return
        await sim.unplug(connector)


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped first; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def run_fleet(
    url_base: str,
    config: SiteConfig,
    *,
    scenario: str = "demo",
    seed: int = 0,
    stop: asyncio.Event,
    version: str = "mixed",
    meter_interval: float = 10.0,
    tags: Sequence[str] = DEMO_TAGS,
    passwords: Mapping[str, str] | None = None,
    tags_by_charger: Mapping[str, Sequence[str]] | None = None,
) -> Fleet:
    """Run one simulated charger per configured charger until ``stop`` is set."""
    fleet = Fleet(
        url_base,
        specs_from_config(config),
        version=version,
        seed=seed,
        meter_interval=meter_interval,
        tags=tags,
        passwords=passwords,
        tags_by_charger=tags_by_charger,
    )
    await fleet.run(scenario, stop)
    return fleet


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``evsite simulate``."""
    parser = argparse.ArgumentParser(
        prog="evsite simulate", description="Simulated OCPP chargers."
    )
    parser.add_argument(
        "--url", default="ws://127.0.0.1:9000/ocpp", help="OCPP base URL"
    )
    parser.add_argument(
        "--config", help="site YAML: one charger per configured charger"
    )
    parser.add_argument("--count", type=int, default=0, help="or: N synthetic chargers")
    parser.add_argument("--version", choices=("1.6", "2.0.1", "mixed"), default="mixed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--meter-interval", type=float, default=10.0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    parser.add_argument(
        "--duration", type=float, default=0.0, help="seconds; 0 = forever"
    )
    parser.add_argument("--tags", default=",".join(DEMO_TAGS), help="comma-separated")
    return parser


def simulate_main(argv: Sequence[str] | None = None) -> int:
    """``evsite simulate``: exit code 0 on a clean stop, 2 on bad arguments."""
    args = build_parser().parse_args(argv)
    if bool(args.config) == bool(args.count):
        print("evsite simulate: give exactly one of --config PATH or --count N")
        return 2
    if args.config:
        from pathlib import Path

        from evsite.config.load import load_site_file
        from evsite.errors import ConfigError

        try:
            specs = specs_from_config(load_site_file(Path(args.config)).config)
        except ConfigError as err:
            print(f"evsite simulate: {err}")
            return 2
    else:
        specs = specs_by_count(args.count)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)  # main thread only
        if args.duration > 0:
            loop.call_later(args.duration, stop.set)
        fleet = Fleet(
            args.url,
            specs,
            version=args.version,
            seed=args.seed,
            meter_interval=args.meter_interval,
            tags=[t for t in args.tags.split(",") if t],
        )
        await fleet.run(args.scenario, stop)
        print(f"{len(fleet.chargers)} chargers, {fleet.sessions} sessions started")
        return 0

    return asyncio.run(main())
