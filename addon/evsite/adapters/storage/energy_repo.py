"""Energy-management state in SQLite (migration 0003): shed log, overrides, limits.

Rows in, plain values out; the control layer decides what they mean.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evsite.adapters.storage.db import Database, Statement
from evsite.core.shedding import ExternalShed


@dataclass(frozen=True, slots=True)
class ShedLogEntry:
    """One row of the shed event log."""

    id: int
    source: str
    panel_id: str | None
    started_at: datetime
    ended_at: datetime | None
    depth_a: float
    level: dict[str, Any] | None
    chargers: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (REST, MQTT)."""
        return {
            "id": self.id,
            "source": self.source,
            "panel_id": self.panel_id,
            "start": self.started_at.isoformat(),
            "end": self.ended_at.isoformat() if self.ended_at else None,
            "depth_a": self.depth_a,
            "level": self.level,
            "chargers": list(self.chargers),
        }


@dataclass(frozen=True, slots=True)
class SentLimit:
    """The last profile limit sent to a connector, and whether it was accepted."""

    charger_id: str
    connector_id: int
    purpose: str
    limit_a: float | None
    transaction_id: str | None
    accepted: bool


def level_dict(level: ExternalShed) -> dict[str, Any]:
    """An external shed level as JSON."""
    return {
        "percent": level.percent,
        "limit_a": level.limit_a,
        "limit_kw": level.limit_kw,
        "panel_id": level.panel_id,
    }


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class EnergyRepository:
    """Shed events, external shed level, operator overrides, limits sent."""

    def __init__(self, db: Database) -> None:
        """Use ``db`` for every read and write."""
        self._db = db

    # Shed event log

    async def shed_start(
        self,
        source: str,
        panel_id: str | None,
        start: datetime,
        *,
        depth_a: float,
        level: ExternalShed | None,
        chargers: Sequence[str],
    ) -> int:
        """Insert a new shed event; returns its id."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO shed_events (source, panel_id, started_at, depth_a,"
                " level, chargers) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    source,
                    panel_id,
                    start.isoformat(),
                    depth_a,
                    None if level is None else json.dumps(level_dict(level)),
                    json.dumps(sorted(chargers)),
                ),
            )
            new_id = cursor.lastrowid
        return int(new_id or 0)

    async def shed_update(
        self,
        event_id: int,
        *,
        depth_a: float,
        level: ExternalShed | None,
        chargers: Sequence[str],
        end: datetime | None = None,
    ) -> None:
        """Update depth, level, affected chargers and (when it ended) the end."""
        await self._db.write(
            [
                (
                    "UPDATE shed_events SET depth_a = ?, level = coalesce(?, level),"
                    " chargers = ?, ended_at = coalesce(?, ended_at) WHERE id = ?",
                    (
                        depth_a,
                        None if level is None else json.dumps(level_dict(level)),
                        json.dumps(sorted(chargers)),
                        None if end is None else end.isoformat(),
                        event_id,
                    ),
                )
            ]
        )

    async def close_open_events(self, end: datetime, source: str) -> int:
        """End ``source`` events left open by a restart; returns how many."""
        rows = await self._db.fetchall(
            "SELECT id FROM shed_events WHERE ended_at IS NULL AND source = ?",
            (source,),
        )
        await self._db.write(
            [
                (
                    "UPDATE shed_events SET ended_at = ? WHERE id = ?",
                    (end.isoformat(), r[0]),
                )
                for r in rows
            ]
        )
        return len(rows)

    async def open_event(self, source: str) -> int | None:
        """The newest still-open event of ``source``, if any."""
        row = await self._db.fetchone(
            "SELECT max(id) FROM shed_events WHERE ended_at IS NULL AND source = ?",
            (source,),
        )
        return None if row is None or row[0] is None else int(row[0])

    async def shed_events(self, limit: int = 100) -> list[ShedLogEntry]:
        """The newest shed events first."""
        rows = await self._db.fetchall(
            "SELECT id, source, panel_id, started_at, ended_at, depth_a, level,"
            " chargers FROM shed_events ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            ShedLogEntry(
                id=int(r[0]),
                source=str(r[1]),
                panel_id=r[2],
                started_at=datetime.fromisoformat(r[3]),
                ended_at=_time(r[4]),
                depth_a=float(r[5]),
                level=json.loads(r[6]) if r[6] else None,
                chargers=tuple(json.loads(r[7])),
            )
            for r in rows
        ]

    # External shed level

    async def save_external(self, level: ExternalShed | None, since: datetime) -> None:
        """Persist the external shed level in force (None clears it)."""
        data = None if level is None else json.dumps(level_dict(level))
        await self._db.write(
            [
                (
                    "INSERT INTO energy_external_shed (singleton, data, since)"
                    " VALUES (1, ?, ?) ON CONFLICT (singleton) DO UPDATE SET"
                    " data = excluded.data, since = excluded.since",
                    (data, since.isoformat()),
                )
            ]
        )

    async def external(self) -> tuple[ExternalShed | None, datetime | None]:
        """The stored external shed level and since when."""
        row = await self._db.fetchone(
            "SELECT data, since FROM energy_external_shed WHERE singleton = 1"
        )
        if row is None or row[0] is None:
            return None, None
        data = json.loads(row[0])
        level = ExternalShed(
            data["percent"], data["limit_a"], data["panel_id"], data.get("limit_kw")
        )
        return level, _time(row[1])

    # Operator overrides

    async def set_charge_now(
        self,
        charger_id: str,
        connector_id: int,
        transaction_id: str | None,
        at: datetime | None,
    ) -> None:
        """Record (``at`` set) or clear (``at`` None) charge-now for a connector."""
        if at is None:
            stmt: Statement = (
                "DELETE FROM energy_charge_now"
                " WHERE charger_id = ? AND connector_id = ?",
                (charger_id, connector_id),
            )
        else:
            stmt = (
                "INSERT INTO energy_charge_now (charger_id, connector_id,"
                " transaction_id, set_at) VALUES (?, ?, ?, ?) ON CONFLICT"
                " (charger_id, connector_id) DO UPDATE SET transaction_id ="
                " excluded.transaction_id, set_at = excluded.set_at",
                (charger_id, connector_id, transaction_id, at.isoformat()),
            )
        await self._db.write([stmt])

    async def charge_now(self) -> dict[tuple[str, int], str | None]:
        """(charger, connector) -> the transaction charge-now was set for."""
        rows = await self._db.fetchall(
            "SELECT charger_id, connector_id, transaction_id FROM energy_charge_now"
        )
        return {(str(r[0]), int(r[1])): r[2] for r in rows}

    async def set_delay_cancel(self, charger_id: str, at: datetime | None) -> None:
        """Record (``at`` set) or clear a per-charger delay cancel."""
        if at is None:
            stmt: Statement = (
                "DELETE FROM energy_delay_cancel WHERE charger_id = ?",
                (charger_id,),
            )
        else:
            stmt = (
                "INSERT INTO energy_delay_cancel (charger_id, set_at) VALUES (?, ?)"
                " ON CONFLICT (charger_id) DO UPDATE SET set_at = excluded.set_at",
                (charger_id, at.isoformat()),
            )
        await self._db.write([stmt])

    async def delay_cancels(self) -> set[str]:
        """Chargers whose delay is cancelled by an operator."""
        rows = await self._db.fetchall("SELECT charger_id FROM energy_delay_cancel")
        return {str(r[0]) for r in rows}

    async def set_cap(
        self, charger_id: str, connector_id: int, limit_a: float | None, at: datetime
    ) -> None:
        """Record (or clear, ``limit_a`` None) an operator cap on a connector."""
        if limit_a is None:
            stmt: Statement = (
                "DELETE FROM energy_connector_caps WHERE charger_id = ?"
                " AND connector_id = ?",
                (charger_id, connector_id),
            )
        else:
            stmt = (
                "INSERT INTO energy_connector_caps (charger_id, connector_id, limit_a,"
                " set_at) VALUES (?, ?, ?, ?) ON CONFLICT (charger_id, connector_id)"
                " DO UPDATE SET limit_a = excluded.limit_a, set_at = excluded.set_at",
                (charger_id, connector_id, limit_a, at.isoformat()),
            )
        await self._db.write([stmt])

    async def caps(self) -> dict[tuple[str, int], float]:
        """Operator caps per connector."""
        rows = await self._db.fetchall(
            "SELECT charger_id, connector_id, limit_a FROM energy_connector_caps"
        )
        return {(str(r[0]), int(r[1])): float(r[2]) for r in rows}

    # Limits sent

    async def record_sent(self, sent: SentLimit, at: datetime) -> None:
        """Remember the last profile sent for a connector and purpose."""
        await self._db.write(
            [
                (
                    "INSERT INTO energy_limits_sent (charger_id, connector_id, purpose,"
                    " limit_a, transaction_id, accepted, sent_at) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (charger_id, connector_id,"
                    " purpose) DO UPDATE SET limit_a = excluded.limit_a,"
                    " transaction_id = excluded.transaction_id,"
                    " accepted = excluded.accepted, sent_at = excluded.sent_at",
                    (
                        sent.charger_id,
                        sent.connector_id,
                        sent.purpose,
                        sent.limit_a,
                        sent.transaction_id,
                        int(sent.accepted),
                        at.isoformat(),
                    ),
                )
            ]
        )

    async def limits_sent(self, purpose: str) -> list[SentLimit]:
        """Every recorded profile of one purpose."""
        rows = await self._db.fetchall(
            "SELECT charger_id, connector_id, purpose, limit_a, transaction_id,"
            " accepted FROM energy_limits_sent WHERE purpose = ?",
            (purpose,),
        )
        return [
            SentLimit(
                str(r[0]),
                int(r[1]),
                str(r[2]),
                None if r[3] is None else float(r[3]),
                r[4],
                bool(r[5]),
            )
            for r in rows
        ]
