"""Live state -> allocation :class:`Snapshot` (SPEC §2.1); a pure-ish mapping.

No I/O and no clock reads: everything comes in as arguments, so the mapping is
tested with plain values. The rules it encodes:

- A connector *wants current* while plugged in with a transaction (OCPP 1.6
  TxProfile needs one; without a transaction the charger holds its
  TxDefaultProfile, the offline allocation) and not finishing.
- A charger is *online* only while its link is ``connected``; a charger never
  seen is offline and reserves its offline allocation (SPEC §2.3).
- The offline allocation *in force* at a charger is what it last accepted as
  TxDefaultProfile; one that rejected it reserves its full limit.
- A *closed* charger (scope ``closed``, SPEC §3: evsite sets it Inoperative)
  gets 0 A at once, reason ``scope_closed``, also for a session that was
  running when it closed (OCPP lets the charger finish it; the current stops).
  Access hours are not re-checked here: a session authorized inside a
  policy's hours is not cut when they end (docs/energy.md, Reasons).
- evsite's own load under a metered panel (``controlled_a``) counts only fresh
  readings of charging connectors, each capped at the limit the charger has
  accepted since: chargers report every 10-60 s, and a reading from before a
  cut would understate the rest of the building's load. Both errs count the
  background higher than it is (the conservative side).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from evsite.config.models import DelayWindow, Phase, Scope, SiteConfig
from evsite.control.live import ChargerLink, ConnectorState, ConnectorStatus, LiveState
from evsite.control.live import ChargerState as LiveCharger
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    ConnectorKey,
    PanelMeasurement,
    Snapshot,
)
from evsite.core.plan import SitePlan
from evsite.core.schedule import applies_to, delay_state, scheduled_limits_in_force
from evsite.core.shedding import ExternalShed, ShedState
from evsite.core.tree import PanelTree

# A charger's meter reading older than this no longer counts as evsite's load.
CONTROLLED_FRESH_S = 60.0
# A phase drawing less than this is not in use (single-phase EV detection).
PHASE_IN_USE_A = 1.0
_WANTS = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.OCCUPIED,
    }
)


@dataclass(frozen=True, slots=True)
class Overrides:
    """Operator and automation overrides in force."""

    charge_now: Set[ConnectorKey] = frozenset()
    delay_cancel: Set[str] = frozenset()
    caps: Mapping[ConnectorKey, float] = field(default_factory=dict)


class SnapshotMemo:
    """Per-configuration reuse across cycles, so a cycle allocates little.

    Values are only reused when every input they derive from is equal, so the
    snapshot is the same as one built from scratch.
    """

    __slots__ = ("_config", "_metered", "demands", "states", "windows")

    def __init__(self) -> None:
        """Start empty."""
        self._config: SiteConfig | None = None
        # charger id -> the delay windows that cover it (empty: never delayed).
        self.windows: dict[str, tuple[DelayWindow, ...]] = {}
        # charger id -> (its inputs, the ChargerState built from them).
        self.states: dict[str, tuple[tuple[object, ...], ChargerState]] = {}
        # connector -> (its inputs, the ConnectorDemand built from them): the
        # allocator reuses a charger's work while its demand is the same object.
        self.demands: dict[
            ConnectorKey, tuple[tuple[object, ...], ConnectorDemand]
        ] = {}
        # metered panel id -> (charger id, lines it draws from) beneath it.
        self._metered: dict[str, tuple[tuple[str, tuple[Phase, ...]], ...]] = {}

    def sync(self, config: SiteConfig) -> None:
        """Drop everything derived from an older configuration."""
        if config is self._config:
            return
        self._config = config
        self.states.clear()
        self.demands.clear()
        self._metered.clear()
        self.windows = {
            c.id: tuple(w for w in config.delay_windows if applies_to(w, c))
            for c in config.chargers
        }

    def metered_under(
        self, tree: PanelTree, panel_id: str
    ) -> tuple[tuple[str, tuple[Phase, ...]], ...]:
        """Chargers beneath a panel and their lines (the tree of the synced config)."""
        found = self._metered.get(panel_id)
        if found is None:
            found = self._metered[panel_id] = tuple(
                (c.id, tree.charger_phases(c)) for c in tree.chargers_under(panel_id)
            )
        return found


@dataclass(frozen=True, slots=True)
class ControlInputs:
    """What the controller knows besides config and live state."""

    tree: PanelTree
    offline_allocations: Mapping[str, float]
    plan: SitePlan | None = None  # built once per configuration
    # charger id -> TxDefault limit accepted (None: rejected / not in force).
    defaults_in_force: Mapping[str, float | None] = field(default_factory=dict)
    shedding: Mapping[str, ShedState] = field(default_factory=dict)
    external_shed: ExternalShed | None = None
    overrides: Overrides = field(default_factory=Overrides)
    previous: Allocation | None = None
    # TxProfile limits each connector accepted for its running transaction.
    limits_in_force: Mapping[ConnectorKey, float] = field(default_factory=dict)
    memo: SnapshotMemo | None = None


def wants_current(connector: ConnectorState) -> bool:
    """Plugged in with a transaction running (OCPP TxProfile needs one)."""
    return connector.transaction_id is not None and connector.status in _WANTS


def ev_phases(current_a: Mapping[str, float]) -> int | None:
    """1 or 3 when the reading shows it, else None."""
    in_use = sum(1 for amps in current_a.values() if amps >= PHASE_IN_USE_A)
    if in_use == 0:
        return None
    return 1 if in_use == 1 else 3


def build_demands(
    config: SiteConfig,
    live: LiveState,
    now: datetime,
    overrides: Overrides,
    memo: SnapshotMemo | None = None,
) -> tuple[dict[ConnectorKey, ConnectorDemand], dict[ConnectorKey, datetime | None]]:
    """Demands of every configured connector, and each delayed one's opening."""
    if memo is None:
        memo = SnapshotMemo()
    memo.sync(config)
    demands: dict[ConnectorKey, ConnectorDemand] = {}
    delayed: dict[ConnectorKey, datetime | None] = {}
    tz = config.site.timezone
    cached = memo.demands
    for charger in config.chargers:
        state = live.chargers.get(charger.id)
        if state is None:
            continue
        cancel = charger.id in overrides.delay_cancel
        # Only the windows covering this charger can delay it (same result).
        windows = memo.windows.get(charger.id, ())
        for conn in charger.connectors:
            key = (charger.id, conn.id)
            live_conn = state.connectors.get(conn.id)
            if live_conn is None or not wants_current(live_conn):
                continue
            now_flag = key in overrides.charge_now or live_conn.charge_now or cancel
            is_delayed = False
            if windows:
                delay = delay_state(windows, charger, now, tz, charge_now=now_flag)
                is_delayed = delay.delayed
                if is_delayed:
                    delayed[key] = delay.until
            inputs = (
                overrides.caps.get(key),
                ev_phases(live_conn.current_a),
                live_conn.session_started_at,
                live_conn.session_energy_wh,
                now_flag,
                is_delayed,
                charger.scope is Scope.CLOSED,
            )
            hit = cached.get(key)
            if hit is not None and hit[0] == inputs:
                demands[key] = hit[1]
                continue
            made = ConnectorDemand(
                charger_id=charger.id,
                connector_id=conn.id,
                active=True,
                ev_max_a=inputs[0],
                ev_phases=inputs[1],
                session_start=inputs[2],
                energy_wh=inputs[3],
                charge_now=now_flag,
                delayed=is_delayed,
                access_closed=inputs[6],
            )
            cached[key] = (inputs, made)
            demands[key] = made
    return demands, delayed


