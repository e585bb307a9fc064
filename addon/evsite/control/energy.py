"""The energy-management control loop (SPEC §2): snapshot, allocate, apply, dispatch.

A cycle runs soon after any event that changes demand (plug-in, status,
session start/stop, meter sample, config change, charger lost) and on a 1 s
tick. At most one cycle is in flight; events arriving during a cycle, or in a
short debounce window before it, coalesce into one cycle, so a burst of N boots
costs O(1) cycles. After each cycle the loop rests at least as long as the
cycle held it (the OCPP server must keep answering at 1,000 chargers), except
that a meter sample cuts the rest short. A meter
sample first steps that panel's shed state machine, so an overload is shed in
the same cycle as the sample that shows it (SPEC §2.2). Operator and
automation controls (shed level, charge now, delay cancel, connector caps,
offline allocations) are methods here, shared by REST, MQTT and Home Assistant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from evsite.adapters.storage.energy_repo import EnergyRepository, SentLimit
from evsite.config.models import SiteConfig
from evsite.context import Services
from evsite.control import energy_controls as controls
from evsite.control import gc_pacing
from evsite.control.dispatch import Dispatcher
from evsite.control.energy_apply import (
    EnergyState,
    apply_allocation,
    charger_targets,
    shed_inputs,
)
from evsite.control.energy_snapshot import ControlInputs, SnapshotMemo, build_snapshot
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink
from evsite.control.meters import SiteMeters
from evsite.control.ports import ChargerCommands
from evsite.control.shedding_service import ShedService
from evsite.core.allocation_model import Allocation
from evsite.core.allocator import allocate
from evsite.core.shedding import ExternalShed, ShedEvent, ShedEventKind
from evsite.errors import NotFoundError

_LOGGER = logging.getLogger(__name__)

COMPONENT = "energy"
COMMANDS_COMPONENT = "charger_commands"  # registered by the OCPP server
TICK_S = 1.0
# Events within this window after the first one share a cycle (boot storms).
DEBOUNCE_S = 0.02
# Rest after a cycle = max(MIN_REST_S, PACE * its duration): caps the loop's duty.
MIN_REST_S = 0.02
PACE = 1.0
# Longest the dispatch holds the event loop before it yields (OCPP replies to
# chargers wait meanwhile). A 1,000-charger shed takes 4-6 slices; answers are
# read in the yields but recorded only after the last lowering frame is out.
DISPATCH_SLICE_S = 0.04
_WAKE_ON = frozenset(
    {
        EventKind.CHARGER_CONNECTED,
        EventKind.CHARGER_BOOTED,
        EventKind.CHARGER_DISCONNECTED,
        EventKind.CHARGER_UNREACHABLE,
        EventKind.STATUS_CHANGED,
        EventKind.SESSION_STARTED,
        EventKind.SESSION_STOPPED,
        EventKind.CONFIG_CHANGED,
    }
)


class EnergyController:
    """Owns the control loop, the shed service, the meters and the dispatcher."""

    def __init__(
        self,
        services: Services,
        *,
        commands: ChargerCommands | None = None,
        tick_s: float = TICK_S,
        retry_start_s: float = 1.0,
        meters: bool = True,
        debounce_s: float = DEBOUNCE_S,
        min_rest_s: float = MIN_REST_S,
    ) -> None:
        """Prepare; ``commands`` defaults to the OCPP server's ChargerCommands."""
        self.services = services
        found: object = commands
        if found is None:
            found = services.components.get(COMMANDS_COMPONENT)
        if found is None:
            raise NotFoundError("component", COMMANDS_COMPONENT)
        self.commands = cast(ChargerCommands, found)
        self.repo = EnergyRepository(services.db)
        self.shed = ShedService(self.repo, services.bus)
        self.state = EnergyState(services)
        self.dispatcher = Dispatcher(
            self.commands, services.live, services.clock,
            on_control_change=self._control_changed, record=self._record,
            retry_start_s=retry_start_s,
        )  # fmt: skip
        self.meters = (
            SiteMeters(services.site, services.live, services.clock) if meters else None
        )
        self.latest: Allocation | None = None
        self.cycles = 0
        self._tick_s = tick_s
        self._debounce_s = debounce_s
        self._min_rest_s = min_rest_s
        self._wake = asyncio.Event()
        # Set by meter samples only: they may cut a rest short (SPEC §2.2).
        self._urgent = asyncio.Event()
        self._samples: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._remove_listener: object = None
        self._lock = asyncio.Lock()
        self._config_seen: SiteConfig | None = None
        self._memo = SnapshotMemo()

    # Lifecycle

    async def start(self) -> None:
        """Load persisted state, subscribe, start the loop, the tick and the meters."""
        await self.state.load(self.repo, self.dispatcher)
        await self.shed.load(self.services.clock.now())
        self.services.live.add_listener(self._on_live)
        self._remove_listener = self.services.bus.add_listener(self._on_event)
        for charger_id, charger in self.services.live.chargers.items():
            if charger.link is ChargerLink.CONNECTED:
                self.state.needs_default.add(charger_id)
        self._tasks = [
            asyncio.create_task(self._loop(), name="energy:loop"),
            asyncio.create_task(self._ticker(), name="energy:tick"),
        ]
        if self.meters is not None:
            self.meters.start()
        self.services.components[COMPONENT] = self
        self._wake.set()

    async def stop(self) -> None:
        """Cancel every task this controller owns and wait for them."""
        remover = self._remove_listener
        if callable(remover):
            remover()
        self._remove_listener = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.dispatcher.stop()
        if self.meters is not None:
            await self.meters.stop()
        if self.services.components.get(COMPONENT) is self:
            del self.services.components[COMPONENT]

    def wake(self) -> None:
        """Ask for a cycle as soon as possible."""
        self._wake.set()

    def _on_live(self, kind: str, entity_id: str) -> None:
        if kind == "panel":
            self._samples.add(entity_id)
            self._urgent.set()
            self._wake.set()

    def _on_event(self, event: Event) -> None:
        if event.kind not in _WAKE_ON:
            return
        cid = event.charger_id
        if (
            event.kind in (EventKind.CHARGER_CONNECTED, EventKind.CHARGER_BOOTED)
            and cid
        ):
            # A reconnected charger may have lost its profiles (go-e#217): re-push.
            self.state.needs_default.add(cid)
            self.dispatcher.forget(cid)
        elif event.kind is EventKind.CONFIG_CHANGED:
            self.state.config_changed()
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            if not self._urgent.is_set():
                # Let a burst (N boots, N meter values) land in this one cycle.
                await self._wait_urgent(self._debounce_s)
            self._wake.clear()
            self._urgent.clear()
            started = loop.time()
            try:
                await self.run_cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("energy control cycle failed")
            # Give the loop back for at least as long as the cycle held it, so
            # back-to-back cycles cannot starve OCPP replies; a meter sample
            # (possible overload) still gets its cycle at once.
            took = loop.time() - started
            await self._wait_urgent(max(self._min_rest_s, PACE * took))

    async def _wait_urgent(self, timeout: float) -> None:
        """Sleep ``timeout`` s, or less if a meter sample arrives."""
        if self._urgent.is_set():
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns when the
        # sample lands as stop() cancels this task, and the cancel is lost.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._urgent.wait()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            self._wake.set()

    # One cycle

    async def run_cycle(self) -> Allocation:
        """Shed on new samples, allocate, write live state, dispatch."""
        async with self._lock:
            services = self.services
            now = services.clock.now()
            config = services.site.config
            cache = self.state.cache(config)
            if config is not self._config_seen:
                await self._config_applied(config)
            samples, self._samples = self._samples, set()
            shed_events: list[ShedEvent] = []
            for panel_id in sorted(samples):
                shed_events += self._shed_step(panel_id)
            await self.state.expire_charge_now(self.repo)
            inputs = ControlInputs(
                tree=cache.tree,
                plan=cache.plan,
                offline_allocations=cache.offline,
                defaults_in_force=self.state.station_defaults(self.dispatcher),
                shedding=dict(self.shed.states),
                external_shed=self.shed.external,
                overrides=self.state.overrides(),
                previous=self.latest,
                limits_in_force=self.dispatcher.limits_in_force(services.live),
                memo=self._memo,
            )
            snapshot, delayed = build_snapshot(config, services.live, now, inputs)
            # Yield between the steps: each holds the loop for a while at
            # thousands of chargers, and OCPP replies must not wait for all.
            await asyncio.sleep(0)
            # The young collections the allocation's objects would trigger run
            # after it, not inside it: it is on the path from an overload
            # sample to the lower profiles (docs/performance.md, Allocation).
            with gc_pacing.paused():
                allocation = allocate(snapshot)
            self.latest = allocation
            await asyncio.sleep(0)
            try:
                # The limits go out first; the live state, its events and the
                # debug log of each change follow (a shed is not held up by them).
                await self._dispatch(allocation)
            finally:
                apply_allocation(services, allocation, delayed, self.state, now)
            self.cycles += 1
            # Logged after the lower limits are on their way, never before.
            await self.shed.log(shed_events)
            return allocation

    async def _config_applied(self, config: SiteConfig) -> None:
        """A new configuration: restart changed meters, drop unmetered shed state."""
        self._config_seen = config
        self.shed.forget_panels(p.id for p in config.panels if p.meter is not None)
        if self.meters is not None:
            await self.meters.reload()

    def _shed_step(self, panel_id: str) -> list[ShedEvent]:
        """Step one metered panel's shed state with its newest sample."""
        config = self.services.site.config
        panel = config.panel(panel_id)
        sample = self.services.live.meters.get(panel_id)
        if panel is None or panel.meter is None or sample is None:
            return []
        tree = self.state.cache(config).tree
        limit, measured, chargers = shed_inputs(
            config, tree, panel, sample, self.latest
        )
        events = self.shed.on_sample(
            config, panel_id, measured, sample.at, limit_a=limit, chargers=chargers
        )
        if any(e.kind is not ShedEventKind.END for e in events):
            _LOGGER.debug("panel %s overloaded: shedding in this cycle", panel_id)
        return events

    async def _dispatch(self, allocation: Allocation) -> None:
        """Push TxDefaults where needed and submit every online charger's targets."""
        config = self.services.site.config
        clock = asyncio.get_running_loop().time
        slice_end = clock() + DISPATCH_SLICE_S
        # Every frame out before answers are handled, and before the young
        # garbage collections the burst would trigger (they run after it).
        with self.dispatcher.batch(), gc_pacing.paused():
            for charger in config.chargers:
                if clock() > slice_end:
                    await asyncio.sleep(0)  # let replies through between slices
                    slice_end = clock() + DISPATCH_SLICE_S
                cid = charger.id
                if not self.commands.is_connected(cid):
                    continue
                self._push_default(cid)
                live = self.services.live.chargers.get(cid)
                if live is None or not live.controllable:
                    continue
                await self.dispatcher.submit(
                    cid, charger_targets(charger, allocation, live, config)
                )

    def _push_default(self, charger_id: str) -> None:
        """Queue the TxDefault on (re)connect, on change, or after a failed send."""
        wanted = self.state.cache(self.services.site.config).per_port_default[
            charger_id
        ]
        state = self.state
        undelivered = self.dispatcher.undelivered_defaults
        if (
            charger_id in state.needs_default
            or charger_id in undelivered
            or state.default_wanted.get(charger_id) != wanted
        ):
            state.needs_default.discard(charger_id)
            undelivered.discard(charger_id)
            state.default_wanted[charger_id] = wanted
            self.dispatcher.push_default(charger_id, wanted)

    def _control_changed(self, charger_id: str, controllable: bool) -> None:
        """The dispatcher found a charger (un)controllable: show it, re-allocate."""
        state = self.services.live.charger(charger_id)
        if state.controllable != controllable:
            state.controllable = controllable
            _LOGGER.warning(
                "charger %s is %s", charger_id,
                "controllable again" if controllable else
                "rejecting profiles: treated as uncontrollable (full limit reserved)",
            )  # fmt: skip
            self.services.live.changed("charger", charger_id)
        self._wake.set()

    async def _record(self, sent: SentLimit) -> None:
        await self.repo.record_sent(sent, self.services.clock.now())

    # Controls shared by REST, MQTT and Home Assistant

    async def set_shed_level(
        self,
        percent: float | None = None,
        limit_a: float | None = None,
        panel_id: str | None = None,
        limit_kw: float | None = None,
    ) -> ExternalShed | None:
        """Set the external shed level (all None clears it); returns it."""
        return await controls.set_shed_level(self, percent, limit_a, panel_id, limit_kw)

    async def charge_now(
        self, charger_id: str, connector_id: int, enabled: bool = True
    ) -> None:
        """Lift (or restore) the delay for the connector's current session."""
        await controls.charge_now(self, charger_id, connector_id, enabled)

    async def cancel_delay(self, charger_id: str, enabled: bool = True) -> None:
        """Cancel (or restore) delayed charging for a whole charger."""
        await controls.cancel_delay(self, charger_id, enabled)

    async def set_connector_limit(
        self, charger_id: str, connector_id: int, limit_a: float | None
    ) -> None:
        """Cap a connector at ``limit_a`` A (None removes the cap)."""
        await controls.set_connector_limit(self, charger_id, connector_id, limit_a)

    def offline_allocation(self, charger_id: str) -> controls.OfflineAllocation:
        """A charger's offline allocation (configured, per port, in force)."""
        return controls.offline_allocation(self, charger_id)

    async def set_offline_allocation(
        self, charger_id: str, value: float | None
    ) -> controls.OfflineAllocation:
        """Set or remove a charger's offline override (validated, persisted, pushed)."""
        return await controls.set_offline_allocation(self, charger_id, value)
