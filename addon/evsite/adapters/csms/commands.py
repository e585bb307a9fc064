"""Commands to chargers (implements ``control.ports.ChargerCommands``).

Every command goes through the charger's :class:`CommandQueue` (one call in
flight, with a timeout) and is built for the charger's OCPP version by
:mod:`calls`. What the charger accepts is recorded as "installed": charging
profiles by purpose and stack level, reservations, local list version.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evsite.adapters.csms import calls
from evsite.adapters.csms.connection import Connection
from evsite.adapters.csms.limits import Limits
from evsite.adapters.storage import ocpp_repo as sql
from evsite.control.ports import LocalListEntry, ProfilePurpose
from evsite.errors import ChargerError

if TYPE_CHECKING:
    from evsite.adapters.csms.server import CentralSystem

_LOGGER = logging.getLogger(__name__)


class Commands:
    """Version-neutral commands over the per-charger queues."""

    def __init__(self, central: CentralSystem) -> None:
        """Use the central system's connections, services and repository."""
        self._central = central
        self._request_id = 0
        self._limits = Limits(central)

    # Plumbing

    def connection(self, charger_id: str) -> Connection:
        """The live connection.

        Raises:
            ChargerError: the charger is not connected.
        """
        conn = self._central.connections.get(charger_id)
        if conn is None or conn.queue is None:
            raise ChargerError(f"charger '{charger_id}' is not connected")
        return conn

    async def call(
        self, charger_id: str, payload_for: Any, timeout_s: float | None = None
    ) -> Any:
        """Queue ``payload_for(version)`` and return the charger's result."""
        conn = self.connection(charger_id)
        assert conn.queue is not None
        payload = payload_for(conn.version)
        return await conn.queue.call(payload, timeout_s or self._central.call_timeout_s)

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    # ChargerCommands

    def is_connected(self, charger_id: str) -> bool:
        """The charger has a live connection now."""
        conn = self._central.connections.get(charger_id)
        return conn is not None and not conn.ws.closed

    def supports(self, charger_id: str, feature: str) -> bool:
        """Feature support as reported after boot; smart charging assumed if unknown."""
        conn = self._central.connections.get(charger_id)
        if conn is None or conn.features is None:
            return feature == "smart_charging"
        return feature in conn.features

    async def set_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> bool:
        """SetChargingProfile in the charger's rate unit; True when accepted."""
        answer = await self.start_limit(
            charger_id, connector_id, limit_a, purpose, transaction_id
        )
        return await answer

    async def start_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> Awaitable[bool]:
        """Queue a SetChargingProfile (sent now if the queue is idle); its outcome.

        Awaiting the outcome gives True once the charger accepted the profile
        and it is recorded as installed (durably), False when rejected.

        Raises:
            ChargerError: not connected, no transaction, queue full.
        """
        return await self._limits.start(
            self.connection(charger_id), connector_id, limit_a, purpose,
            transaction_id,
        )  # fmt: skip

    async def send_local_list(
        self,
        charger_id: str,
        version: int,
        entries: Sequence[LocalListEntry],
        *,
        full: bool,
    ) -> str:
        """SendLocalList; records the version when accepted."""
        result = await self.call(
            charger_id, lambda v: calls.local_list(v, version, entries, full=full)
        )
        if result.status == "Accepted":
            await self._set_list_version(charger_id, version)
        return str(result.status)

    async def get_local_list_version(self, charger_id: str) -> int:
        """GetLocalListVersion (and remember it)."""
        result = await self.call(charger_id, calls.local_list_version)
        version = int(getattr(result, "list_version", None) or result.version_number)
        await self._set_list_version(charger_id, version)
        return version

    async def _set_list_version(self, charger_id: str, version: int) -> None:
        await self._central.repo.write(
            [sql.charger_update(charger_id, local_list_version=version)]
        )

    async def reserve_now(
        self,
        charger_id: str,
        connector_id: int,
        reservation_id: int,
        id_tag: str,
        expiry: datetime,
    ) -> str:
        """ReserveNow; an accepted reservation is recorded as installed."""
        result = await self.call(
            charger_id,
            lambda v: calls.reserve(
                v, connector_id=connector_id, reservation_id=reservation_id,
                id_tag=id_tag, expiry=expiry,
            ),
        )  # fmt: skip
        if result.status == "Accepted":
            await self._central.repo.write(
                [
                    sql.reservation(
                        charger_id, reservation_id, connector_id=connector_id,
                        id_tag=id_tag, expiry=expiry, status_value="Accepted",
                        now=self._central.services.clock.now(),
                    )
                ]
            )  # fmt: skip
        return str(result.status)

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> str:
        """CancelReservation."""
        result = await self.call(
            charger_id, lambda v: calls.cancel_reservation(v, reservation_id)
        )
        if result.status == "Accepted":
            await self._central.repo.write(
                [sql.reservation_status(charger_id, reservation_id, "Cancelled")]
            )
        return str(result.status)

    async def change_availability(
        self, charger_id: str, connector_id: int, *, operative: bool
    ) -> str:
        """ChangeAvailability (connector 0 = whole charger)."""
        result = await self.call(
            charger_id,
            lambda v: calls.availability(v, connector_id, operative=operative),
        )
        return str(result.status)

    async def remote_start(
        self, charger_id: str, connector_id: int | None, id_tag: str
    ) -> str:
        """RemoteStartTransaction / RequestStartTransaction (numbered ≥ 1e9)."""
        remote_id = self._central.book.expect_remote(
            charger_id, connector_id, id_tag, self._central.services.clock.monotonic()
        )
        result = await self.call(
            charger_id, lambda v: calls.remote_start(v, connector_id, id_tag, remote_id)
        )
        return str(result.status)

    async def remote_stop(self, charger_id: str, transaction_id: str) -> str:
        """RemoteStopTransaction / RequestStopTransaction."""
        result = await self.call(
            charger_id, lambda v: calls.remote_stop(v, transaction_id)
        )
        return str(result.status)
