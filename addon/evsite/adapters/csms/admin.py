"""Operator-facing queries and actions of the central system (REST calls these)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from evsite.adapters.csms import calls
from evsite.adapters.csms.security import check_password_rules, hash_password
from evsite.adapters.csms.translate import iso
from evsite.adapters.storage import ocpp_repo as sql
from evsite.control.live import ChargerLink
from evsite.errors import ChargerError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from evsite.adapters.csms.server import CentralSystem

_LOGGER = logging.getLogger(__name__)

SESSION_FIELDS = (
    "id", "charger_id", "connector_id", "transaction_id", "session_number",
    "start_kind", "id_tag", "auth_status", "started_at", "stopped_at",
    "meter_start_wh", "meter_stop_wh", "energy_wh", "stop_reason", "stop_id_tag",
    "ocpp_version", "flags",
)  # fmt: skip


def session_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A session row in the REST shape (SPEC §12.1 fields first)."""
    data = {name: row.get(name) for name in SESSION_FIELDS}
    data["start"] = row.get("started_at")
    data["stop"] = row.get("stopped_at")
    data["flags"] = [f for f in (row.get("flags") or "").split(",") if f]
    return data


class OcppAdmin:
    """Passwords, adoption, status and history of chargers."""

    def __init__(self, central: CentralSystem) -> None:
        """Act on ``central``."""
        self._central = central
        self._repo = central.repo

    def _exists(self, charger_id: str, row: dict[str, Any] | None) -> None:
        known = self._central.services.site.config.charger(charger_id) is not None
        if not known and row is None and charger_id not in self._central.connections:
            raise NotFoundError("charger", charger_id)

    async def set_password(self, charger_id: str, password: str) -> None:
        """Store a new Basic-auth password (hashed) for a charger (profile 1/2).

        Raises:
            ConfigError: the password is not 16-40 characters.
        """
        check_password_rules(password)
        now = self._central.services.clock.now()
        await self._repo.write(
            [
                sql.ensure_charger(charger_id, now, pending=False),
                sql.charger_update(charger_id, password_hash=hash_password(password)),
            ]
        )
        self._central.gate.forget(charger_id)
        _LOGGER.info("password of charger '%s' changed", charger_id)

    async def pending(self) -> list[dict[str, Any]]:
        """Unknown chargers that connected and wait for adoption."""
        return await self._repo.pending_chargers()

    async def adopt(
        self, charger_id: str, password: str | None = None
    ) -> dict[str, Any]:
        """Accept a pending charger; it is told to boot again (then Accepted).

        Raises:
            NotFoundError: no such pending charger.
        """
        row = await self._repo.charger(charger_id)
        if row is None or not row["pending"]:
            raise NotFoundError("pending charger", charger_id)
        if password is not None:
            await self.set_password(charger_id, password)
        now = self._central.services.clock.now()
        await self._repo.write(
            [sql.charger_update(charger_id, pending=0, adopted_at=iso(now))]
        )
        conn = self._central.connections.get(charger_id)
        if conn is not None:
            conn.pending = False
            state = self._central.services.live.charger(charger_id)
            state.link = ChargerLink.CONNECTED
            self._central.services.live.changed("charger", charger_id)
            try:  # a new boot gets Accepted and the capability query
                await self._central.commands.call(
                    charger_id, lambda v: calls.trigger(v, "BootNotification", None)
                )
            except ChargerError as err:
                _LOGGER.info("adopted '%s'; boot trigger failed: %s", charger_id, err)
        _LOGGER.info("charger '%s' adopted", charger_id)
        return {"charger_id": charger_id, "adopted_at": iso(now)}

    async def status(self, charger_id: str) -> dict[str, Any]:
        """Live state, connection, identity, connectors and last meter values.

        Raises:
            NotFoundError: evsite has never heard of the charger.
        """
        row = await self._repo.charger(charger_id)
        self._exists(charger_id, row)
        live = self._central.services.live.charger(charger_id).as_dict()
        conn = self._central.connections.get(charger_id)
        row = row or {}
        return {
            **live,
            "connection": conn.as_dict() if conn is not None else None,
            "pending": bool(row.get("pending")),
            "vendor": live["vendor"] or row.get("vendor"),
            "model": live["model"] or row.get("model"),
            "serial": live["serial"] or row.get("serial"),
            "firmware": live["firmware"] or row.get("firmware"),
            "firmware_status": row.get("firmware_status"),
            "diagnostics_status": row.get("diagnostics_status"),
            "last_boot_at": row.get("last_boot_at"),
            "rate_unit": row.get("rate_unit"),
            "stored_status": await self._repo.statuses(charger_id),
            "meter_values": await self._repo.meter_values(charger_id, limit=10),
        }

    async def sessions(
        self, *, limit: int = 100, offset: int = 0, charger_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Sessions newest first, in the REST shape."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise ConflictError("limit must be 1-1000 and offset ≥ 0", path="limit")
        rows = await self._repo.sessions(
            limit=limit, offset=offset, charger_id=charger_id
        )
        return [session_dict(r) for r in rows]

    async def installed(self, charger_id: str) -> dict[str, Any]:
        """Profiles, reservations and local list version evsite installed."""
        row = await self._repo.charger(charger_id)
        self._exists(charger_id, row)
        return {"charger_id": charger_id, **await self._repo.installed(charger_id)}
