"""Waitlists at run time (SPEC §5): the core state machine fed by events and a clock.

Every transition runs under one lock: the pure step is computed, the new
state and its driver-log / event-log rows are committed together, then the
effects are carried out: events on the bus (``waitlist_*``, which MQTT and
Home Assistant carry), and OCPP commands (ReserveNow, CancelReservation,
RemoteStop) in owned background tasks, so a command to a charger never
blocks the answer to that charger's own Authorize.

Time comes from the injected clock; the app calls :meth:`tick` every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from evsite.adapters.storage.waitlist_repo import WaitlistRepository
from evsite.config.access_models import (
    MemberKind,
    TagStatus,
    TargetKind,
    WaitlistPolicy,
)
from evsite.config.models import Charger
from evsite.context import Services
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink, ConnectorStatus
from evsite.control.ports import ChargerCommands
from evsite.control.waitlist_codec import state_from_dict, state_to_dict
from evsite.core import waitlist as wl
from evsite.core.waitlist import Effect, EffectKind, Running, Step, WaitlistState
from evsite.errors import (
    ChargerError,
    ConflictError,
    NotFoundError,
)

_LOGGER = logging.getLogger(__name__)

_BUS_KIND = {
    EffectKind.JOINED: EventKind.WAITLIST_JOINED,
    EffectKind.LEFT: EventKind.WAITLIST_LEFT,
    EffectKind.TURN: EventKind.WAITLIST_TURN,
    EffectKind.NO_SHOW: EventKind.WAITLIST_NO_SHOW,
    EffectKind.MAX_TIME: EventKind.WAITLIST_MAX_TIME,
    EffectKind.FINISH: EventKind.WAITLIST_FINISH,
}
# Effects that concern the station rather than a driver's own history.
_STATION_ONLY = {EffectKind.RESERVE, EffectKind.CANCEL_RESERVATION, EffectKind.STOP}


def queue_key(kind: TargetKind, target_id: str) -> str:
    """The queue id of a charger or station group."""
    return f"{'charger' if kind is TargetKind.CHARGER else 'group'}:{target_id}"


class WaitlistService:
    """Queues, holds and timed sessions of the site."""

    def __init__(
        self, services: Services, commands: ChargerCommands | None = None
    ) -> None:
        """Prepare; call :meth:`start` before use."""
        self.services = services
        self.commands = commands
        self.repo = WaitlistRepository(services.db)
        self.state = WaitlistState()
        self.policies: dict[str, WaitlistPolicy] = {}
        self.assigned: dict[str, str] = {}  # queue id -> policy id
        self._lock = asyncio.Lock()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._follower: asyncio.Task[None] | None = None
        self._remove_listener: Any = None

    # Lifecycle

    async def start(self) -> None:
        """Load policies and the saved queues; follow session and status events."""
        await self.reload()
        saved = await self.repo.load_state()
        if saved is not None:
            self.state = state_from_dict(saved)
        self._remove_listener = self.services.bus.add_listener(self._on_event)
        self._follower = asyncio.create_task(self._follow(), name="evsite-waitlists")

    async def stop(self) -> None:
        """Stop following events and cancel command tasks."""
        if self._remove_listener is not None:
            self._remove_listener()
        tasks = [t for t in (self._follower, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def reload(self) -> None:
        """Re-read policies and where they apply."""
        self.policies = await self.repo.policies()
        self.assigned = {
            queue_key(a.target_kind, a.target_id): a.policy_id
            for a in await self.repo.assignments()
        }

    # Queues and ports

    def queue_of(self, charger: Charger) -> str | None:
        """The queue serving a charger: its own policy, else its station group's."""
        own = queue_key(TargetKind.CHARGER, charger.id)
        if own in self.assigned:
            return own
        if charger.station_group is not None:
            group = queue_key(TargetKind.STATION_GROUP, charger.station_group)
            if group in self.assigned:
                return group
        return None

    def policy_of(self, queue_id: str) -> WaitlistPolicy | None:
        """The policy of a queue."""
        policy_id = self.assigned.get(queue_id)
        return self.policies.get(policy_id) if policy_id else None

    def chargers_of(self, queue_id: str) -> list[Charger]:
        """The chargers a queue serves."""
        return [
            c
            for c in self.services.site.config.chargers
            if self.queue_of(c) == queue_id
        ]

    def free_ports(self, queue_id: str) -> list[tuple[str, int]]:
        """Ports of a queue that are available now on connected chargers."""
        found = []
        for charger in self.chargers_of(queue_id):
            live = self.services.live.chargers.get(charger.id)
            if live is None or live.link is not ChargerLink.CONNECTED:
                continue
            for conn in charger.connectors:
                state = live.connectors.get(conn.id)
                if (
                    state is not None
                    and state.status is ConnectorStatus.AVAILABLE
                    and (state.transaction_id is None)
                ):
                    found.append((charger.id, conn.id))
        return found

    def held_for(
        self, charger_id: str, connector_id: int | None
    ) -> frozenset[str] | None:
        """Drivers a port (without connector: any port of the charger) is held for."""
        return wl.held_for(self.state, charger_id, connector_id)

    # Joining and leaving

    def _target(self, charger_id: str | None, group: str | None) -> str:
        if charger_id is not None:
            charger = self.services.site.config.charger(charger_id)
            if charger is None:
                raise NotFoundError("charger", charger_id)
            queue = self.queue_of(charger)
            if queue is None:
                raise ConflictError(
                    f"charger '{charger_id}' has no waitlist policy", "charger_id"
                )
            return queue
        if group is None:
            raise ConflictError("give charger_id or station_group", "charger_id")
        queue = queue_key(TargetKind.STATION_GROUP, group)
        if queue not in self.assigned:
            raise ConflictError(
                f"station group '{group}' has no waitlist policy", "station_group"
            )
        return queue

    async def join(
        self,
        driver_id: str,
        *,
        charger_id: str | None = None,
        group: str | None = None,
        remote: bool = True,
    ) -> dict[str, Any]:
        """Queue a driver at a charger's queue or a station group's queue."""
        access = self.services.components.get("access")
        drivers = getattr(getattr(access, "data", None), "drivers", None)
        if drivers is not None and driver_id not in drivers:
            raise NotFoundError("driver", driver_id)
        queue = self._target(charger_id, group)
        policy = self.policy_of(queue)
        if policy is None:
            raise ConflictError(f"queue {queue} has no waitlist policy", "policy_id")
        now = self.services.clock.now()
        tz = self.services.site.config.site.timezone
        await self._apply(
            lambda s: wl.join(s, driver_id, queue, policy, now, tz=tz, remote=remote)
        )
        return self.entry_view(driver_id)

    async def join_by_tap(self, driver_id: str, charger_id: str) -> bool:
        """A tap at a busy charger queues the driver (no-op without a policy)."""
        try:
            await self.join(driver_id, charger_id=charger_id, remote=False)
        except (ConflictError, NotFoundError) as err:
            _LOGGER.info("tap by %s at %s not queued: %s", driver_id, charger_id, err)
            return False
        return True

    async def leave(self, driver_id: str) -> None:
        """Take a driver out of their queue (giving up a held port)."""
        await self._apply(lambda s: wl.leave(s, driver_id))

    def entry_view(self, driver_id: str) -> dict[str, Any]:
        """Where a driver stands: waiting (position), holding a port, or absent."""
        entry = self.state.entry(driver_id)
        if entry is not None:
            queue = self.state.queue(entry.queue_id)
            return {
                "driver_id": driver_id,
                "queue_id": entry.queue_id,
                "state": "pending" if entry.pending else "waiting",
                "position": queue.index(entry) + 1,
                "joined_at": entry.joined_at.isoformat(),
            }
        hold = self.state.hold_of(driver_id)
        if hold is not None:
            return {
                "driver_id": driver_id,
                "queue_id": hold.queue_id,
                "state": "turn",
                "charger_id": hold.charger_id,
                "connector_id": hold.connector_id,
                "until": hold.until.isoformat(),
            }
        raise NotFoundError("waitlist entry", driver_id)

    # Events and time

    def _on_event(self, event: Event) -> None:
        if event.kind in (
            EventKind.SESSION_STARTED,
            EventKind.SESSION_STOPPED,
            EventKind.STATUS_CHANGED,
            EventKind.CHARGER_CONNECTED,
        ):
            self._events.put_nowait(event)

    async def _follow(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self.handle(event)
            except Exception:
                _LOGGER.exception("waitlist handling of %s failed", event.kind)
            finally:
                self._events.task_done()

    async def handle(self, event: Event) -> None:
        """Apply one session or status event, then offer freed ports."""
        charger = self.services.site.config.charger(event.charger_id or "")
        queue = self.queue_of(charger) if charger is not None else None
        if queue is None:
            return
        tx = event.data.get("transaction_id")
        if event.kind is EventKind.SESSION_STARTED and tx and event.connector_id:
            run = Running(
                str(tx), event.charger_id or "", event.connector_id, queue,
                event.at, self._driver_of(event.data.get("id_tag")),
            )  # fmt: skip
            await self._apply(lambda s: wl.session_started(s, run))
        elif event.kind is EventKind.SESSION_STOPPED and tx:
            await self._apply(lambda s: wl.session_stopped(s, str(tx)))
        elif (
            event.kind is EventKind.STATUS_CHANGED
            and event.data.get("status") == ConnectorStatus.SUSPENDED_EV.value
            and event.connector_id
        ):
            policies = {q: p for q in self.assigned if (p := self.policy_of(q))}
            port = (event.charger_id or "", event.connector_id)
            await self._apply(lambda s: wl.charged_full(s, policies, *port))
        await self._offer(queue)

    async def tick(self) -> None:
        """Expire holds, time sessions, activate pending joins, offer free ports."""
        now = self.services.clock.now()
        tz = self.services.site.config.site.timezone
        policies = {q: p for q in self.assigned if (p := self.policy_of(q))}
        energy = self._energy_kwh()
        await self._apply(lambda s: wl.tick(s, policies, now, tz, energy))
        for queue in list(self.assigned):
            await self._offer(queue)

    async def _offer(self, queue: str) -> None:
        policy = self.policy_of(queue)
        if policy is None:
            return
        ports = self.free_ports(queue)
        if ports and self.state.queue(queue):
            now = self.services.clock.now()
            await self._apply(lambda s: wl.offer(s, queue, ports, policy, now))

    def _energy_kwh(self) -> dict[str, float]:
        found = {}
        for live in self.services.live.chargers.values():
            for conn in live.connectors.values():
                if conn.transaction_id is not None:
                    found[conn.transaction_id] = conn.session_energy_wh / 1000
        return found

    def _driver_of(self, id_tag: object) -> str | None:
        """The driver whose permissions a tag carries (a child tag: its parent's)."""
        access = self.services.components.get("access")
        data = getattr(access, "data", None)
        if data is None or not isinstance(id_tag, str):
            return None
        tag = data.tags.get(id_tag)
        if tag is not None and tag.parent:
            tag = data.tags.get(tag.parent, tag)
        if tag is None or tag.owner_kind is not MemberKind.DRIVER:
            return None
        return str(tag.owner_id)

    def _tag_of(self, driver_id: str) -> str | None:
        """An active tag of the driver, for ReserveNow."""
        data = getattr(self.services.components.get("access"), "data", None)
        if data is None:
            return None
        for tag in data.tags.values():
            if (
                tag.owner_id == driver_id
                and tag.owner_kind is MemberKind.DRIVER
                and (tag.status is TagStatus.ACTIVE)
            ):
                return str(tag.id_tag)
        return None

    # Transitions

    async def _apply(self, transition: Any) -> Step:
        """Run a pure transition, persist it with its log rows, then act on it."""
        async with self._lock:
            step: Step = transition(self.state)
            if not step.effects and step.state == self.state:
                return step
            now = self.services.clock.now()
            statements = [self.repo.state_statement(state_to_dict(step.state))]
            for effect in step.effects:
                statements.extend(self._log_rows(effect, now))
            await self.repo.write(statements)
            self.state = step.state
        for effect in step.effects:
            self._act(effect, now)
        return step

    def _log_rows(self, effect: Effect, now: datetime) -> list[tuple[str, Any]]:
        detail = {
            "driver_id": effect.driver_id,
            "charger_id": effect.charger_id,
            "connector_id": effect.connector_id,
            **effect.data,
        }
        rows = [
            self.repo.event_log_statement(
                now, effect.kind.value, effect.queue_id, detail
            )
        ]
        if effect.driver_id is not None and effect.kind not in _STATION_ONLY:
            rows.append(
                self.repo.driver_log_statement(
                    now, effect.driver_id, effect.queue_id, effect.kind.value, detail
                )
            )
        return rows

    def _act(self, effect: Effect, now: datetime) -> None:
        kind = _BUS_KIND.get(effect.kind)
        if kind is not None:
            data = {
                "queue_id": effect.queue_id,
                "driver_id": effect.driver_id,
                **effect.data,
            }
            self.services.bus.publish(
                Event(kind, now, effect.charger_id, effect.connector_id, data)
            )
        commands = self.commands
        if commands is None or effect.charger_id is None:
            return
        charger, connector = effect.charger_id, effect.connector_id or 0
        if not commands.is_connected(charger):
            return
        if effect.kind is EffectKind.STOP:
            self._spawn(
                commands.remote_stop(charger, str(effect.data["transaction_id"]))
            )
        elif commands.supports(charger, "reservation"):
            reservation = int(effect.data.get("reservation_id", 0))
            tag = self._tag_of(effect.driver_id or "")
            if effect.kind is EffectKind.RESERVE and tag is not None:
                until = datetime.fromisoformat(str(effect.data["until"]))
                self._spawn(
                    commands.reserve_now(charger, connector, reservation, tag, until)
                )
            elif effect.kind is EffectKind.CANCEL_RESERVATION:
                self._spawn(commands.cancel_reservation(charger, reservation))

    def _spawn(self, command: Awaitable[str]) -> None:
        async def run() -> None:
            try:
                status = await command
                _LOGGER.info("waitlist command answered %s", status)
            except (ChargerError, TimeoutError) as err:
                _LOGGER.warning("waitlist command failed: %s", err)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until queued events and the command tasks they caused are done."""
        await self._events.join()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
