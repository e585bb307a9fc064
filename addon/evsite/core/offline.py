"""Offline allocations: safe defaults and the invariant (SPEC §2.3).

A charger that loses its link enforces its offline allocation on its own, and
all chargers may be offline together, so for every panel and phase the sum of
offline allocations beneath it must fit the panel's capacity (breaker ×
continuous factor; scheduled limits are not in force at a charger that cannot
hear evsite, so they are not counted). A charger wired line-to-line counts
its allocation on both of its lines.

Explicit values come from ``Charger.overrides.offline_allocation_a``, else the
site's ``energy.offline_allocation_a`` (capped at the charger's limit).
Chargers without one get a computed default: the max-min fair share of what
the explicit ones leave in every ancestor, capped at the charger's limit,
0 A or at least the minimum current, rounded down to 0.1 A — computed by the
allocator itself with every such charger wanting current, so it can never
break the invariant.

Public API:
    explicit_offline(tree, energy) -> dict[str, float]
    offline_allocations(tree, energy) -> dict[str, float]
    check_offline(tree, allocations) -> list[Problem]
    check_override(tree, energy, charger_id, value) -> list[Problem]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from evsite.config.models import Connector, EnergySettings
from evsite.core.allocation_model import ChargerState, ConnectorDemand, Snapshot
from evsite.core.allocator import allocate
from evsite.core.tree import PanelTree
from evsite.errors import Problem

# The computation does not depend on time; any aware instant will do.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_TOLERANCE_A = 1e-6


def explicit_offline(tree: PanelTree, energy: EnergySettings) -> dict[str, float]:
    """Offline allocations set by configuration (override, else site default).

    Args:
        tree: the panel tree with its chargers.
        energy: site energy settings (``offline_allocation_a`` may be None).

    Returns:
        charger id -> A per phase, for chargers with an explicit value.
    """
    result: dict[str, float] = {}
    for charger in tree.chargers.values():
        value = charger.overrides.offline_allocation_a
        if value is None and energy.offline_allocation_a is not None:
            value = min(energy.offline_allocation_a, charger.limit_a)
        if value is not None:
            result[charger.id] = value
    return result


def offline_allocations(tree: PanelTree, energy: EnergySettings) -> dict[str, float]:
    """Every charger's offline allocation: explicit values plus safe defaults.

    Args:
        tree: the panel tree with its chargers.
        energy: site energy settings.

    Returns:
        charger id -> A per phase for every charger of the tree.
    """
    explicit = explicit_offline(tree, energy)
    # One port per charger: the offline allocation is the station's total.
    single = [replace(c, connectors=(Connector(1),)) for c in tree.chargers.values()]
    # Offline, the charger hears no meter and no schedule: plain capacities.
    plain = [replace(p, meter=None, scheduled_limits=()) for p in tree.panels.values()]
    flat = PanelTree.build(plain, single)
    states = {
        cid: ChargerState(cid, online=False, offline_allocation_a=value)
        for cid, value in explicit.items()
    }
    demands = {
        (c.id, 1): ConnectorDemand(c.id, 1, active=True)
        for c in single
        if c.id not in explicit
    }
    result = allocate(Snapshot(flat, energy, _EPOCH, demands=demands, chargers=states))
    defaults = {cid: result.limit(cid, 1) for cid in tree.chargers}
    return {**defaults, **explicit}


def check_offline(tree: PanelTree, allocations: Mapping[str, float]) -> list[Problem]:
    """Problems where offline allocations under a panel exceed its capacity.

    Args:
        tree: the panel tree with its chargers.
        allocations: charger id -> offline allocation in A per phase.

    Returns:
        One problem per panel and phase over capacity, naming the panel.
    """
    problems: list[Problem] = []
    loads = tree.load_per_phase(allocations)
    for panel_id in tree.depth_first():
        panel = tree.panels[panel_id]
        per_phase = loads[panel_id]
        lines = tree.panel_phases(panel_id)
        if len(lines) == 1:
            # A panel on one line carries every load beneath it on that line.
            # (One fed line-to-line carries two: a load counts on its own.)
            per_phase = {lines[0]: sum(per_phase.values())}
        for phase, total in sorted(per_phase.items()):
            if total > panel.capacity_a + _TOLERANCE_A:
                problems.append(
                    Problem(
                        f"panels.{panel_id}",
                        f"offline allocations under panel '{panel_id}' add up to "
                        f"{total:g} A on {phase.value}, above its capacity "
                        f"{panel.capacity_a:g} A",
                    )
                )
    return problems


def check_override(
    tree: PanelTree, energy: EnergySettings, charger_id: str, value: float | None
) -> list[Problem]:
    """Problems if ``charger_id``'s offline override became ``value``.

    Args:
        tree: the panel tree with its chargers.
        energy: site energy settings.
        charger_id: the charger whose override changes (must be in the tree).
        value: the new override in A (None removes it).

    Returns:
        Problems naming the field or the panel whose capacity would be exceeded.
    """
    charger = tree.chargers[charger_id]
    field = f"chargers.{charger_id}.overrides.offline_allocation_a"
    if value is not None:
        if value > charger.limit_a:
            return [Problem(field, f"{value:g} A is above the charger limit")]
        if 0 < value < (charger.min_current_a or energy.min_current_a):
            return [Problem(field, f"{value:g} A is below the minimum current")]
    overrides = replace(charger.overrides, offline_allocation_a=value)
    chargers = [
        replace(c, overrides=overrides) if c.id == charger_id else c
        for c in tree.chargers.values()
    ]
    changed = PanelTree.build(tree.panels.values(), chargers)
    return check_offline(changed, explicit_offline(changed, energy))
