"""The controller's bookkeeping: caches, overrides, live-state updates, targets.

Split from :mod:`evsite.control.energy` so the loop stays short. Nothing here
sends anything; the dispatcher does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from evsite.adapters.storage.energy_repo import EnergyRepository
from evsite.config.models import Charger, Panel, Phase, SiteConfig
from evsite.context import Services
from evsite.control.dispatch import Dispatcher
from evsite.control.dispatch_plan import Target
from evsite.control.energy_snapshot import Overrides
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerState, MeterSample
from evsite.core.allocation_model import (
    Allocation,
    ConnectorKey,
    ConnectorLimit,
    Reason,
)
from evsite.core.allocator import floor_step
from evsite.core.offline import offline_allocations
from evsite.core.plan import SitePlan
from evsite.core.schedule import scheduled_limit_a
from evsite.core.tree import PanelTree

_LOGGER = logging.getLogger(__name__)

OPERATOR_CAP = "operator_cap"


@dataclass(frozen=True, slots=True)
class ConfigCache:
    """What changes only with the configuration."""

    config: SiteConfig
    tree: PanelTree
    plan: SitePlan  # the allocator's indexes of the tree, built once
    offline: Mapping[str, float]  # station totals (SPEC §2.3)
    per_port_default: Mapping[str, float]  # TxDefault limit per connector


def per_port(total: float, charger: Charger) -> float:
    """A station's offline allocation split over its ports, rounded down.

    A TxDefaultProfile on connector 0 applies to *each* connector (OCPP 1.6
    §3.13.2), so a station whose ports share one breaker gets total / ports.
    """
    return floor_step(total / max(1, len(charger.connectors)))


class EnergyState:
    """Overrides, caches and what was last written to the live state."""

    def __init__(self, services: Services) -> None:
        """Start empty; :meth:`load` restores persisted overrides."""
        self._services = services
        self._cache: ConfigCache | None = None
        self.needs_default: set[str] = set()
        self.default_wanted: dict[str, float] = {}
        self.charge_now: dict[ConnectorKey, str | None] = {}
        self.delay_cancel: set[str] = set()
        self.caps: dict[ConnectorKey, float] = {}
        self.delayed: dict[ConnectorKey, datetime | None] = {}

    async def load(self, repo: EnergyRepository, dispatcher: Dispatcher) -> None:
        """Restore overrides and which TxDefault each charger accepted last."""
        self.charge_now = await repo.charge_now()
        self.delay_cancel = await repo.delay_cancels()
        self.caps = await repo.caps()
        for sent in await repo.limits_sent("tx_default"):
            dispatcher.defaults_in_force[sent.charger_id] = (
                sent.limit_a if sent.accepted else None
            )

    def config_changed(self) -> None:
        """Drop caches; the next cycle rebuilds them."""
        self._cache = None

    def cache(self, config: SiteConfig) -> ConfigCache:
        """Tree and offline allocations of ``config`` (computed once per config)."""
        cache = self._cache
        if cache is None or cache.config is not config:
            tree = PanelTree.from_config(config)
            offline = offline_allocations(tree, config.energy)
            ports = {c.id: per_port(offline[c.id], c) for c in config.chargers}
            plan = SitePlan.build(tree)
            cache = self._cache = ConfigCache(config, tree, plan, offline, ports)
        return cache

    def overrides(self) -> Overrides:
        """The overrides in force, for the snapshot."""
        return Overrides(
            charge_now=frozenset(self.charge_now),
            delay_cancel=frozenset(self.delay_cancel),
            caps=dict(self.caps),
        )

    def station_defaults(self, dispatcher: Dispatcher) -> dict[str, float | None]:
        """Station totals of the TxDefaults in force (None: rejected)."""
        chargers = self.cache(self._services.site.config).tree.chargers
        result: dict[str, float | None] = {}
        for cid, value in dispatcher.defaults_in_force.items():
            charger = chargers.get(cid)
            if charger is not None:
                ports = max(1, len(charger.connectors))
                result[cid] = None if value is None else value * ports
        return result

    async def expire_charge_now(self, repo: EnergyRepository) -> None:
        """Charge-now lasts one session: drop it once its transaction is over."""
        live = self._services.live
        for key, tx in list(self.charge_now.items()):
            state = live.chargers.get(key[0])
            conn = state.connectors.get(key[1]) if state is not None else None
            current = conn.transaction_id if conn is not None else None
            if tx is not None and current == tx:
                continue
            if tx is None and current is not None:
                self.charge_now[key] = current  # set before the session started
                await repo.set_charge_now(
                    key[0], key[1], current, self._services.clock.now()
                )
                continue
            if tx is None:
                continue
            del self.charge_now[key]
            await repo.set_charge_now(key[0], key[1], None, None)
            if conn is not None:
                conn.charge_now = False


def reason_text(limit: ConnectorLimit, caps: Mapping[ConnectorKey, float]) -> str:
    """The reason shown for a limit; an operator cap shows as ``operator_cap``."""
    key = (limit.charger_id, limit.connector_id)
    if limit.reason is Reason.EV_MAX and key in caps:
        return OPERATOR_CAP
    return limit.reason_text


def apply_allocation(
    services: Services,
    allocation: Allocation,
    delayed: Mapping[ConnectorKey, datetime | None],
    state: EnergyState,
    now: datetime,
) -> None:
    """Write limits, reasons and delays into live state; publish what changed."""
    live = services.live
    changed: set[str] = set()
    for key, limit in allocation.connectors.items():
        charger = live.chargers.get(key[0])
        if charger is None:
            continue  # never connected: nothing live to show
        conn = charger.connector(key[1])
        reason = reason_text(limit, state.caps)
        until = delayed.get(key) if limit.reason is Reason.DELAYED else None
        _delay_events(
            services, key, limit.reason is Reason.DELAYED, until, state=state, now=now
        )
        conn.charge_now = key in state.charge_now
        if (conn.limit_a, conn.reason, conn.delayed_until) == (
            limit.limit_a,
            reason,
            until,
        ):
            continue
        _LOGGER.debug(
            "allocation %s/%d: %s -> %.1f A (%s)",
            key[0], key[1], conn.limit_a, limit.limit_a, reason,
        )  # fmt: skip
        conn.limit_a, conn.reason, conn.delayed_until = limit.limit_a, reason, until
        changed.add(key[0])
        services.bus.publish(
            Event(
                EventKind.LIMIT_CHANGED, now, key[0], key[1],
                {"limit_a": limit.limit_a, "reason": reason},
            )
        )  # fmt: skip
    for charger_id in sorted(changed):
        live.changed("charger", charger_id)


def _delay_events(
    services: Services,
    key: ConnectorKey,
    is_delayed: bool,
    until: datetime | None,
    *,
    state: EnergyState,
    now: datetime,
) -> None:
    was = key in state.delayed
    if is_delayed and not was:
        state.delayed[key] = until
        data = {"delayed_until": until.isoformat() if until else None}
        services.bus.publish(Event(EventKind.DELAY_START, now, key[0], key[1], data))
    elif was and not is_delayed:
        del state.delayed[key]
        services.bus.publish(Event(EventKind.DELAY_END, now, key[0], key[1]))


def charger_targets(
    charger: Charger, allocation: Allocation, live: ChargerState, config: SiteConfig
) -> dict[int, Target]:
    """Targets of a charger's connectors that have a transaction."""
    floor = charger.min_current_a or config.energy.min_current_a
    targets: dict[int, Target] = {}
    for conn in charger.connectors:
        state = live.connectors.get(conn.id)
        limit = allocation.connectors.get((charger.id, conn.id))
        if state is None or limit is None or state.transaction_id is None:
            continue
        targets[conn.id] = Target(
            limit.limit_a, limit.reason_text, state.transaction_id, floor
        )
    return targets


def shed_inputs(
    config: SiteConfig,
    tree: PanelTree,
    panel: Panel,
    sample: MeterSample,
    latest: Allocation | None,
) -> tuple[float, dict[Phase, float], list[str]]:
    """Limit in force, measured amps and chargers drawing beneath a metered panel."""
    limit = panel.capacity_a
    local = sample.at.astimezone(ZoneInfo(config.site.timezone))
    scheduled = scheduled_limit_a(panel, local)
    if scheduled is not None:
        limit = min(limit, scheduled)
    measured = {
        Phase(k): v for k, v in sample.current_a.items() if k in Phase.__members__
    }
    chargers = [
        c.id
        for c in tree.chargers_under(panel.id)
        if latest is not None
        and any(latest.limit(c.id, k.id) > 0 for k in c.connectors)
    ]
    return limit, measured, sorted(chargers)
