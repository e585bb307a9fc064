"""Cross-checks of phase connections: the line(s) each 1-phase panel and charger uses.

A 1-phase load on a 3-phase panel sits on one line, to neutral (230 V on a
400 V board, 120 V on 208Y/120 V), or across a line pair, line-to-line (208 V
on 208Y/120 V). A line pair counts on both of its lines in every panel above,
so getting it wrong under-counts a 208 V charger by half on one line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from evsite.config.models import (
    Charger,
    LinePair,
    Panel,
    Phase,
    PhaseConnection,
    SiteConfig,
)
from evsite.core.tree import PanelTree
from evsite.errors import Problem

# Voltages of a 1-phase panel on a 3-phase one match within ±5 %.
_VOLTAGE_TOLERANCE = 0.05
# A line of a board at most this far above neutral (120 V, 127 V) cannot feed a
# Level-2 charger: a 1-phase charger on such a board is wired line-to-line.
_LEVEL1_LINE_TO_NEUTRAL_V = 150.0
_PAIR_FROM: dict[Phase, LinePair] = {
    Phase.L1: LinePair.L1_L2,
    Phase.L2: LinePair.L2_L3,
    Phase.L3: LinePair.L3_L1,
}
_CONNECTIONS = "a line (L1, L2, L3) or a line pair (L1-L2, L2-L3, L3-L1)"


def panel_phase_errors(panel: Panel, tree: PanelTree, path: str) -> Iterator[Problem]:
    """Problems of a panel's ``phase_connection`` (and voltage on a 3-phase parent).

    Args:
        panel: the panel, in a sound tree.
        tree: the indexed tree.
        path: the panel's path in the file, e.g. ``panels[2]``.

    Yields:
        Problems naming ``phase_connection`` or ``voltage``.
    """
    connection = panel.phase_connection
    if panel.phases == 3:
        if connection is not None:
            yield Problem(
                f"{path}.phase_connection",
                f"only a 1-phase panel has a phase connection, not '{connection}'",
            )
        return
    if panel.parent is None:
        if isinstance(connection, LinePair):
            yield Problem(
                f"{path}.phase_connection",
                f"a line pair needs a 3-phase panel above; the 1-phase root "
                f"carries one line, not '{connection}'",
            )
        return
    parent = tree.panels[panel.parent]
    if parent.phases == 3:
        if connection is None:
            yield Problem(
                f"{path}.phase_connection",
                f"required: {_CONNECTIONS} of 3-phase panel '{parent.id}' feeds it",
            )
        yield from _voltage_errors(panel, parent, path)
        return
    lines = tree.panel_phases(parent.id)
    if connection is not None and connection.lines != lines:
        # Else its load would be counted on a line it does not draw from.
        yield Problem(
            f"{path}.phase_connection",
            f"parent '{parent.id}' is on {_text(lines)}, not {connection}"
            f"{_pair_hint(connection, lines)}",
        )


def charger_phase_errors(
    charger: Charger, tree: PanelTree, path: str
) -> Iterator[Problem]:
    """Problems of a charger's ``phases`` and ``phase_connection`` on its panel.

    Args:
        charger: the charger, under a panel of a sound tree.
        tree: the indexed tree.
        path: the charger's path in the file, e.g. ``chargers[3]``.

    Yields:
        Problems naming ``phases`` or ``phase_connection``.
    """
    panel = tree.panels[charger.parent]
    lines = tree.panel_phases(panel.id)
    connection = charger.phase_connection
    if charger.phases == 3 and len(lines) < 3:
        yield Problem(
            f"{path}.phases",
            f"a 3-phase charger cannot be fed by 1-phase panel '{panel.id}'",
        )
    elif charger.phases == 3 and connection is not None:
        yield Problem(
            f"{path}.phase_connection",
            "only a single-phase charger has a phase connection",
        )
    elif charger.phases == 1 and len(lines) == 3:
        if connection is None:
            yield Problem(
                f"{path}.phase_connection",
                f"required: {_CONNECTIONS} of 3-phase panel '{panel.id}' feeds it",
            )
    elif connection is not None and not set(connection.lines) <= set(lines):
        yield Problem(
            f"{path}.phase_connection",
            f"panel '{panel.id}' is on {_text(lines)}, not {connection}"
            f"{_pair_hint(connection, lines)}",
        )


def phase_warnings(config: SiteConfig, tree: PanelTree) -> Iterator[Problem]:
    """Single lines that are most likely line-to-line wiring (counted on one line).

    Args:
        config: a site without errors.
        tree: its indexed tree.

    Yields:
        Warnings naming ``phase_connection``, suggesting the line pair.
    """
    for index, panel in enumerate(config.panels):
        parent = tree.panels.get(panel.parent or "")
        connection = panel.phase_connection
        if (
            parent is not None
            and parent.phases == 3
            and isinstance(connection, Phase)
            and _near(panel.voltage, parent.voltage)
            and not _near(panel.voltage, parent.voltage / math.sqrt(3))
        ):
            yield Problem(
                f"panels[{index}].phase_connection",
                f"{panel.voltage:g} V on 3-phase '{parent.id}' is line-to-line: "
                f"its load is on two lines but counts on {connection} only; "
                f"write its line pair (e.g. {_PAIR_FROM[connection]})",
            )
    for index, charger in enumerate(config.chargers):
        panel = tree.panels[charger.parent]
        connection = charger.phase_connection
        if (
            panel.phases == 3
            and isinstance(connection, Phase)
            and panel.voltage / math.sqrt(3) <= _LEVEL1_LINE_TO_NEUTRAL_V
        ):
            yield Problem(
                f"chargers[{index}].phase_connection",
                f"one line of {panel.voltage:g} V panel '{panel.id}' gives "
                f"{panel.voltage / math.sqrt(3):.0f} V; a Level-2 charger there is "
                f"wired line-to-line: write its line pair (e.g. "
                f"{_PAIR_FROM[connection]}) so its current counts on both lines",
            )


def _voltage_errors(panel: Panel, parent: Panel, path: str) -> Iterator[Problem]:
    """A 1-phase panel on a 3-phase one: line-to-neutral on a line, else line-to-line.

    A panel on one line at the line-to-line voltage stays valid (files written
    before line pairs existed); :func:`phase_warnings` flags it.
    """
    line_to_neutral = parent.voltage / math.sqrt(3)
    if isinstance(panel.phase_connection, LinePair):
        if not _near(panel.voltage, parent.voltage):
            yield Problem(
                f"{path}.voltage",
                f"{panel.voltage:g} V does not match line pair "
                f"{panel.phase_connection} of 3-phase parent '{parent.id}' "
                f"({parent.voltage:g} V line-to-line)",
            )
    elif not (panel.voltage == parent.voltage or _near(panel.voltage, line_to_neutral)):
        yield Problem(
            f"{path}.voltage",
            f"{panel.voltage:g} V does not match 3-phase parent '{parent.id}' "
            f"({parent.voltage:g} V, {line_to_neutral:.0f} V line-to-neutral)",
        )


def _near(voltage: float, nominal: float) -> bool:
    return abs(voltage - nominal) <= nominal * _VOLTAGE_TOLERANCE


def _text(lines: tuple[Phase, ...]) -> str:
    return "-".join(lines)


def _pair_hint(connection: PhaseConnection, lines: tuple[Phase, ...]) -> str:
    if isinstance(connection, LinePair) and len(lines) == 1:
        return " (a line pair needs a 3-phase panel above; this one carries one line)"
    return ""
