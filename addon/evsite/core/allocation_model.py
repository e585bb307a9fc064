"""Values the allocator takes and returns (SPEC §2.1, §12.1); no behaviour.

The control loop builds one :class:`Snapshot` per cycle and feeds the previous
:class:`Allocation` back in (it carries the rotation state, the limits a stale
meter may not exceed, and limit objects reused when unchanged). Keep one
:class:`~evsite.core.tree.PanelTree` object while the configuration is
unchanged: the tree's index (:class:`~evsite.core.plan.SitePlan`) is built once
per tree object. Currents are A per phase; datetimes are timezone-aware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from evsite.config.models import EnergySettings, Phase
from evsite.core.plan import ConnectorKey, SitePlan
from evsite.core.shedding import ExternalShed, ShedState
from evsite.core.tree import PanelTree

__all__ = ["ConnectorKey", "SitePlan"]  # re-exported for callers of the allocator


class Reason(StrEnum):
    """Why a connector has the limit it has (shown wherever a limit is shown)."""

    PANEL = "panel"  # rendered "panel:<id>": that panel's phase capacity binds
    FAIR_SHARE = "fair_share"  # its share of a circuit-shared charger's limit
    CHARGER_MAX = "charger_max"  # the charger's whole limit_a
    EV_MAX = "ev_max"  # the EV's maximum current
    DELAYED = "delayed"  # outside its delay window (SPEC §2.4)
    LOAD_SHED = "load_shed"  # a panel lowered by shedding binds (SPEC §2.2)
    MIN_CURRENT_ROTATION = "min_current_rotation"  # paused: minimum does not fit
    OFFLINE_RESERVED = "offline_reserved"  # charger offline: its offline allocation
    UNCONTROLLABLE = "uncontrollable"  # rejects profiles: full limit reserved
    SCOPE_CLOSED = "scope_closed"  # access does not allow charging now
    MAINTENANCE = "maintenance"  # charger under maintenance
    STALE_METER = "stale_meter"  # a meter above it is stale: no increase
    NOT_CHARGING = "not_charging"  # nothing plugged in / no current wanted


@dataclass(frozen=True, slots=True)
class ConnectorDemand:
    """What one connector wants this cycle."""

    charger_id: str
    connector_id: int
    active: bool  # plugged in and wants current
    ev_max_a: float | None = None
    ev_phases: int | None = None  # 1 or 3 when known (from meter values)
    session_start: datetime | None = None
    energy_wh: float = 0.0
    charge_now: bool = False  # operator / automation lifted the delay
    delayed: bool = False  # schedule.delay_state(...).delayed
    access_closed: bool = False  # scope/policy forbids charging now
    priority: int | None = None  # overrides Charger.priority (e.g. fleet tag)
    weight: float | None = None  # overrides Charger.weight

    @property
    def key(self) -> ConnectorKey:
        """``(charger_id, connector_id)``."""
        return (self.charger_id, self.connector_id)


@dataclass(frozen=True, slots=True)
class ChargerState:
    """Link and control state of a charger; a charger not listed is online."""

    charger_id: str
    online: bool = True
    controllable: bool = True  # accepts charging profiles
    maintenance: bool = False
    offline_allocation_a: float | None = None  # in force at the charger, if known


@dataclass(frozen=True, slots=True)
class PanelMeasurement:
    """One meter sample of a panel."""

    panel_id: str
    amps: Mapping[Phase, float]
    sampled_at: datetime
    # evsite's own chargers' draw included in ``amps`` at sample time.
    controlled_a: Mapping[Phase, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RotationEntry:
    """Rotation bookkeeping of one competing connector."""

    admitted_since: datetime | None = None  # running since (None: paused)
    paused_since: datetime | None = None  # waiting since (None: running)


@dataclass(frozen=True, slots=True)
class RotationState:
    """Who runs and who waits, carried from one allocation to the next."""

    entries: Mapping[ConnectorKey, RotationEntry] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything :func:`evsite.core.allocator.allocate` needs, at ``now``."""

    tree: PanelTree
    energy: EnergySettings
    now: datetime
    demands: Mapping[ConnectorKey, ConnectorDemand] = field(default_factory=dict)
    chargers: Mapping[str, ChargerState] = field(default_factory=dict)
    measurements: Mapping[str, PanelMeasurement] = field(default_factory=dict)
    # offline.offline_allocations(tree, energy). A charger missing here reserves
    # its full limit when offline and gets 0 A below a stale meter (safe sides).
    offline_allocations: Mapping[str, float] = field(default_factory=dict)
    scheduled_limits_a: Mapping[str, float] = field(default_factory=dict)
    shedding: Mapping[str, ShedState] = field(default_factory=dict)
    external_shed: ExternalShed | None = None
    previous: Allocation | None = None
    # SitePlan.build(tree); None (or a plan of another tree) uses plan_for(tree),
    # which keeps the plans of the last few tree objects.
    plan: SitePlan | None = None


