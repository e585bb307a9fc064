"""SetChargingProfile for energy control: built, queued, recorded when accepted.

Split from :mod:`evsite.adapters.csms.commands`. Every live limit takes this
path, so its frames are built directly as OCPP-J
(``profiles.set_profile_request``) and written at once when the charger's
queue is idle.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from evsite.adapters.csms.connection import Connection
from evsite.adapters.csms.profiles import (
    charging_profile,
    load_voltage,
    profile_limit,
    set_profile_request,
)
from evsite.adapters.storage import ocpp_repo as sql
from evsite.config.models import SiteConfig
from evsite.control.ports import ProfilePurpose
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


class Limits:
    """Sends charging profiles in each charger's unit; records accepted ones."""

    def __init__(self, central: CentralSystem) -> None:
        """Use the central system's book, repository, clock and site."""
        self._central = central
        self._tree_of: tuple[SiteConfig, PanelTree] | None = None
        self._electrics_of: dict[str, tuple[float, int]] = {}  # of that config

    async def start(
        self,
        conn: Connection,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None,
    ) -> Awaitable[bool]:
        """Queue the profile (sent now if the queue is idle); its outcome.

        Awaiting the outcome gives True once the charger accepted the profile
        and it is recorded as installed (durably), False when rejected.

        Raises:
            ChargerError: no transaction, queue full or closed.
        """
        charger_id = conn.charger_id
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