def charger_states(
    config: SiteConfig,
    live: LiveState,
    inputs: ControlInputs,
) -> dict[str, ChargerState]:
    """Link and control state of every configured charger."""
    memo = inputs.memo if inputs.memo is not None else SnapshotMemo()
    memo.sync(config)
    cached = memo.states
    result: dict[str, ChargerState] = {}
    for charger in config.chargers:
        cid = charger.id
        state = live.chargers.get(cid)
        in_force: float | None = inputs.offline_allocations.get(cid)
        if cid in inputs.defaults_in_force:
            known = inputs.defaults_in_force[cid]
            # Rejected TxDefault: nothing holds it back when it goes offline.
            in_force = charger.limit_a if known is None else known
        key = (
            state is not None and state.link is ChargerLink.CONNECTED,
            state.controllable if state is not None else True,
            state.maintenance if state is not None else False,
            in_force,
        )
        hit = cached.get(cid)
        if hit is not None and hit[0] == key:
            result[cid] = hit[1]
            continue
        made = ChargerState(
            charger_id=cid,
            online=key[0],
            controllable=key[1],
            maintenance=key[2],
            offline_allocation_a=in_force,
        )
        cached[cid] = (key, made)
        result[cid] = made
    return result


# Reading keys that name a line, mapped without an enum lookup per reading.
_LINES = {phase.value: phase for phase in Phase}
_FRESH = timedelta(seconds=CONTROLLED_FRESH_S)


