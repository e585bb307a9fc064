"""Instructions per ``allocate()`` call, for comparing two commits on a busy machine.

Wall and CPU times move by 10-50 % on a shared host; the number of machine
instructions does not (it ignores cache misses, so it is a guide, not a time).
Run the same scenario twice under callgrind, once with ``--skip`` (everything
but the timed ``allocate()`` calls), and divide the difference by the cycles::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/allocation_instructions.py 1000 steady 6
    valgrind ... benchmarks/allocation_instructions.py 1000 steady 6 --skip

Each prints nothing; callgrind's "Collected" line is the total. Set
``PYTHONHASHSEED=0`` for both runs (string hashes change dict probing). The
site, demands and meter samples are those of ``allocation.py``; 12 cycles
run first so the previous allocation is fed back as in the control loop.
"""

from __future__ import annotations

import argparse
import gc
import random
from dataclasses import replace
from datetime import timedelta

from allocation import T0, big_tree, meter_samples, random_demand

from evsite.config.models import EnergySettings
from evsite.core.allocation_model import Allocation, ChargerState, Snapshot
from evsite.core.allocator import allocate
from evsite.core.offline import offline_allocations
from evsite.core.plan import SitePlan

SCENARIOS = {"steady": (0.02, 1.0), "churn": (1.0, 1.0), "squeezed": (0.02, 0.25)}
WARM_UP = 12


def snapshots(connectors: int, scenario: str, cycles: int) -> list[Snapshot]:
    """The benchmark's snapshots (without ``previous``), built before timing."""
    change, squeeze = SCENARIOS[scenario]
    rng = random.Random(1)
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
    result = []
    for k in range(cycles):
        for key in rng.sample(keys, max(1, int(change * len(keys)))):
            demands[key] = random_demand(key, rng)
        now = T0 + timedelta(seconds=k)
        result.append(
            Snapshot(
                tree,
                energy,
                now,
                dict(demands),
                chargers=states,
                measurements=meter_samples(tree, now, rng),
                offline_allocations=offline,
                plan=plan,
            )
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("connectors", type=int)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("cycles", type=int)
    parser.add_argument("--skip", action="store_true", help="all but the cycles")
    args = parser.parse_args()
    snaps = snapshots(args.connectors, args.scenario, WARM_UP + args.cycles)
    previous: Allocation | None = None
    for snap in snaps[:WARM_UP]:
        previous = allocate(replace(snap, previous=previous))
    gc.collect()
    gc.freeze()
    gc.disable()
    if args.skip:
        return
    for snap in snaps[WARM_UP:]:
        previous = allocate(replace(snap, previous=previous))


if __name__ == "__main__":
    main()
