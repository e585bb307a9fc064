"""The access subsystem: the Authorizer, the admin operations, closed chargers.

Authorization reads an in-memory copy of the access tables (reloaded after
every write) so a charger's Authorize is answered without a database read;
each decision is logged durably before it is returned, published as an
``authorization`` event, and an unknown card raises an "Unknown RFID" alarm
(seed 003). Closed chargers are set Inoperative when they connect or when
their scope becomes closed (seed 002), and made operative again when it is
lifted (only chargers this service made inoperative).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from evsite.adapters.storage.access_repo import AccessData, AccessRepository, AuthLogRow
from evsite.config.access_models import (
    AccessPolicy,
    ChargerAccess,
    MemberKind,
    RfidTag,
)
from evsite.config.models import Charger, Scope
from evsite.context import Services
from evsite.control.events import Event, EventKind
from evsite.control.live import ConnectorStatus
from evsite.control.ports import (
    AuthPurpose,
    AuthResult,
    ChargerCommands,
    IdTagStatus,
    LocalListEntry,
)
from evsite.core.access import (
    AccessRequest,
    Decision,
    Holder,
    TagVerdict,
    access_until,
    authorize,
    offline_entry,
    resolve_holder,
)
from evsite.errors import ChargerError, NotFoundError

_LOGGER = logging.getLogger(__name__)

UNKNOWN_RFID = "Unknown RFID"


class WaitlistHooks(Protocol):
    """What the authorizer asks the waitlist service."""

    def held_for(
        self, charger_id: str, connector_id: int | None
    ) -> frozenset[str] | None:
        """Drivers a port is held for, or None."""
        ...

    async def join_by_tap(self, driver_id: str, charger_id: str) -> bool:
        """Queue a driver who tapped at a busy charger; True if queued."""
        ...


def build_holders(data: AccessData) -> dict[str, Holder]:
    """Holders keyed ``"<kind>:<id>"``: drivers and every fleet vehicle named."""
    groups: dict[str, set[str]] = {}
    for member in data.members:
        groups.setdefault(f"{member.member_kind.value}:{member.member_id}", set()).add(
            member.group_id
        )
    holders = {
        f"driver:{d.id}": Holder(
            MemberKind.DRIVER,
            d.id,
            d.account_member,
            frozenset(groups.get(f"driver:{d.id}", ())),
        )
        for d in data.drivers.values()
    }
    vehicles = {
        t.owner_id for t in data.tags.values() if t.owner_kind is MemberKind.VEHICLE
    }
    vehicles |= {
        m.member_id for m in data.members if m.member_kind is MemberKind.VEHICLE
    }
    for vehicle in vehicles:
        if vehicle is None:
            continue
        key = f"vehicle:{vehicle}"
        # Fleet vehicles belong to the site's own account.
        holders[key] = Holder(
            MemberKind.VEHICLE, vehicle, True, frozenset(groups.get(key, ()))
        )
    return holders


class AccessService:
    """Implements :class:`evsite.control.ports.Authorizer`; owns the access data."""

    def __init__(
        self, services: Services, commands: ChargerCommands | None = None
    ) -> None:
        """Prepare; call :meth:`start` before use."""
        self.services = services
        self.commands = commands
        self.repo = AccessRepository(services.db)
        self.data = AccessData()
        self.holders: dict[str, Holder] = {}
        self._listeners: list[Callable[[], None]] = []
        self._inoperative: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # Lifecycle

    async def start(self) -> None:
        """Load the data and follow charger connections and config changes."""
        await self.reload()
        sub = self.services.bus.subscribe()
        self._task = asyncio.create_task(self._follow(sub), name="evsite-access")

    async def stop(self) -> None:
        """Stop following events."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def reload(self) -> None:
        """Re-read the access tables and tell listeners (local lists) they changed."""
        self.data = await self.repo.load()
        self.holders = build_holders(self.data)
        for listener in list(self._listeners):
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every change of the access data."""
        self._listeners.append(listener)

    @property
    def waitlists(self) -> WaitlistHooks | None:
        """The waitlist service, when one is registered."""
        found = self.services.components.get("waitlists")
        return found if hasattr(found, "held_for") else None  # type: ignore[return-value]

    # Decisions

    def charger(self, charger_id: str) -> Charger | None:
        """The charger as access sees it (a multifamily link names its driver)."""
        charger = self.services.site.config.charger(charger_id)
        link = self.data.links.get(charger_id)
        if charger is not None and link is not None:
            return replace(charger, private_driver=link.driver_id)
        return charger

    def request(
        self, charger: Charger, id_tag: str, held_for: frozenset[str] | None = None
    ) -> AccessRequest:
        """The pure decision's input for a tag at a charger now."""
        tag = self.data.tags.get(id_tag)
        parent = self.data.tags.get(tag.parent) if tag and tag.parent else None
        holder = resolve_holder(tag, self.data.tags, self.holders) if tag else None
        access = self.data.charger_access.get(charger.id)
        policy = (
            self.data.policies.get(access.usable_by)
            if access and access.usable_by
            else None
        )
        site = self.services.site.config.site
        return AccessRequest(
            charger, tag, parent, holder, policy, site.just_charge_allowed,
            self.services.clock.now(), site.timezone, held_for,
        )  # fmt: skip

    async def authorize(
        self,
        charger_id: str,
        connector_id: int | None,
        id_tag: str,
        purpose: AuthPurpose,
    ) -> AuthResult:
        """Decide, log the decision, and return it (the Authorizer port)."""
        charger = self.charger(charger_id)
        if charger is None:
            decision = Decision(False, TagVerdict.INVALID, "unknown_charger")
            req = None
        else:
            decision, req = await self._decide(charger, connector_id, id_tag, purpose)
        holder = req.holder if req is not None else None
        driver = holder.id if holder and holder.kind is MemberKind.DRIVER else None
        row = AuthLogRow(
            self.services.clock.now(), charger_id, connector_id, id_tag, purpose.value,
            decision.status.value, decision.rule, driver,
        )  # fmt: skip
        await self._record(row, decision.unknown)
        tag = req.tag if req is not None else None
        return AuthResult(
            IdTagStatus(decision.status.value),
            decision.rule,
            parent_id_tag=tag.parent if tag else None,
            expiry=_result_expiry(req) if decision.accepted and req else None,
        )

    async def _decide(
        self,
        charger: Charger,
        connector_id: int | None,
        id_tag: str,
        purpose: AuthPurpose,
    ) -> tuple[Decision, AccessRequest]:
        live = self.services.live.charger(charger.id)
        if purpose is AuthPurpose.STOP:
            owner = any(c.id_tag == id_tag for c in live.connectors.values())
            req = self.request(charger, id_tag)
            if owner:
                return Decision(True, TagVerdict.ACCEPTED, "session_owner"), req
            return authorize(req), req
        waitlists = self.waitlists
        held = waitlists.held_for(charger.id, connector_id) if waitlists else None
        if held is not None and connector_id is None and _has_free_port(self, charger):
            held = None  # another port is free: the tap may use that one
        req = self.request(charger, id_tag, held)
        decision = authorize(req)
        if (
            waitlists is not None
            and purpose is AuthPurpose.AUTHORIZE
            and decision.accepted
            and req.holder is not None
            and req.holder.kind is MemberKind.DRIVER
            and _all_busy(self, charger, id_tag)
            and await waitlists.join_by_tap(req.holder.id, charger.id)
        ):
            decision = Decision(True, TagVerdict.ACCEPTED, "waitlist_joined")
        return decision, req

    async def _record(self, row: AuthLogRow, unknown: bool) -> None:
        """Log durably, publish the decision, raise "Unknown RFID" for unknown cards."""
        await self.repo.log_decision(row)
        _LOGGER.info(
            "authorization %s at %s/%s for %s: %s (%s)",
            row.purpose, row.charger_id, row.connector_id, row.id_tag, row.status,
            row.rule,
        )  # fmt: skip
        bus = self.services.bus
        data = {
            "id_tag": row.id_tag,
            "purpose": row.purpose,
            "result": row.status,
            "rule": row.rule,
            "driver_id": row.driver_id,
        }
        bus.publish(
            Event(
                EventKind.AUTHORIZATION, row.at, row.charger_id, row.connector_id, data
            )
        )
        if unknown:
            alarm = {
                "alarm": "unknown_rfid",
                "name": UNKNOWN_RFID,
                "id_tag": row.id_tag,
            }
            bus.publish(
                Event(EventKind.ALARM, row.at, row.charger_id, row.connector_id, alarm)
            )

    # Offline lists

    def local_entries(self, charger_id: str) -> list[LocalListEntry]:
        """The tags a charger may accept offline (never what the policy forbids)."""
        charger = self.charger(charger_id)
        if charger is None or charger.scope is Scope.CLOSED:
            return []
        entries = []
        for tag in self.data.tags.values():
            req = self.request(charger, tag.id_tag)
            if offline_entry(req):
                entries.append(
                    LocalListEntry(
                        tag.id_tag,
                        IdTagStatus.ACCEPTED,
                        _expiry(tag, req.parent),
                        tag.parent,
                    )
                )
        return entries

    # Closed chargers (seed 002: "Closed - the charger is unavailable for use")

    async def _follow(self, sub: Any) -> None:
        try:
            async for event in sub:
                try:
                    await self._on_event(event)
                except (ChargerError, TimeoutError) as err:
                    _LOGGER.warning("availability change failed: %s", err)
                except Exception:
                    _LOGGER.exception("access event handling failed for %s", event.kind)
        finally:
            sub.close()

    async def _on_event(self, event: Event) -> None:
        if event.kind is EventKind.CHARGER_BOOTED and event.charger_id:
            # A booted charger may have forgotten its availability: say it again.
            await self.enforce_availability(event.charger_id, reconnected=True)
        elif event.kind is EventKind.CHARGER_CONNECTED and event.charger_id:
            await self.enforce_availability(event.charger_id)
        elif event.kind is EventKind.CONFIG_CHANGED:
            for charger in self.services.site.config.chargers:
                await self.enforce_availability(charger.id)
            for listener in list(self._listeners):
                listener()

    async def enforce_availability(
        self, charger_id: str, *, reconnected: bool = False
    ) -> None:
        """Inoperative while closed; operative again once the scope is lifted."""
        commands = self.commands
        if commands is None or not commands.is_connected(charger_id):
            return
        charger = self.services.site.config.charger(charger_id)
        closed = charger is not None and charger.scope is Scope.CLOSED
        if closed and (reconnected or charger_id not in self._inoperative):
            status = await commands.change_availability(charger_id, 0, operative=False)
            self._inoperative.add(charger_id)
            _LOGGER.info("closed charger %s set Inoperative: %s", charger_id, status)
        elif not closed and charger_id in self._inoperative:
            status = await commands.change_availability(charger_id, 0, operative=True)
            self._inoperative.discard(charger_id)
            _LOGGER.info(
                "charger %s no longer closed, set Operative: %s", charger_id, status
            )

    # Lookups used by the REST layer

    def require_charger(self, charger_id: str) -> Charger:
        """The charger, or NotFoundError."""
        charger = self.charger(charger_id)
        if charger is None:
            raise NotFoundError("charger", charger_id)
        return charger

    def charger_access(self, charger_id: str) -> ChargerAccess:
        """The policies applied to a charger (none when never set)."""
        self.require_charger(charger_id)
        return self.data.charger_access.get(charger_id, ChargerAccess(charger_id))

    def policy(self, policy_id: str) -> AccessPolicy:
        """An access policy, or NotFoundError."""
        found = self.data.policies.get(policy_id)
        if found is None:
            raise NotFoundError("access policy", policy_id)
        return found


