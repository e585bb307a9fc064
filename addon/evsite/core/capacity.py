"""Per-panel, per-phase capacity left for EV charging at one instant (SPEC §2.1-2.2).

``capacity`` is the limit in force: breaker × continuous factor, lowered by a
scheduled limit. ``available`` is what EVs may use: for a metered panel with a
fresh sample, ``capacity − (measured − evsite's controlled load)`` (the
unmetered rest never counts negative); then a shed margin while a meter shed
is active, then an external shed level. A metered panel whose sample is
missing or older than its meter's ``stale_after_s`` is *stale*: its unmetered
load is unknown, so the allocator freezes everything beneath it (no increase,
offline allocations at most) instead of trusting a number.

A panel with no meter, no scheduled limit and no shedding has a capacity that
depends on the tree alone: the site plan builds it once (:func:`plain_capacity`)
and :func:`panel_capacities` hands out that object.

Public API:
    is_stale(panel, measurement, now) -> bool
    plain_capacity(tree, panel_id) -> PanelCapacity
    panel_capacities(snapshot, plain=None) -> dict[str, PanelCapacity]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from evsite.config.models import Panel, Phase

if TYPE_CHECKING:  # annotations only: the site plan imports this module
    from evsite.core.allocation_model import PanelMeasurement, Snapshot
    from evsite.core.shedding import ExternalShed
    from evsite.core.tree import PanelTree


@dataclass(frozen=True, slots=True)
class PanelCapacity:
    """Capacity figures of one panel."""

    panel_id: str
    phases: tuple[Phase, ...]
    capacity_a: float  # per phase, limit in force
    available_a: Mapping[Phase, float]
    measured_a: Mapping[Phase, float] | None
    stale: bool
    shed: bool  # shedding lowered ``available_a``


def is_stale(panel: Panel, measurement: PanelMeasurement | None, now: datetime) -> bool:
    """Whether a metered panel lacks a fresh sample at ``now``.

    Args:
        panel: the panel (an unmetered panel is never stale).
        measurement: its latest sample, if any.
        now: an aware datetime.

    Returns:
        True when metered and the sample is missing, future-dated beyond the
        timeout (clock jump), older than ``stale_after_s`` or lacks a phase.
    """
    if panel.meter is None:
        return False
    if measurement is None:
        return True
    age = (now - measurement.sampled_at).total_seconds()
    return abs(age) > panel.meter.stale_after_s


def _missing_phase(phases: tuple[Phase, ...], m: PanelMeasurement) -> bool:
    return any(ph not in m.amps for ph in phases)


def plain_capacity(tree: PanelTree, panel_id: str) -> PanelCapacity:
    """Capacity of a panel that no meter, schedule or shedding touches.

    Args:
        tree: the panel tree.
        panel_id: one of its panels.

    Returns:
        Its breaker limit (× continuous factor) available on every phase.
    """
    phases = tree.panel_phases(panel_id)
    limit = tree.panels[panel_id].capacity_a
    return PanelCapacity(
        panel_id=panel_id,
        phases=phases,
        capacity_a=limit,
        available_a=dict.fromkeys(phases, limit),
        measured_a=None,
        stale=False,
        shed=False,
    )


def panel_capacities(
    snapshot: Snapshot, plain: Mapping[str, PanelCapacity] | None = None
) -> dict[str, PanelCapacity]:
    """Capacity figures of every panel of the snapshot's tree.

    Args:
        snapshot: the allocation snapshot.
        plain: :func:`plain_capacity` of every panel of this tree (the site
            plan's), reused for panels nothing dynamic touches.

    Returns:
        panel id -> :class:`PanelCapacity`.
    """
    ext = snapshot.external_shed
    ext_panel = None if ext is None else (ext.panel_id or snapshot.tree.root_id)
    panels = snapshot.tree.panels
    scheduled, shedding = snapshot.scheduled_limits_a, snapshot.shedding
    measured = snapshot.measurements
    result: dict[str, PanelCapacity] = {}
    for pid, panel in panels.items():
        if (
            plain is not None
            and panel.meter is None
            and pid != ext_panel
            and pid not in scheduled
            and pid not in shedding
            and pid not in measured  # a sample counts even without a meter
        ):
            result[pid] = plain[pid]
        else:
            result[pid] = _panel_capacity(
                snapshot, pid, ext if ext_panel == pid else None
            )
    return result


def _panel_capacity(
    snapshot: Snapshot, pid: str, ext: ExternalShed | None
) -> PanelCapacity:
    panel = snapshot.tree.panels[pid]
    phases = snapshot.tree.panel_phases(pid)
    limit = panel.capacity_a
    scheduled = snapshot.scheduled_limits_a.get(pid)
    if scheduled is not None:
        limit = min(limit, scheduled)
    measurement = snapshot.measurements.get(pid)
    stale = is_stale(panel, measurement, snapshot.now)
    if measurement is not None and not stale and _missing_phase(phases, measurement):
        stale = True
    shed_state = snapshot.shedding.get(pid)
    meter_shed = shed_state is not None and shed_state.active
    available: dict[Phase, float] = {}
    for ph in phases:
        value = limit
        if measurement is not None and not stale:
            background = measurement.amps[ph] - measurement.controlled_a.get(ph, 0.0)
            value -= max(0.0, background)  # a lagging sample never adds room
        if meter_shed:
            value -= snapshot.energy.shed_restore_hysteresis_a
        if ext is not None:
            value = ext.apply(max(0.0, value), panel.voltage, panel.phases)
        available[ph] = max(0.0, value)
    return PanelCapacity(
        panel_id=pid,
        phases=phases,
        capacity_a=limit,
        available_a=available,
        measured_a=None if measurement is None else dict(measurement.amps),
        stale=stale,
        shed=meter_shed or ext is not None,
    )
