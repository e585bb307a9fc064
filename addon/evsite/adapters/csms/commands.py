"""Commands to chargers (implements ``control.ports.ChargerCommands``).

Every command goes through the charger's :class:`CommandQueue` (one call in
flight, with a timeout) and is built for the charger's OCPP version by
:mod:`calls`. What the charger accepts is recorded as "installed": charging
profiles by purpose and stack level, reservations, local list version.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from evsite.adapters.csms import calls
from evsite.adapters.csms.connection import Connection
from evsite.adapters.csms.profiles import (
    charging_profile,
    load_voltage,
    profile_limit,
    set_profile_request,
)
from evsite.adapters.storage import ocpp_repo as sql
from evsite.config.models import SiteConfig
from evsite.control.ports import LocalListEntry, ProfilePurpose
from evsite.core.tree import PanelTree, charger_lines
from evsite.errors import ChargerError

if TYPE_CHECKING:
    from evsite.adapters.csms.server import CentralSystem

_LOGGER = logging.getLogger(__name__)

# Deterministic profile ids: re-sending a limit replaces the profile in place.
_PROFILE_BASE = {
    ProfilePurpose.CHARGER_MAX: 1,
    ProfilePurpose.TX_DEFAULT: 100,
    ProfilePurpose.TX: 200,
}
DEFAULT_VOLTAGE = 230.0
# Live limits are short-lived (a dead-man switch, evcc#25013): if evsite stops
# refreshing them, the charger falls back to its TxDefaultProfile (the offline
# allocation, SPEC §2.3). Energy control re-sends every TX_REFRESH_S (< this).
TX_PROFILE_VALID_S = 60.0


@dataclass(frozen=True, slots=True)
class Installed:
    """A profile sent, as recorded once the charger accepts it."""

    charger_id: str
    connector_id: int
    version: str
    purpose: ProfilePurpose
    limit_a: float
    limit: float  # in ``unit``
    unit: str
    phases: int
    profile_id: int
    transaction_id: str | None
    valid_to: datetime | None


def _electrics(
    config: SiteConfig, tree: PanelTree, charger_id: str
) -> tuple[float, int]:
    """Nominal voltage and phases of a charger in ``config``."""
    charger = config.charger(charger_id)
    if charger is None:
        return DEFAULT_VOLTAGE, 1
    if charger.parent not in tree.panels:
        return DEFAULT_VOLTAGE, charger.phases
    panel_lines = tree.panel_phases(charger.parent)
    voltage = load_voltage(
        tree.panels[charger.parent].voltage,
        len(panel_lines),
        len(charger_lines(charger, panel_lines)),
    )
    return voltage, charger.phases


class Commands:
    """Version-neutral commands over the per-charger queues."""

    def __init__(self, central: CentralSystem) -> None:
        """Use the central system's connections, services and repository."""
        self._central = central
        self._request_id = 0
        self._tree_of: tuple[SiteConfig, PanelTree] | None = None
        self._electrics_of: dict[str, tuple[float, int]] = {}  # of that config

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
        conn = self.connection(charger_id)
        assert conn.queue is not None
        if purpose is ProfilePurpose.CHARGER_MAX:
            connector_id = 0
        if purpose is ProfilePurpose.TX and transaction_id is None:
            session = self._central.book.on_connector(charger_id, connector_id)
            if session is None:
                raise ChargerError(
                    f"charger {charger_id!r} connector {connector_id}: no transaction"
                )
            transaction_id = session.transaction_id
        unit = conn.rate_unit or "A"
        voltage, phases = self._electrics(charger_id)
        sent = Installed(
            charger_id=charger_id, connector_id=connector_id, version=conn.version,
            purpose=purpose, limit_a=limit_a,
            limit=profile_limit(limit_a, unit, voltage, phases), unit=unit,
            phases=phases, profile_id=_PROFILE_BASE[purpose] + connector_id,
            transaction_id=transaction_id, valid_to=self._valid_to(purpose),
        )  # fmt: skip
        # Built as its payload directly: test_wire.py proves it equal to the
        # library's payload of calls.set_profile(charging_profile(...)) and valid.
        request = set_profile_request(
            version=sent.version, connector_id=connector_id,
            profile_id=sent.profile_id, purpose=purpose, stack_level=0,
            limit=sent.limit, unit=unit, phases=phases,
            transaction_id=transaction_id, valid_to=sent.valid_to,
        )  # fmt: skip
        answer = await conn.queue.start(request, self._central.call_timeout_s)
        return self._installed(answer, sent)

    async def _installed(self, answer: Awaitable[Any], sent: Installed) -> bool:
        """Wait for the charger's answer; record an accepted profile durably."""
        result = await answer
        accepted: bool = result.status == "Accepted"
        _LOGGER.debug(
            "%s/%s: %s limit %.1f A (%s %s) -> %s", sent.charger_id,
            sent.connector_id, sent.purpose.value, sent.limit_a, sent.limit,
            sent.unit, result.status,
        )  # fmt: skip
        if accepted:
            profile = charging_profile(
                version=sent.version, profile_id=sent.profile_id,
                purpose=sent.purpose, stack_level=0, limit=sent.limit,
                unit=sent.unit, phases=sent.phases,
                transaction_id=sent.transaction_id, valid_to=sent.valid_to,
            )  # fmt: skip
            await self._central.repo.write(
                [
                    sql.profile_installed(
                        sent.charger_id, sent.connector_id,
                        purpose=sent.purpose.value, stack_level=0,
                        profile_id=sent.profile_id, limit=sent.limit, unit=sent.unit,
                        transaction_id=sent.transaction_id, profile=profile,
                        now=self._central.services.clock.now(),
                    )
                ]
            )  # fmt: skip
        return accepted

    def _valid_to(self, purpose: ProfilePurpose) -> datetime | None:
        """Expiry of a live (Tx) profile; defaults and maximums do not expire."""
        if purpose is not ProfilePurpose.TX:
            return None
        # Whole seconds (valid 59-60 s): one ISO text per second for all frames.
        now = self._central.services.clock.now().replace(microsecond=0)
        return now + timedelta(seconds=TX_PROFILE_VALID_S)

    def _electrics(self, charger_id: str) -> tuple[float, int]:
        """Nominal voltage and phases of a charger (numberPhases: 1 line-to-line)."""
        config = self._central.services.site.config
        tree = self._tree(config)  # also drops what an older config gave
        found = self._electrics_of.get(charger_id)
        if found is None:
            found = self._electrics_of[charger_id] = _electrics(
                config, tree, charger_id
            )
        return found

    def _tree(self, config: SiteConfig) -> PanelTree:
        """The panel tree of ``config``, rebuilt only when the configuration changes."""
        if self._tree_of is None or self._tree_of[0] is not config:
            self._tree_of = (config, PanelTree.from_config(config))
            self._electrics_of = {}
        return self._tree_of[1]

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
