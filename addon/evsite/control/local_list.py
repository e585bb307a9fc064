"""Keep each charger's OCPP local authorization list in sync (SPEC §3).

The list a charger should hold is :meth:`AccessService.local_entries`: only
tags accepted at every hour (hour-limited access is left off, so an offline
charger never grants what the policy forbids; docs/access.md). What was last
accepted by the charger, and its version, is stored per charger.

* Additions and changes go as a *differential* SendLocalList.
* A removal goes as a *full* list: the port's entries always carry a status,
  and a differential entry without one is how OCPP deletes; a full list says
  the same without relying on it.
* After a reconnect the charger's GetLocalListVersion is compared with ours;
  any difference (a reset charger, a list changed by someone else) means full.
* A ``VersionMismatch`` answer to a differential update is retried as full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from evsite.adapters.storage.access_repo import AccessRepository
from evsite.context import Services
from evsite.control.access_service import AccessService
from evsite.control.events import Event, EventKind
from evsite.control.ports import ChargerCommands, LocalListEntry
from evsite.errors import ChargerError

_LOGGER = logging.getLogger(__name__)

FEATURE = "local_auth_list"
# Expiry dates pass without any event: compare desired and sent this often.
RECHECK_S = 60.0
# A charger's features are read after its boot; until then it looks
# unsupported. Retry a fresh connection this many times, doubling from 0.5 s.
DISCOVERY_RETRIES = 6


def entry_dict(entry: LocalListEntry) -> dict[str, Any]:
    """The stored form of one list entry."""
    return {
        "status": entry.status.value,
        "expiry": entry.expiry.isoformat() if entry.expiry else None,
        "parent_id_tag": entry.parent_id_tag,
    }


class LocalListSync:
    """One task that brings every connected charger's local list up to date."""

    def __init__(
        self,
        services: Services,
        access: AccessService,
        commands: ChargerCommands,
        *,
        recheck_s: float = RECHECK_S,
    ) -> None:
        """Prepare; :meth:`start` begins following changes."""
        self.services = services
        self.access = access
        self.commands = commands
        self.repo = AccessRepository(services.db)
        self._recheck_s = recheck_s
        self._dirty: set[str] = set()
        self._reconnected: set[str] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._remove_listener: Any = None
        self._retries: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def start(self) -> None:
        """Sync on every access change, config change and charger (re)connection."""
        self.access.on_change(self.request_all)
        self._remove_listener = self.services.bus.add_listener(self._on_event)
        self.request_all()
        self._task = asyncio.create_task(self._run(), name="evsite-local-lists")

    async def stop(self) -> None:
        """Stop the sync task."""
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def request_all(self) -> None:
        """Mark every charger of the site for a sync."""
        self._dirty.update(c.id for c in self.services.site.config.chargers)
        self._kick()

    def _on_event(self, event: Event) -> None:
        fresh = (EventKind.CHARGER_CONNECTED, EventKind.CHARGER_BOOTED)
        if event.kind in fresh and event.charger_id:
            self._reconnected.add(event.charger_id)
            self._retries[event.charger_id] = 0
            self._dirty.add(event.charger_id)
            self._kick()

    def _retry_later(self, charger_id: str) -> None:
        """Try a freshly connected charger again once its features may be known."""
        attempt = self._retries.get(charger_id)
        if attempt is None or attempt >= DISCOVERY_RETRIES:
            self._retries.pop(charger_id, None)
            return
        self._retries[charger_id] = attempt + 1
        self._reconnected.add(charger_id)

        def again() -> None:
            self._timers.pop(charger_id, None)
            self._dirty.add(charger_id)
            self._kick()

        old = self._timers.pop(charger_id, None)
        if old is not None:
            old.cancel()
        delay = 0.5 * 2**attempt
        self._timers[charger_id] = asyncio.get_running_loop().call_later(delay, again)

    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def settled(self, timeout: float = 5.0) -> None:
        """Wait until no sync is pending (tests and callers that need it done)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._recheck_s)
            self._wake.clear()
            if not self._dirty:
                self._dirty.update(c.id for c in self.services.site.config.chargers)
            while self._dirty:
                charger_id = self._dirty.pop()
                reconnected = charger_id in self._reconnected
                self._reconnected.discard(charger_id)
                try:
                    done = await self.sync(charger_id, reconnected=reconnected)
                    if done == "unsupported":
                        self._retry_later(charger_id)
                    else:
                        self._retries.pop(charger_id, None)
                except (ChargerError, TimeoutError) as err:
                    _LOGGER.warning("local list sync of %s failed: %s", charger_id, err)
                except Exception:
                    _LOGGER.exception("local list sync of %s failed", charger_id)
            if not self._wake.is_set():
                self._idle.set()

    async def sync(self, charger_id: str, *, reconnected: bool = False) -> str:
        """Bring one charger's list up to date; returns what was done."""
        if not self.commands.is_connected(charger_id):
            return "offline"
        if not self.commands.supports(charger_id, FEATURE):
            return "unsupported"
        entries = self.access.local_entries(charger_id)
        desired = {e.id_tag: entry_dict(e) for e in entries}
        stored = await self.repo.local_list(charger_id)
        full = stored is None
        if stored is not None and reconnected:
            theirs = await self.commands.get_local_list_version(charger_id)
            full = theirs != stored[0]
        if stored is not None and not full:
            sent = stored[1]
            if sent == desired:
                return "unchanged"
            full = bool(sent.keys() - desired.keys())
            if not full:
                changed = [
                    e for e in entries if sent.get(e.id_tag) != desired[e.id_tag]
                ]
                if await self._send(charger_id, stored[0] + 1, changed, desired, full):
                    return "differential"
                full = True
        version = (stored[0] if stored else 0) + 1
        if await self._send(charger_id, version, entries, desired, True):
            return "full"
        return "refused"

    async def _send(
        self,
        charger_id: str,
        version: int,
        entries: list[LocalListEntry],
        desired: dict[str, Any],
        full: bool,
    ) -> bool:
        status = await self.commands.send_local_list(
            charger_id, version, entries, full=full
        )
        kind = "full" if full else "differential"
        if status != "Accepted":
            _LOGGER.warning(
                "%s local list v%d refused by %s: %s", kind, version, charger_id, status
            )
            return False
        await self.repo.save_local_list(
            charger_id, version, desired, self.services.clock.now()
        )
        _LOGGER.info(
            "%s local list v%d (%d tags) sent to %s",
            kind,
            version,
            len(desired),
            charger_id,
        )
        return True