def _expiry(tag: RfidTag | None, parent: RfidTag | None) -> datetime | None:
    """The earlier of a tag's and its parent's expiry."""
    dates = [t.expiry for t in (tag, parent) if t is not None and t.expiry is not None]
    return min(dates) if dates else None


def _result_expiry(req: AccessRequest) -> datetime | None:
    """The tag's (or parent's) expiry, or the end of hour-limited access if earlier."""
    dates = [d for d in (_expiry(req.tag, req.parent), access_until(req)) if d]
    return min(dates) if dates else None


def _has_free_port(service: AccessService, charger: Charger) -> bool:
    waitlists = service.waitlists
    live = service.services.live.charger(charger.id)
    for conn in charger.connectors:
        state = live.connectors.get(conn.id)
        free = state is None or (
            state.status is ConnectorStatus.AVAILABLE and not state.transaction_id
        )
        if free and (
            waitlists is None or waitlists.held_for(charger.id, conn.id) is None
        ):
            return True
    return False


def _all_busy(service: AccessService, charger: Charger, id_tag: str) -> bool:
    """Every port is in use by someone else: a tap there means "queue me"."""
    live = service.services.live.charger(charger.id)
    states = [live.connectors.get(c.id) for c in charger.connectors]
    idle = (ConnectorStatus.AVAILABLE, ConnectorStatus.UNKNOWN)
    if any(s is None or s.status in idle for s in states):
        return False
    return all(s is not None and s.id_tag != id_tag for s in states)
