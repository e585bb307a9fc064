"""Static indexes of a panel tree for the allocator, built once per configuration.

Everything here depends on the tree alone (not on demands, meters or time),
so the control loop can build a :class:`SitePlan` when the configuration
changes and pass it in every :class:`~evsite.core.allocation_model.Snapshot`;
``allocate`` builds one itself when none (or one for another tree) is given.

Resources are numbered: one per panel phase (a 1-phase panel on one line has
one, and every phase beneath it counts on it; one fed line-to-line has two),
children before parents so that a tie between levels names the nearest panel.

It also holds what the per-cycle loops read for every charger, flattened into
tuples (:data:`ChargerRow`), and the capacity of every panel that nothing
dynamic touches (no meter, schedule or shedding), so a cycle rebuilds neither.

Public API:
    SitePlan.build(tree) -> SitePlan
    plan_for(tree) -> SitePlan   (memoised by tree identity, last few trees)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evsite.config.models import Charger, Phase
from evsite.core.capacity import PanelCapacity, plain_capacity
from evsite.core.tree import PanelTree, charger_lines

ConnectorKey = tuple[str, int]
"""``(charger_id, connector_id)``."""

ChargerRow = tuple[
    str,  # charger id
    tuple[ConnectorKey, ...],  # its connectors
    float,  # limit_a
    float | None,  # min_current_a (None: the site's)
    float,  # weight
    int,  # priority
    str,  # parent panel
    int,  # path (all its phases)
    int,  # one_phase_path (a 1-phase EV on a 3-phase charger)
    tuple[Phase, ...],  # phases
    tuple[Phase, ...],  # one_phase
]
"""One charger as the allocator's per-cycle loop reads it (tuple unpacking is
the cheapest way to get eleven fields in CPython)."""


@dataclass(frozen=True, slots=True)
class ChargerPlan:
    """A charger with its phases and the panel resources its load crosses."""

    charger: Charger
    keys: tuple[ConnectorKey, ...]
    phases: tuple[Phase, ...]
    path: int  # index into SitePlan.paths: panel resources for ``phases``
    one_phase: tuple[Phase, ...]  # a 1-phase EV on this charger draws here
    one_phase_path: int


@dataclass(frozen=True, slots=True)
class SitePlan:
    """Resource numbering and per-charger paths of one tree."""

    tree: PanelTree
    panel_order: tuple[str, ...]  # children before parents
    index: Mapping[str, Mapping[Phase, int]]  # panel -> phase -> resource
    chargers: tuple[ChargerPlan, ...]
    paths: tuple[tuple[int, ...], ...]  # distinct resource paths, by index
    path_phases: tuple[tuple[Phase, ...], ...]  # the phases of each path
    rows: tuple[ChargerRow, ...]  # the chargers, in ``chargers`` order
    plain: Mapping[str, PanelCapacity]  # capacity when nothing dynamic applies
    # Per resource, in numbering order: the room and the (reason, panel) that
    # binds when its panel is plain; a cycle copies them and patches the rest.
    plain_room: tuple[float, ...]
    plain_reasons: tuple[tuple[Any, str | None], ...]

    @property
    def n_panel_resources(self) -> int:
        """How many panel-phase resources there are."""
        return sum(len(by_phase) for by_phase in self.index.values())

    @classmethod
    def build(cls, tree: PanelTree) -> SitePlan:
        """Index a valid tree.

        Args:
            tree: the panel tree with its chargers.

        Returns:
            The plan.
        """
        order = tuple(reversed(tree.depth_first()))
        index, panel_phases = _number(tree, order)
        ancestors: dict[str, list[str]] = {}
        for pid in reversed(order):  # parents first
            parent = tree.panels[pid].parent
            ancestors[pid] = [pid, *(ancestors[parent] if parent is not None else ())]
        paths: dict[tuple[str, tuple[Phase, ...]], int] = {}
        distinct: list[tuple[int, ...]] = []
        path_phases: list[tuple[Phase, ...]] = []
        plans = []
        for charger in tree.chargers.values():
            phases = charger_lines(charger, panel_phases[charger.parent])
            # A 1-phase EV on a 3-phase charger draws on one line; a 1-phase
            # charger wired line-to-line draws on both whatever the EV reports.
            one = (
                phases
                if len(phases) < 3
                else (charger.phase_connection or Phase.L1).lines[:1]
            )
            for variant in (phases, one):
                if (charger.parent, variant) not in paths:
                    paths[(charger.parent, variant)] = len(distinct)
                    distinct.append(_path(index, ancestors[charger.parent], variant))
                    path_phases.append(variant)
            plans.append(
                ChargerPlan(
                    charger=charger,
                    keys=tuple((charger.id, c.id) for c in charger.connectors),
                    phases=phases,
                    path=paths[(charger.parent, phases)],
                    one_phase=one,
                    one_phase_path=paths[(charger.parent, one)],
                )
            )
        plain = {pid: plain_capacity(tree, pid) for pid in order}
        rows = tuple(_row(cp) for cp in plans)
        # Imported here: allocation_model imports this module.
        from evsite.core.allocation_model import Reason

        room: list[float] = []
        reasons: list[tuple[Any, str | None]] = []
        for pid in order:  # the numbering of _number
            reason = (Reason.PANEL, pid)
            for ph in index[pid]:
                room.append(plain[pid].available_a[ph])
                reasons.append(reason)
        return cls(
            tree,
            order,
            index,
            tuple(plans),
            tuple(distinct),
            tuple(path_phases),
            rows,
            plain,
            tuple(room),
            tuple(reasons),
        )


def _row(cp: ChargerPlan) -> ChargerRow:
    c = cp.charger
    return (
        c.id,
        cp.keys,
        c.limit_a,
        c.min_current_a,
        c.weight,
        c.priority,
        c.parent,
        cp.path,
        cp.one_phase_path,
        cp.phases,
        cp.one_phase,
    )


def _number(
    tree: PanelTree, order: tuple[str, ...]
) -> tuple[dict[str, dict[Phase, int]], dict[str, tuple[Phase, ...]]]:
    """Number panel phases in ``order``; also return each panel's phases."""
    index: dict[str, dict[Phase, int]] = {}
    panel_phases: dict[str, tuple[Phase, ...]] = {}
    count = 0
    for pid in order:
        index[pid] = {}
        panel_phases[pid] = tree.panel_phases(pid)
        for ph in panel_phases[pid]:
            index[pid][ph] = count
            count += 1
    return index, panel_phases


