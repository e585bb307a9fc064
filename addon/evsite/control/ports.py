"""Ports between subsystems: Protocols the adapters implement and control uses.

The OCPP adapter implements :class:`ChargerCommands` and calls an
:class:`Authorizer`; the access subsystem implements the authorizer and uses the
commands for local lists and reservations; energy control uses the commands
for charging profiles. Everything is version-neutral (OCPP 1.6 and 2.0.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class IdTagStatus(StrEnum):
    """Authorization outcome, as OCPP 1.6 ``AuthorizationStatus`` names it."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class AuthPurpose(StrEnum):
    """Why a tag is being authorized."""

    AUTHORIZE = "authorize"
    START = "start_transaction"
    REMOTE_START = "remote_start"
    STOP = "stop_transaction"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Outcome of an authorization, with the rule that decided it."""

    status: IdTagStatus
    rule: str
    parent_id_tag: str | None = None
    expiry: datetime | None = None

    @property
    def accepted(self) -> bool:
        """True when charging may go ahead."""
        return self.status is IdTagStatus.ACCEPTED


class Authorizer(Protocol):
    """Decides whether ``id_tag`` may charge at a charger (SPEC §3)."""

    async def authorize(
        self,
        charger_id: str,
        connector_id: int | None,
        id_tag: str,
        purpose: AuthPurpose,
    ) -> AuthResult:
        """Decide, log the decision, and return it."""
        ...


class ProfilePurpose(StrEnum):
    """Which charging profile a limit is sent as (SPEC §4.3)."""

    TX = "tx"
    TX_DEFAULT = "tx_default"
    CHARGER_MAX = "charger_max"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """One entry of a charger's local authorization list."""

    id_tag: str
    status: IdTagStatus
    expiry: datetime | None = None
    parent_id_tag: str | None = None


class ChargerCommands(Protocol):
    """Commands to chargers, queued per charger (one OCPP call in flight)."""

    def is_connected(self, charger_id: str) -> bool:
        """The charger has a live connection now."""
        ...

    def supports(self, charger_id: str, feature: str) -> bool:
        """Support for ``reservation``, ``local_auth_list`` or ``smart_charging``."""
        ...

    async def set_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> bool:
        """Send a charging profile (A or W as the charger wants); True if accepted."""
        ...

    async def send_local_list(
        self,
        charger_id: str,
        version: int,
        entries: Sequence[LocalListEntry],
        *,
        full: bool,
    ) -> str:
        """SendLocalList; returns the charger's status string."""
        ...

    async def get_local_list_version(self, charger_id: str) -> int:
        """GetLocalListVersion."""
        ...

    async def reserve_now(
        self,
        charger_id: str,
        connector_id: int,
        reservation_id: int,
        id_tag: str,
        expiry: datetime,
    ) -> str:
        """ReserveNow; returns the charger's status string."""
        ...

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> str:
        """CancelReservation; returns the charger's status string."""
        ...

    async def change_availability(
        self, charger_id: str, connector_id: int, *, operative: bool
    ) -> str:
        """ChangeAvailability (connector 0 = whole charger)."""
        ...

    async def remote_start(
        self, charger_id: str, connector_id: int | None, id_tag: str
    ) -> str:
        """RemoteStartTransaction / RequestStartTransaction."""
        ...

    async def remote_stop(self, charger_id: str, transaction_id: str) -> str:
        """RemoteStopTransaction / RequestStopTransaction."""
        ...
