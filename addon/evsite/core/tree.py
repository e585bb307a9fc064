"""The panel tree: structure checks, ancestry and the phases each load sits on.

Pure functions over :mod:`evsite.config.models`; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evsite.config.models import Charger, Panel, Phase, SiteConfig

THREE_PHASES: tuple[Phase, ...] = (Phase.L1, Phase.L2, Phase.L3)


def find_cycle(parents: Mapping[str, str | None], start: str) -> list[str] | None:
    """The cycle reached by following parents from ``start``, if any.

    Args:
        parents: panel id -> parent id (``None`` at a root).
        start: the panel to start from.

    Returns:
        The ids on the cycle in order (first repeated at the end), or ``None``.
    """
    seen: list[str] = []
    node: str | None = start
    while node is not None and node in parents:
        if node in seen:
            return [*seen[seen.index(node) :], node]
        seen.append(node)
        node = parents[node]
    return None


def single_phase_default(panel_lines: tuple[Phase, ...]) -> tuple[Phase, ...]:
    """The lines of a 1-phase load with no connection of its own on a panel.

    On a 1-phase panel it sits across what the panel carries (its line, or its
    line pair); on a 3-phase panel, where validation requires a connection, L1.
    """
    return panel_lines if len(panel_lines) < 3 else panel_lines[:1]


def charger_lines(
    charger: Charger, panel_lines: tuple[Phase, ...]
) -> tuple[Phase, ...]:
    """The lines ``charger`` draws from, given the lines of its panel.

    Args:
        charger: the charger.
        panel_lines: what its panel carries (:meth:`PanelTree.panel_phases`).

    Returns:
        All three for a 3-phase charger; else its connection's line(s) (two
        for a line-to-line charger); else the panel's default.
    """
    if charger.phases == 3:
        return THREE_PHASES
    if charger.phase_connection is not None:
        return charger.phase_connection.lines
    return single_phase_default(panel_lines)


@dataclass(frozen=True, slots=True)
class PanelTree:
    """A validated panel tree with its chargers, indexed for fast lookups."""

    panels: Mapping[str, Panel]
    chargers: Mapping[str, Charger]
    children: Mapping[str, tuple[str, ...]]
    root_id: str

    @classmethod
    def from_config(cls, config: SiteConfig) -> PanelTree:
        """Index a site whose tree is valid (one root, no cycles)."""
        return cls.build(config.panels, config.chargers)

    @classmethod
    def build(cls, panels: Iterable[Panel], chargers: Iterable[Charger]) -> PanelTree:
        """Index panels and chargers; the caller guarantees a valid tree."""
        by_id = {p.id: p for p in panels}
        children: dict[str, list[str]] = {pid: [] for pid in by_id}
        root = ""
        for panel in by_id.values():
            if panel.parent is None:
                root = panel.id
            else:
                children[panel.parent].append(panel.id)
        return cls(
            panels=by_id,
            chargers={c.id: c for c in chargers},
            children={k: tuple(v) for k, v in children.items()},
            root_id=root,
        )

    def ancestors(self, panel_id: str) -> list[str]:
        """``panel_id`` and every panel above it, nearest first."""
        result: list[str] = []
        node: str | None = panel_id
        while node is not None:
            result.append(node)
            node = self.panels[node].parent
        return result

    def depth_first(self) -> list[str]:
        """All panel ids, parents before children."""
        order: list[str] = []
        stack = [self.root_id]
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(reversed(self.children[node]))
        return order

    def panel_phases(self, panel_id: str) -> tuple[Phase, ...]:
        """The lines a panel carries.

        A 1-phase panel carries one line, or two when it is fed line-to-line
        (a 208 V panel on a 208Y/120 V board); one without a connection of its
        own carries its 1-phase parent's line(s).
        """
        panel = self.panels[panel_id]
        if panel.phases == 3:
            return THREE_PHASES
        if panel.phase_connection is not None:
            return panel.phase_connection.lines
        if panel.parent is not None:
            return single_phase_default(self.panel_phases(panel.parent))
        return (Phase.L1,)

    def charger_phases(self, charger: Charger) -> tuple[Phase, ...]:
        """The lines a charger draws from (both lines of a line pair)."""
        return charger_lines(charger, self.panel_phases(charger.parent))

    def chargers_under(self, panel_id: str) -> list[Charger]:
        """Every charger in the subtree of ``panel_id``."""
        result: list[Charger] = []
        stack = [panel_id]
        subtree: set[str] = set()
        while stack:
            node = stack.pop()
            subtree.add(node)
            stack.extend(self.children[node])
        for charger in self.chargers.values():
            if charger.parent in subtree:
                result.append(charger)
        return result

    def load_per_phase(
        self, amps_by_charger: Mapping[str, float]
    ) -> dict[str, dict[Phase, float]]:
        """Sum per-charger currents into every panel and phase above each charger."""
        totals: dict[str, dict[Phase, float]] = {
            pid: dict.fromkeys(self.panel_phases(pid), 0.0) for pid in self.panels
        }
        for charger_id, current in amps_by_charger.items():
            charger = self.chargers[charger_id]
            for phase in self.charger_phases(charger):
                for pid in self.ancestors(charger.parent):
                    bucket = totals[pid]
                    bucket[phase] = bucket.get(phase, 0.0) + current
        return totals