def _path(
    index: Mapping[str, Mapping[Phase, int]],
    ancestors: list[str],
    phases: tuple[Phase, ...],
) -> tuple[int, ...]:
    """Resources a load on ``phases`` uses in every ancestor."""
    path: list[int] = []
    for pid in ancestors:
        by_phase = index[pid]
        if len(by_phase) == 1:  # a 1-phase panel carries any phase on its line
            only = next(iter(by_phase.values()))
            path.extend(only for _ in phases)
        else:
            path.extend(by_phase[ph] for ph in phases)
    return tuple(path)


# Trees are immutable and rebuilt only when the configuration changes, so the
# last few plans are kept by tree identity. Each entry holds its tree, so an id
# cannot be reused by another tree while it is cached; results never depend on
# the memo, only the time to get them.
_MEMO: dict[int, SitePlan] = {}
_MEMO_SIZE = 4


def plan_for(tree: PanelTree) -> SitePlan:
    """The plan of ``tree``, built once per tree object.

    Args:
        tree: the panel tree with its chargers.

    Returns:
        The plan (shared while the same tree object is used).
    """
    plan = _MEMO.get(id(tree))
    if plan is not None and plan.tree is tree:
        return plan
    plan = SitePlan.build(tree)
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))  # oldest first: dicts keep insertion order
    _MEMO[id(tree)] = plan
    return plan