def _charger_draw(
    phases: tuple[Phase, ...],
    state: LiveCharger | None,
    at: datetime,
    in_force: Mapping[ConnectorKey, float],
) -> dict[Phase, float]:
    """A charger's fresh measured draw mapped onto the panel's phases."""
    if state is None:
        return {}
    draw: dict[Phase, float] = {}
    oldest, newest = at - _FRESH, at + _FRESH
    for conn in state.connectors.values():
        seen = conn.last_meter_at
        if conn.status is not ConnectorStatus.CHARGING or seen is None:
            continue
        if not oldest <= seen <= newest:  # |at - seen| > CONTROLLED_FRESH_S
            continue
        cap = in_force.get((state.charger_id, conn.connector_id), float("inf"))
        if len(phases) < 3:
            # A 1-phase charger reports its one line as L1 whatever it is wired
            # to; wired line-to-line, the same current flows on both its lines.
            amps = min(cap, max(conn.current_a.values(), default=0.0))
            for phase in phases:
                draw[phase] = draw.get(phase, 0.0) + amps
            continue
        for name, amps in conn.current_a.items():
            line = _LINES.get(name)
            if line is not None:
                draw[line] = draw.get(line, 0.0) + min(cap, amps)
    return draw


def measurements(
    config: SiteConfig,
    live: LiveState,
    tree: PanelTree,
    in_force: Mapping[ConnectorKey, float] | None = None,
    memo: SnapshotMemo | None = None,
) -> dict[str, PanelMeasurement]:
    """Meter samples of metered panels, with evsite's own fresh load beneath."""
    if memo is None:
        memo = SnapshotMemo()
    memo.sync(config)
    result: dict[str, PanelMeasurement] = {}
    chargers = live.chargers
    for panel in config.panels:
        sample = live.meters.get(panel.id)
        if panel.meter is None or sample is None:
            continue
        amps = {_LINES[k]: v for k, v in sample.current_a.items() if k in _LINES}
        controlled: dict[Phase, float] = {}
        for charger_id, phases in memo.metered_under(tree, panel.id):
            state = chargers.get(charger_id)
            if state is None:
                continue
            draw = _charger_draw(phases, state, sample.at, in_force or {})
            for phase, value in draw.items():
                controlled[phase] = controlled.get(phase, 0.0) + value
        result[panel.id] = PanelMeasurement(panel.id, amps, sample.at, controlled)
    return result


def build_snapshot(
    config: SiteConfig, live: LiveState, now: datetime, inputs: ControlInputs
) -> tuple[Snapshot, dict[ConnectorKey, datetime | None]]:
    """The allocation snapshot at ``now``, and the delayed connectors' openings."""
    demands, delayed = build_demands(config, live, now, inputs.overrides, inputs.memo)
    snapshot = Snapshot(
        tree=inputs.tree,
        energy=config.energy,
        now=now,
        demands=demands,
        chargers=charger_states(config, live, inputs),
        measurements=measurements(
            config, live, inputs.tree, inputs.limits_in_force, inputs.memo
        ),
        offline_allocations=inputs.offline_allocations,
        scheduled_limits_a=scheduled_limits_in_force(
            config.panels, now, config.site.timezone
        ),
        shedding=inputs.shedding,
        external_shed=inputs.external_shed,
        previous=inputs.previous,
        plan=inputs.plan,
    )
    return snapshot, delayed
