"""Start and stop the access subsystem: authorizer, local lists, waitlists."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from evsite.context import Services
from evsite.control.access_service import AccessService
from evsite.control.local_list import LocalListSync
from evsite.control.ports import ChargerCommands
from evsite.control.waitlist_service import WaitlistService

_LOGGER = logging.getLogger(__name__)

TICK_S = 1.0


@dataclass(slots=True)
class AccessSubsystem:
    """The running access components."""

    access: AccessService
    waitlists: WaitlistService
    local_lists: LocalListSync | None
    ticker: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """Stop everything this subsystem started."""
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ticker
        if self.local_lists is not None:
            await self.local_lists.stop()
        await self.waitlists.stop()
        await self.access.stop()


async def _tick_forever(waitlists: WaitlistService, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)  # the waitlist timers' resolution
        try:
            await waitlists.tick()
        except Exception:
            _LOGGER.exception("waitlist tick failed")


async def start_access(
    services: Services,
    commands: ChargerCommands | None,
    *,
    tick_s: float | None = TICK_S,
) -> AccessSubsystem:
    """Create, register and start the access subsystem.

    Registers ``components["authorizer"]`` and ``components["access"]`` (the
    :class:`AccessService`) and ``components["waitlists"]``. Without
    ``commands``, the OCPP server's ``components["charger_commands"]`` is used
    (start the central system first). ``tick_s=None`` leaves calling
    :meth:`WaitlistService.tick` to the caller (tests).
    """
    if commands is None:
        found = services.components.get("charger_commands")
        commands = found if hasattr(found, "send_local_list") else None  # type: ignore[assignment]
    access = AccessService(services, commands)
    waitlists = WaitlistService(services, commands)
    services.components["access"] = access
    services.components["authorizer"] = access
    services.components["waitlists"] = waitlists
    await access.start()
    await waitlists.start()
    local = None
    if commands is not None:
        local = LocalListSync(services, access, commands)
        await local.start()
    subsystem = AccessSubsystem(access, waitlists, local)
    if tick_s is not None:
        subsystem.ticker = asyncio.create_task(
            _tick_forever(waitlists, tick_s), name="evsite-waitlist-tick"
        )
    return subsystem
