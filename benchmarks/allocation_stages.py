"""Where ``allocate()`` spends its time, and the floor for any per-cycle allocator.

Run: ``.venv/bin/python benchmarks/allocation_stages.py [--cycles 200]``. Prints
the numbers behind docs/performance.md ("Allocation", "Where the time goes").

1. **Stages.** The "steady" scenario of ``allocation.py`` (same site, demands
   and meter samples; ``gc.freeze()`` after building the site), with a timer
   around each stage of ``allocate()``: capacities and resources, classifying
   every connector, flow columns and pruning, admission, water-filling, rounding,
   per-connector limits, panel figures, rotation. Mean ms per call over the
   cycles, and the share of the whole. The timers cost about 1 µs per stage.
2. **Floor.** What a cycle costs before any allocation work when it reads every
   connector's demand: one dict lookup per connector, and that lookup plus the
   eight demand fields the classification reads. An allocator that looks at
   every connector on every cycle cannot be cheaper than this in CPython.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import allocation
from allocation import big_tree, machine, random_demand, time_allocation

from evsite.core import allocator, flowbuild

# Stage name -> (owner, attribute): the functions allocate() calls once per cycle.
STAGES: dict[str, tuple[Any, str]] = {
    "capacities and resources": (flowbuild.FlowBuilder, "__init__"),
    "classify connectors": (flowbuild.FlowBuilder, "add_all"),
    "flow columns and pruning": (flowbuild.FlowBuilder, "finish"),
    "admission": (allocator, "_admit"),
    "water-filling, rounding and reasons per flow": (allocator, "_fill_and_round"),
    "limits per connector": (allocator, "_competing_limits"),
    "panel figures": (allocator, "_panels"),
    "rotation state": (allocator, "rotate"),
}


def _timed(func: Callable[..., Any], name: str, acc: dict[str, int]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return func(*args, **kwargs)
        finally:
            acc[name] += time.perf_counter_ns() - start

    return wrapper


def stages(connectors: int, cycles: int) -> None:
    """Print the mean time per stage for the "steady" scenario."""
    acc: dict[str, int] = defaultdict(int)
    saved = {name: getattr(owner, attr) for name, (owner, attr) in STAGES.items()}
    whole = allocation.allocate
    for name, (owner, attr) in STAGES.items():
        setattr(owner, attr, _timed(saved[name], name, acc))
    allocation.allocate = _timed(whole, "whole allocate()", acc)
    try:
        time_allocation(connectors, cycles, change=0.02, gc_mode="frozen")
    finally:
        for name, (owner, attr) in STAGES.items():
            setattr(owner, attr, saved[name])
        allocation.allocate = whole
    total = acc.pop("whole allocate()") / cycles / 1e6
    print(f"  {connectors} connectors, {cycles} cycles: allocate() {total:.2f} ms")
    for name, ns in sorted(acc.items(), key=lambda item: -item[1]):
        ms = ns / cycles / 1e6
        print(f"    {name:36} {ms:6.2f} ms  {ms / total:4.0%}")


def floor(connectors: int, cycles: int) -> None:
    """Print the cost of reading every connector's demand once."""
    rng = random.Random(1)
    tree = big_tree(connectors, rng)
    keys = [(c.id, k.id) for c in tree.chargers.values() for k in c.connectors]
    demands = {key: random_demand(key, rng) for key in keys}
    lookups, fields = [], []
    for _ in range(cycles):
        fresh = dict(demands)  # a new mapping per cycle, as the control loop has
        get = fresh.get
        start = time.perf_counter_ns()
        for key in keys:
            get(key)
        lookups.append(time.perf_counter_ns() - start)
        start = time.perf_counter_ns()
        for key in keys:
            d = get(key)
            if d is not None:
                (d.active, d.access_closed, d.delayed, d.charge_now)  # noqa: B018
                (d.ev_max_a, d.ev_phases, d.weight, d.priority)  # noqa: B018
        fields.append(time.perf_counter_ns() - start)
    print(
        f"  {connectors} connectors: one lookup each "
        f"{statistics.median(lookups) / 1e6:.2f} ms; lookup and 8 fields "
        f"{statistics.median(fields) / 1e6:.2f} ms (medians of {cycles})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    print(machine())
    gc.collect()
    print("stages of allocate() (steady, gc frozen):")
    for connectors in (1000, 5000):
        stages(connectors, args.cycles if connectors == 1000 else args.cycles // 4)
    print("floor: reading every connector's demand once per cycle:")
    for connectors in (1000, 5000):
        floor(connectors, args.cycles)


if __name__ == "__main__":
    main()
