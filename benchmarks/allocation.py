"""Allocator benchmark: compute time, and fairness against first-come-first-served.

Run: ``.venv/bin/python benchmarks/allocation.py [--quick]``. Prints the numbers
recorded in docs/performance.md ("Allocation").

1. Compute time of ``allocate()`` for 1,000 and 5,000 connectors in a depth-5
   three-phase tree (30 % single-phase chargers on random phases, 10 %
   dual-port stations, a few metered panels, 2 % offline chargers, two
   priority classes); the snapshot changes between runs (random demands).
   Wall time (``perf_counter_ns``) and this thread's CPU time
   (``thread_time_ns``) are both reported. Each scenario runs three times:
   with the garbage collector as Python starts it; with ``gc.freeze()`` called
   once the site is built (the long-lived site objects leave the collector's
   scans); and as the control loop runs it ("control loop": frozen every 5
   cycles as the GcPacer does every 5 s, collection paused during the call).
   The header says whether the compiled loops (``evsite.core.native``) ran;
   ``EVSITE_PURE_PYTHON=1`` times the pure-Python allocator instead.
2. A simulated workplace day (1-minute steps): the same random arrivals are
   served by evsite's allocator and by a first-come-first-served headroom
   allocator (the evcc approach: a car takes whatever headroom is left along
   its path, running cars keep theirs, nobody is rebalanced). Reports Jain's
   fairness index over per-session satisfaction, energy delivered, and the
   sessions that got nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from evsite.config.models import (
    Charger,
    Connector,
    EnergySettings,
    MeterConfig,
    MeterKind,
    Panel,
    Phase,
)
from evsite.control import gc_pacing
from evsite.core import native
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    PanelMeasurement,
    Snapshot,
)
from evsite.core.allocator import allocate
from evsite.core.offline import offline_allocations
from evsite.core.plan import SitePlan
from evsite.core.tree import THREE_PHASES, PanelTree

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
VOLTS = 230.0
METER = MeterConfig(kind=MeterKind.MODBUS_TCP, host="127.0.0.1")


def machine() -> str:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"nproc={os.cpu_count()} cpu={cpu!r} python={platform.python_version()}"


# ---- compute time -----------------------------------------------------------------


# Breaker sizing as a share of the connected load beneath (per phase), by depth:
# a realistic oversubscribed site where limits bind at several levels but the
# 6 A minimums fit. ``squeeze`` < 1 shrinks every breaker (most sessions pause).
SHARE_BY_DEPTH = (0.35, 0.4, 0.5, 0.6, 0.7)


def big_tree(connectors: int, rng: random.Random, squeeze: float = 1.0) -> PanelTree:
    """A depth-5 three-phase tree holding ``connectors`` connectors."""
    fan = (3, 2, 2, 2) if connectors <= 1000 else (4, 3, 3, 3)
    skeleton: list[tuple[str, str | None, int]] = [("root", None, 0)]
    level = ["root"]
    for depth, count in enumerate(fan, start=1):
        nxt = []
        for parent in level:
            for k in range(count):
                pid = f"{parent}.{k}" if parent != "root" else f"p{k}"
                skeleton.append((pid, parent, depth))
                nxt.append(pid)
        level = nxt
    hosts = [pid for pid, _, depth in skeleton if depth >= 2]
    chargers, total, j = [], 0, 0
    while total < connectors:
        ports = 2 if rng.random() < 0.1 and connectors - total >= 2 else 1
        single = rng.random() < 0.3
        chargers.append(
            Charger(
                f"c{j}",
                rng.choice(hosts),
                rng.choice([16, 32]),
                connectors=tuple(Connector(k + 1) for k in range(ports)),
                phases=1 if single else 3,
                phase_connection=rng.choice(THREE_PHASES) if single else None,
                priority=1 if rng.random() < 0.1 else 0,
            )
        )
        total += ports
        j += 1
    parent_of = {pid: parent for pid, parent, _ in skeleton}
    load = dict.fromkeys(parent_of, 0.0)  # connected A per phase beneath
    for c in chargers:
        node: str | None = c.parent
        while node is not None:
            load[node] += c.limit_a if c.phases == 3 else c.limit_a / 3
            node = parent_of[node]
    panels = [
        Panel(
            pid,
            pid,
            max(32, round(SHARE_BY_DEPTH[depth] * squeeze * load[pid] / 0.8)),
            3,
            400,
            parent,
            meter=METER if depth == 1 else None,  # feeders metered
        )
        for pid, parent, depth in skeleton
    ]
    return PanelTree.build(panels, chargers)


def random_demand(key: tuple[str, int], rng: random.Random) -> ConnectorDemand:
    return ConnectorDemand(
        key[0],
        key[1],
        active=rng.random() < 0.8,
        ev_max_a=rng.choice([None, 16.0, 32.0, 10.0]),
        ev_phases=rng.choice([None, 1, 3]),
        energy_wh=rng.uniform(0, 40_000),
    )


def meter_samples(
    tree: PanelTree, now: datetime, rng: random.Random
) -> dict[str, PanelMeasurement]:
    return {
        pid: PanelMeasurement(
            pid,
            dict.fromkeys(THREE_PHASES, rng.uniform(50, 150)),
            now,
            dict.fromkeys(THREE_PHASES, rng.uniform(0, 50)),
        )
        for pid, panel in tree.panels.items()
        if panel.meter is not None
    }


GC_MODES = ("default", "frozen", "control loop")
"""How the garbage collector runs around the timed calls (see the module doc)."""


def time_allocation(
    connectors: int,
    runs: int,
    *,
    change: float,
    squeeze: float = 1.0,
    seed: int = 1,
    gc_mode: str = "default",
) -> dict[str, float]:
    """Time allocate(); ``change`` is the share of demands redrawn per cycle.

    ``gc_mode``: "default" leaves the collector as Python starts it; "frozen"
    calls ``gc.freeze()`` once the site is built; "control loop" also does
    what the running controller does: ``gc.freeze()`` every 5 cycles (the
    GcPacer freezes every 5 s, a cycle runs about once a second; untimed) and
    automatic collection paused during the call (``gc_pacing.paused()``, so
    the young collections run after it). Frozen objects are unfrozen after.
    """
    if gc_mode not in GC_MODES:
        raise ValueError(f"gc_mode must be one of {GC_MODES}, not {gc_mode!r}")
    freeze, control = gc_mode != "default", gc_mode == "control loop"
    rng = random.Random(seed)
    tree = big_tree(connectors, rng, squeeze)
    plan = SitePlan.build(tree)
    energy = EnergySettings()
    offline = offline_allocations(tree, energy)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: random_demand(key, rng) for key in keys}
    states = {
        cid: ChargerState(cid, online=False)
        for cid in rng.sample(sorted(tree.chargers), len(tree.chargers) // 50)
    }
    samples: list[float] = []
    cpu_samples: list[float] = []
    previous, paused = None, 0
    gc.collect()
    if freeze:
        gc.freeze()
    for k in range(runs):
        for key in rng.sample(keys, max(1, int(change * len(keys)))):
            demands[key] = random_demand(key, rng)
        now = T0 + timedelta(seconds=k)
        snap = Snapshot(
            tree,
            energy,
            now,
            dict(demands),
            chargers=states,
            measurements=meter_samples(tree, now, rng),
            offline_allocations=offline,
            previous=previous,
            plan=plan,
        )
        if control and k % 5 == 4:
            gc.freeze()
        pause = gc_pacing.paused() if control else contextlib.nullcontext()
        with pause:
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            previous = allocate(snap)
            cpu_samples.append((time.thread_time_ns() - cpu) / 1e6)
            samples.append((time.perf_counter_ns() - start) / 1e6)
        paused += sum(
            1
            for c in previous.connectors.values()
            if c.reason == "min_current_rotation"
        )
    if freeze:
        gc.unfreeze()
    return {
        "connectors": connectors,
        "panels": len(tree.panels),
        "runs": runs,
        "paused_share": paused / runs / len(keys),
        **percentiles("wall", samples),
        **percentiles("cpu", cpu_samples),
    }


def percentiles(name: str, samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        f"{name}_p50": statistics.median(ordered),
        f"{name}_p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        f"{name}_max": ordered[-1],
    }


# ---- fairness over a simulated day --------------------------------------------------


@dataclass
class Car:
    """One visit: arrival/departure minute, energy wanted, EV limits."""

    arrive: int
    depart: int
    need_wh: float
    ev_max: float
    ev_phases: int
    charger: str = ""
    got_wh: float = 0.0
    limit: float = 0.0


def day_site() -> PanelTree:
    panels = [
        Panel("main", "main", 250, 3, 400),
        Panel("garage-a", "garage-a", 125, 3, 400, "main"),
        Panel("garage-b", "garage-b", 100, 3, 400, "main"),
        Panel("visitors", "visitors", 40, 3, 400, "garage-b"),
    ]
    chargers = []
    for i in range(30):
        parent = "garage-a" if i < 14 else ("garage-b" if i < 24 else "visitors")
        single = i % 3 == 0
        chargers.append(
            Charger(
                f"c{i:02d}",
                parent,
                32,
                phases=1 if single else 3,
                phase_connection=THREE_PHASES[i % 3] if single else None,
            )
        )
    return PanelTree.build(panels, chargers)


def arrivals(rng: random.Random, count: int) -> list[Car]:
    cars = []
    for _ in range(count):
        arrive = int(max(0, min(1300, rng.gauss(8.5 * 60, 90))))
        stay = int(rng.uniform(2, 9) * 60)
        cars.append(
            Car(
                arrive,
                min(1439, arrive + stay),
                rng.uniform(5_000, 45_000),
                rng.choice([16.0, 32.0]),
                rng.choice([1, 3, 3]),
            )
        )
    return sorted(cars, key=lambda c: c.arrive)


def phases_of(tree: PanelTree, car: Car) -> tuple[Phase, ...]:
    charger = tree.chargers[car.charger]
    if charger.phases == 3 and car.ev_phases == 1:
        return (Phase.L1,)
    return tree.charger_phases(charger)


def fcfs_step(tree: PanelTree, cars: list[Car], energy: EnergySettings) -> None:
    """evcc-style: keep what you have, grow only into free headroom, arrival order."""
    used = {(p, ph): 0.0 for p in tree.panels for ph in THREE_PHASES}
    for car in cars:
        for p in tree.ancestors(tree.chargers[car.charger].parent):
            for ph in phases_of(tree, car):
                used[(p, ph)] += car.limit
    for car in cars:  # arrival order
        path = [
            (p, ph)
            for p in tree.ancestors(tree.chargers[car.charger].parent)
            for ph in phases_of(tree, car)
        ]
        headroom = min(tree.panels[p].capacity_a - used[(p, ph)] for p, ph in path)
        want = min(car.ev_max, tree.chargers[car.charger].limit_a)
        new = min(want, car.limit + max(0.0, headroom))
        new = 0.0 if new < energy.min_current_a else int(new * 10) / 10
        for key in path:
            used[key] += new - car.limit
        car.limit = new


def evsite_step(
    tree: PanelTree,
    cars: list[Car],
    energy: EnergySettings,
    minute: int,
    previous: Allocation | None,
) -> Allocation:
    demands = {
        (car.charger, 1): ConnectorDemand(
            car.charger,
            1,
            active=True,
            ev_max_a=car.ev_max,
            ev_phases=car.ev_phases,
            energy_wh=car.got_wh,
        )
        for car in cars
    }
    result = allocate(
        Snapshot(
            tree, energy, T0 + timedelta(minutes=minute), demands, previous=previous
        )
    )
    for car in cars:
        car.limit = result.limit(car.charger, 1)
    return result


def simulate(policy: str, seed: int, count: int) -> dict[str, float]:
    rng = random.Random(seed)
    tree, energy = day_site(), EnergySettings()
    cars = arrivals(rng, count)
    free = sorted(tree.chargers)
    plugged: list[Car] = []
    served: list[Car] = []
    previous: Allocation | None = None
    queue = list(cars)
    for minute in range(1440):
        for car in [c for c in plugged if c.depart <= minute]:
            plugged.remove(car)
            free.append(car.charger)
        while queue and queue[0].arrive <= minute:
            car = queue.pop(0)
            if free:  # no free charger: the driver parks elsewhere (both policies)
                car.charger = free.pop(0)
                plugged.append(car)
                served.append(car)
        wanting = [c for c in plugged if c.got_wh < c.need_wh]
        for car in plugged:
            if car not in wanting:
                car.limit = 0.0
        if policy == "fcfs":
            fcfs_step(tree, wanting, energy)
        else:
            previous = evsite_step(tree, wanting, energy, minute, previous)
        for car in wanting:
            car.got_wh = min(
                car.need_wh,
                car.got_wh + car.limit * VOLTS * len(phases_of(tree, car)) / 60,
            )
    shares = []
    for car in served:
        alone = min(car.ev_max, 32.0) * VOLTS * len(phases_of(tree, car))
        reachable = min(car.need_wh, alone * (car.depart - car.arrive) / 60)
        shares.append(car.got_wh / reachable if reachable > 0 else 1.0)
    jain = sum(shares) ** 2 / (len(shares) * sum(s * s for s in shares))
    return {
        "sessions": len(served),
        "jain": jain,
        "energy_kwh": sum(c.got_wh for c in served) / 1000,
        "starved": sum(1 for c in served if c.got_wh == 0),
        "min_share": min(shares),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument(
        "--only", choices=("time", "fairness"), help="run one part of the benchmark"
    )
    args = parser.parse_args()
    print(machine())
    print(f"compiled loops: {'yes' if native.NATIVE is not None else 'no'}")
    if args.only != "fairness":
        compute_time(args.quick)
    if args.only != "time":
        fairness(args.quick)


def compute_time(quick: bool) -> None:
    """Print allocate() time per scenario and size, with and without gc.freeze()."""
    runs = (100, 30) if quick else (1000, 300)
    scenarios = (
        ("steady: 2% of demands change per cycle", 0.02, 1.0),
        ("churn: every demand redrawn per cycle", 1.0, 1.0),
        ("squeezed: breakers x0.25, most sessions rotate", 0.02, 0.25),
    )
    print(f"load average before: {os.getloadavg()}")
    for label, change, squeeze in scenarios:
        print(label)
        for connectors, n in zip((1000, 5000), runs, strict=True):
            for gc_mode in GC_MODES:
                r = time_allocation(
                    connectors, n, change=change, squeeze=squeeze, gc_mode=gc_mode
                )
                print(
                    f"  {r['connectors']} connectors / {r['panels']} panels, "
                    f"{r['runs']} runs, gc {gc_mode}"
                    f" (paused {r['paused_share']:.0%}): wall p50 {r['wall_p50']:.2f}"
                    f" p99 {r['wall_p99']:.2f} max {r['wall_max']:.2f} ms; CPU p50 "
                    f"{r['cpu_p50']:.2f} p99 {r['cpu_p99']:.2f} max "
                    f"{r['cpu_max']:.2f} ms"
                )
    print(f"load average after: {os.getloadavg()}")


def fairness(quick: bool) -> None:
    """Print the simulated-day comparison against first-come-first-served."""
    seeds = range(3) if quick else range(10)
    for policy in ("evsite", "fcfs"):
        rows = [simulate(policy, seed, 60) for seed in seeds]

        def mean(field: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.mean(r[field] for r in rows)

        print(
            f"day {policy:6}: sessions {mean('sessions'):.1f}, "
            f"Jain {mean('jain'):.3f}, "
            f"energy {mean('energy_kwh'):.0f} kWh, starved {mean('starved'):.1f}, "
            f"worst share {mean('min_share'):.2f} (mean of {len(rows)} days)"
        )


if __name__ == "__main__":
    main()