@dataclass(frozen=True, slots=True)
class ConnectorLimit:
    """The limit of one connector and why."""

    charger_id: str
    connector_id: int
    limit_a: float
    reason: Reason
    panel_id: str | None = None  # the binding panel (PANEL, LOAD_SHED, STALE_METER)
    phases: tuple[Phase, ...] = ()

    @property
    def reason_text(self) -> str:
        """``panel:<id>`` for a binding panel, else the reason's value."""
        if self.reason is Reason.PANEL:
            return f"panel:{self.panel_id}"
        return self.reason.value


_SLOTS = vars(ConnectorLimit)
_SET_CHARGER, _SET_CONNECTOR, _SET_LIMIT, _SET_REASON, _SET_PANEL, _SET_PHASES = (
    _SLOTS[name].__set__
    for name in (
        "charger_id",
        "connector_id",
        "limit_a",
        "reason",
        "panel_id",
        "phases",
    )
)


def new_limit(  # noqa: PLR0917 - the fields of ConnectorLimit, in order
    charger_id: str,
    connector_id: int,
    limit_a: float,
    reason: Reason,
    panel_id: str | None,
    phases: tuple[Phase, ...],
) -> ConnectorLimit:
    """``ConnectorLimit(...)``, built about 1.6 times faster.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; the allocator builds hundreds of limits per cycle,
    so it fills the slots directly. The result is the same frozen value
    (``ConnectorLimit`` has no ``__post_init__``; a test holds the two equal).
    """
    limit = object.__new__(ConnectorLimit)
    _SET_CHARGER(limit, charger_id)
    _SET_CONNECTOR(limit, connector_id)
    _SET_LIMIT(limit, limit_a)
    _SET_REASON(limit, reason)
    _SET_PANEL(limit, panel_id)
    _SET_PHASES(limit, phases)
    return limit


@dataclass(frozen=True, slots=True)
class PanelAllocation:
    """Per-phase figures of one panel (SPEC §12.1)."""

    panel_id: str
    capacity_a: Mapping[Phase, float]  # limit in force (breaker × factor, schedule)
    available_a: Mapping[Phase, float]  # for EVs: minus unmetered load and shedding
    allocated_a: Mapping[Phase, float]  # Σ limits of controlled connectors beneath
    reserved_a: Mapping[Phase, float]  # Σ offline / uncontrollable reservations
    measured_a: Mapping[Phase, float] | None = None
    stale: bool = False
    shed: bool = False


_PANEL_SLOTS = vars(PanelAllocation)
(
    _SET_P_ID,
    _SET_P_CAPACITY,
    _SET_P_AVAILABLE,
    _SET_P_ALLOCATED,
    _SET_P_RESERVED,
    _SET_P_MEASURED,
    _SET_P_STALE,
    _SET_P_SHED,
) = (
    _PANEL_SLOTS[name].__set__
    for name in (
        "panel_id",
        "capacity_a",
        "available_a",
        "allocated_a",
        "reserved_a",
        "measured_a",
        "stale",
        "shed",
    )
)


def new_panel_allocation(  # noqa: PLR0917 - the fields of PanelAllocation, in order
    panel_id: str,
    capacity_a: Mapping[Phase, float],
    available_a: Mapping[Phase, float],
    allocated_a: Mapping[Phase, float],
    reserved_a: Mapping[Phase, float],
    measured_a: Mapping[Phase, float] | None,
    stale: bool,
    shed: bool,
) -> PanelAllocation:
    """``PanelAllocation(...)``, its slots filled directly (as :func:`new_limit`)."""
    panel = object.__new__(PanelAllocation)
    _SET_P_ID(panel, panel_id)
    _SET_P_CAPACITY(panel, capacity_a)
    _SET_P_AVAILABLE(panel, available_a)
    _SET_P_ALLOCATED(panel, allocated_a)
    _SET_P_RESERVED(panel, reserved_a)
    _SET_P_MEASURED(panel, measured_a)
    _SET_P_STALE(panel, stale)
    _SET_P_SHED(panel, shed)
    return panel


@dataclass(frozen=True, slots=True)
class Allocation:
    """The result of one allocation."""

    computed_at: datetime
    connectors: Mapping[ConnectorKey, ConnectorLimit]
    panels: Mapping[str, PanelAllocation]
    rotation: RotationState = field(default_factory=RotationState)

    def limit(self, charger_id: str, connector_id: int) -> float:
        """The limit of a connector (0 when unknown)."""
        entry = self.connectors.get((charger_id, connector_id))
        return entry.limit_a if entry is not None else 0.0
