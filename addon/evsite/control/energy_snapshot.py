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
- evsite's own load under a metered panel (``controlled_a``) counts only fresh
  readings of charging connectors, each capped at the limit the charger has
  accepted since: chargers report every 10-60 s, and a reading from before a
  cut would understate the rest of the building's load. Both errs count the
  background higher than it is (the conservative side).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime

from evsite.config.models import Charger, Phase, SiteConfig
from evsite.control.live import ChargerLink, ConnectorState, ConnectorStatus, LiveState
from evsite.core.allocation_model import (
    Allocation,
    ChargerState,
    ConnectorDemand,
    ConnectorKey,
    PanelMeasurement,
    Snapshot,
)
from evsite.core.plan import SitePlan
from evsite.core.schedule import delay_state, scheduled_limits_in_force
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
) -> tuple[dict[ConnectorKey, ConnectorDemand], dict[ConnectorKey, datetime | None]]:
    """Demands of every configured connector, and each delayed one's opening."""
    demands: dict[ConnectorKey, ConnectorDemand] = {}
    delayed: dict[ConnectorKey, datetime | None] = {}
    tz = config.site.timezone
    for charger in config.chargers:
        state = live.chargers.get(charger.id)
        cancel = charger.id in overrides.delay_cancel
        for conn in charger.connectors:
            key = (charger.id, conn.id)
            live_conn = state.connectors.get(conn.id) if state is not None else None
            if live_conn is None or not wants_current(live_conn):
                continue
            now_flag = key in overrides.charge_now or live_conn.charge_now or cancel
            delay = delay_state(
                config.delay_windows, charger, now, tz, charge_now=now_flag
            )
            if delay.delayed:
                delayed[key] = delay.until
            demands[key] = ConnectorDemand(
                charger_id=charger.id,
                connector_id=conn.id,
                active=True,
                ev_max_a=overrides.caps.get(key),
                ev_phases=ev_phases(live_conn.current_a),
                session_start=live_conn.session_started_at,
                energy_wh=live_conn.session_energy_wh,
                charge_now=now_flag,
                delayed=delay.delayed,
            )
    return demands, delayed


def charger_states(
    config: SiteConfig,
    live: LiveState,
    inputs: ControlInputs,
) -> dict[str, ChargerState]:
    """Link and control state of every configured charger."""
    result: dict[str, ChargerState] = {}
    for charger in config.chargers:
        state = live.chargers.get(charger.id)
        online = state is not None and state.link is ChargerLink.CONNECTED
        in_force: float | None = inputs.offline_allocations.get(charger.id)
        if charger.id in inputs.defaults_in_force:
            known = inputs.defaults_in_force[charger.id]
            # Rejected TxDefault: nothing holds it back when it goes offline.
            in_force = charger.limit_a if known is None else known
        result[charger.id] = ChargerState(
            charger_id=charger.id,
            online=online,
            controllable=state.controllable if state is not None else True,
            maintenance=state.maintenance if state is not None else False,
            offline_allocation_a=in_force,
        )
    return result


def _charger_draw(
    tree: PanelTree,
    charger: Charger,
    live: LiveState,
    now: datetime,
    in_force: Mapping[ConnectorKey, float],
) -> dict[Phase, float]:
    """A charger's fresh measured draw mapped onto the panel's phases."""
    state = live.chargers.get(charger.id)
    if state is None:
        return {}
    phases = tree.charger_phases(charger)
    draw: dict[Phase, float] = {}
    for conn in state.connectors.values():
        if conn.status is not ConnectorStatus.CHARGING or conn.last_meter_at is None:
            continue
        if abs((now - conn.last_meter_at).total_seconds()) > CONTROLLED_FRESH_S:
            continue
        cap = in_force.get((charger.id, conn.connector_id), float("inf"))
        if len(phases) == 1:
            # A 1-phase charger reports its one line as L1 whatever it is wired to.
            amps = min(cap, max(conn.current_a.values(), default=0.0))
            draw[phases[0]] = draw.get(phases[0], 0.0) + amps
            continue
        for name, amps in conn.current_a.items():
            if name in Phase.__members__:
                draw[Phase(name)] = draw.get(Phase(name), 0.0) + min(cap, amps)
    return draw


def measurements(
    config: SiteConfig,
    live: LiveState,
    tree: PanelTree,
    in_force: Mapping[ConnectorKey, float] | None = None,
) -> dict[str, PanelMeasurement]:
    """Meter samples of metered panels, with evsite's own fresh load beneath."""
    result: dict[str, PanelMeasurement] = {}
    for panel in config.panels:
        sample = live.meters.get(panel.id)
        if panel.meter is None or sample is None:
            continue
        amps = {
            Phase(k): v for k, v in sample.current_a.items() if k in Phase.__members__
        }
        controlled: dict[Phase, float] = {}
        for charger in tree.chargers_under(panel.id):
            draw = _charger_draw(tree, charger, live, sample.at, in_force or {})
            for phase, value in draw.items():
                controlled[phase] = controlled.get(phase, 0.0) + value
        result[panel.id] = PanelMeasurement(panel.id, amps, sample.at, controlled)
    return result


def build_snapshot(
    config: SiteConfig, live: LiveState, now: datetime, inputs: ControlInputs
) -> tuple[Snapshot, dict[ConnectorKey, datetime | None]]:
    """The allocation snapshot at ``now``, and the delayed connectors' openings."""
    demands, delayed = build_demands(config, live, now, inputs.overrides)
    snapshot = Snapshot(
        tree=inputs.tree,
        energy=config.energy,
        now=now,
        demands=demands,
        chargers=charger_states(config, live, inputs),
        measurements=measurements(config, live, inputs.tree, inputs.limits_in_force),
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
