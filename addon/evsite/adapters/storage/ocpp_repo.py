"""Storage of the OCPP central system: chargers, sessions, meter values, status.

Writes are returned as statements (``(sql, params)``) so the CSMS can commit
everything one message causes in one group commit (``Database.write``) before
it answers the charger. Every statement is idempotent: a replayed message
changes nothing the first one did not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evsite.adapters.csms.domain import (
    BootInfo,
    MeterReading,
    OpenSession,
    StartKind,
    StatusReport,
)
from evsite.adapters.csms.translate import iso, parse_time
from evsite.adapters.storage.db import Database, Statement

# Columns of ocpp_chargers a caller may set with ``charger_update``.
_CHARGER_COLUMNS = frozenset(
    {
        "password_hash", "pending", "adopted_at", "last_seen", "remote_addr",
        "ocpp_version", "rate_unit", "features", "local_list_version",
        "firmware_status", "firmware_status_at", "diagnostics_status",
        "diagnostics_status_at",
    }
)  # fmt: skip


def ensure_charger(charger_id: str, now: datetime, *, pending: bool) -> Statement:
    """Create the charger's row on first contact (no-op when it exists)."""
    return (
        "INSERT INTO ocpp_chargers (charger_id, pending, first_seen, last_seen) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (charger_id) DO NOTHING",
        (charger_id, int(pending), iso(now), iso(now)),
    )


def charger_update(charger_id: str, **values: Any) -> Statement:
    """Set some columns of a charger's row (names checked against a whitelist)."""
    unknown = set(values) - _CHARGER_COLUMNS
    if unknown:
        raise ValueError(f"unknown ocpp_chargers columns: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in values)
    return (
        f"UPDATE ocpp_chargers SET {assignments} WHERE charger_id = ?",
        (*values.values(), charger_id),
    )


def boot(charger_id: str, info: BootInfo, version: str, now: datetime) -> Statement:
    """Record a BootNotification's identity fields."""
    return (
        "UPDATE ocpp_chargers SET vendor = ?, model = ?, serial = ?, firmware = ?, "
        "boot_reason = ?, last_boot_at = ?, ocpp_version = ? WHERE charger_id = ?",
        (info.vendor, info.model, info.serial, info.firmware, info.reason,
         iso(now), version, charger_id),
    )  # fmt: skip


def status(charger_id: str, report: StatusReport, now: datetime) -> list[Statement]:
    """Latest status (never overwritten by an older replay) plus the status log."""
    params = (
        charger_id, report.connector_id, report.status.value, report.error_code,
        report.vendor_error_code, report.info, iso(report.at), iso(now),
    )  # fmt: skip
    return [
        (
            "INSERT INTO ocpp_status (charger_id, connector_id, status, error_code, "
            "vendor_error_code, info, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (charger_id, connector_id) DO UPDATE SET "
            "status = excluded.status, error_code = excluded.error_code, "
            "vendor_error_code = excluded.vendor_error_code, info = excluded.info, "
            "at = excluded.at, received_at = excluded.received_at "
            "WHERE excluded.at >= ocpp_status.at",
            params,
        ),
        (
            "INSERT OR IGNORE INTO ocpp_status_log (charger_id, connector_id, status, "
            "error_code, vendor_error_code, info, at, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        ),
    ]


def meter_value(
    charger_id: str,
    connector_id: int,
    session: OpenSession | None,
    reading: MeterReading,
    now: datetime,
) -> list[Statement]:
    """Store a reading once (a trigger advances the session's last register)."""
    statements: list[Statement] = [
        (
            "INSERT OR IGNORE INTO ocpp_meter_values (charger_id, connector_id, "
            "session_id, transaction_id, at, received_at, energy_wh, power_w, "
            "current_a, soc, context, sampled, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                charger_id, connector_id,
                session.session_id if session else None,
                session.transaction_id if session else None,
                iso(reading.at), iso(now), reading.energy_wh, reading.power_w,
                json.dumps(reading.current_a) if reading.current_a else None,
                reading.soc, reading.context,
                json.dumps(list(reading.sampled), default=str), reading.digest,
            ),
        )
    ]  # fmt: skip
    return statements


def session_start(
    session: OpenSession,
    *,
    version: str,
    kind: StartKind,
    start_key: str | None,
    reservation_id: int | None,
    remote_start_id: int | None,
    flags: str,
) -> Statement:
    """Insert a session (ignored when the same transaction is already stored)."""
    return (
        "INSERT OR IGNORE INTO ocpp_sessions (id, charger_id, connector_id, "
        "transaction_id, ocpp_version, id_tag, auth_status, start_kind, "
        "session_number, started_at, start_key, meter_start_wh, last_meter_wh, "
        "reservation_id, remote_start_id, flags) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session.session_id, session.charger_id, session.connector_id,
            session.transaction_id, version, session.id_tag, session.auth_status,
            kind.value, session.session_number, iso(session.started_at), start_key,
            session.meter_start_wh, session.meter_start_wh, reservation_id,
            remote_start_id, flags,
        ),
    )  # fmt: skip


def session_id_tag(session_id: int, id_tag: str, auth_status: str) -> Statement:
    """Set the tag of a session that started before it was authorized (2.0.1)."""
    return (
        "UPDATE ocpp_sessions SET id_tag = ?, auth_status = ? "
        "WHERE id = ? AND id_tag IS NULL",
        (id_tag, auth_status, session_id),
    )


def session_stop(
    session_id: int,
    *,
    at: datetime,
    meter_stop_wh: float | None,
    energy_wh: float | None,
    reason: str | None,
    id_tag: str | None,
    flags: Sequence[str],
) -> Statement:
    """Close an open session (a second stop of the same session changes nothing)."""
    extra = "".join(f",{flag}" for flag in flags)
    return (
        "UPDATE ocpp_sessions SET stopped_at = ?, meter_stop_wh = ?, energy_wh = ?, "
        "stop_reason = ?, stop_id_tag = ?, flags = trim(flags || ?, ',') "
        "WHERE id = ? AND stopped_at IS NULL",
        (iso(at), meter_stop_wh, energy_wh, reason, id_tag, extra, session_id),
    )


def message_response(
    charger_id: str, message_id: str, digest: str, *, action: str, response: str,
    now: datetime,
) -> Statement:  # fmt: skip
    """Remember the answer to a transaction message for idempotent replies."""
    return (
        "INSERT OR IGNORE INTO ocpp_messages (charger_id, message_id, digest, "
        "action, response, received_at) VALUES (?, ?, ?, ?, ?, ?)",
        (charger_id, message_id, digest, action, response, iso(now)),
    )


def event(
    charger_id: str, kind: str, at: datetime, now: datetime, data: dict[str, Any]
) -> Statement:
    """Log a notification (firmware, diagnostics, security, NotifyEvent...)."""
    return (
        "INSERT INTO ocpp_events (charger_id, kind, at, received_at, data) "
        "VALUES (?, ?, ?, ?, ?)",
        (charger_id, kind, iso(at), iso(now), json.dumps(data, default=str)),
    )


def profile_installed(
    charger_id: str, connector_id: int, *, purpose: str, stack_level: int,
    profile_id: int, limit: float, unit: str, transaction_id: str | None,
    profile: dict[str, Any], now: datetime,
) -> Statement:  # fmt: skip
    """Record a charging profile the charger accepted."""
    return (
        "INSERT OR REPLACE INTO ocpp_profiles (charger_id, connector_id, purpose, "
        "stack_level, profile_id, limit_value, unit, transaction_id, profile, "
        "installed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (charger_id, connector_id, purpose, stack_level, profile_id, limit, unit,
         transaction_id, json.dumps(profile, default=str), iso(now)),
    )  # fmt: skip


def profiles_cleared(
    charger_id: str, connector_id: int | None, purpose: str | None,
    stack_level: int | None, profile_id: int | None,
) -> Statement:  # fmt: skip
    """Forget profiles a ClearChargingProfile matched (None matches anything)."""
    return (
        "DELETE FROM ocpp_profiles WHERE charger_id = ? "
        "AND (? IS NULL OR connector_id = ?) AND (? IS NULL OR purpose = ?) "
        "AND (? IS NULL OR stack_level = ?) AND (? IS NULL OR profile_id = ?)",
        (charger_id, connector_id, connector_id, purpose, purpose, stack_level,
         stack_level, profile_id, profile_id),
    )  # fmt: skip


def reservation(
    charger_id: str, reservation_id: int, *, connector_id: int, id_tag: str,
    expiry: datetime, status_value: str, now: datetime,
) -> Statement:  # fmt: skip
    """Record (or update the status of) a reservation."""
    return (
        "INSERT INTO ocpp_reservations (charger_id, reservation_id, connector_id, "
        "id_tag, expiry, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (charger_id, reservation_id) DO UPDATE SET "
        "connector_id = excluded.connector_id, id_tag = excluded.id_tag, "
        "expiry = excluded.expiry, status = excluded.status",
        (charger_id, reservation_id, connector_id, id_tag, iso(expiry),
         status_value, iso(now)),
    )  # fmt: skip


def reservation_status(charger_id: str, reservation_id: int, value: str) -> Statement:
    """Set a reservation's status (used, cancelled, expired...)."""
    return (
        "UPDATE ocpp_reservations SET status = ? "
        "WHERE charger_id = ? AND reservation_id = ?",
        (value, charger_id, reservation_id),
    )


def open_session_from_row(row: Any) -> OpenSession:
    """An ``ocpp_sessions`` row as the in-memory open session."""
    return OpenSession(
        session_id=row["id"],
        charger_id=row["charger_id"],
        connector_id=row["connector_id"],
        transaction_id=row["transaction_id"],
        session_number=row["session_number"],
        started_at=parse_time(row["started_at"], "started_at"),
        id_tag=row["id_tag"],
        meter_start_wh=row["meter_start_wh"],
        last_meter_wh=row["last_meter_wh"],
        last_meter_at=(
            parse_time(row["last_meter_at"], "last_meter_at")
            if row["last_meter_at"]
            else None
        ),
        auth_status=row["auth_status"],
    )


class OcppRepository:
    """Reads of the OCPP tables, and the one write path (group commit)."""

    def __init__(self, db: Database) -> None:
        """Use ``db`` for everything."""
        self.db = db

    async def write(self, statements: Sequence[Statement]) -> None:
        """Commit ``statements`` atomically and durably."""
        await self.db.write(statements)

    async def charger(self, charger_id: str) -> dict[str, Any] | None:
        """The charger's row as a dict."""
        row = await self.db.fetchone(
            "SELECT * FROM ocpp_chargers WHERE charger_id = ?", (charger_id,)
        )
        return dict(row) if row is not None else None

    async def pending_chargers(self) -> list[dict[str, Any]]:
        """Unknown chargers waiting for an admin to adopt them."""
        rows = await self.db.fetchall(
            "SELECT charger_id, first_seen, last_seen, remote_addr, ocpp_version, "
            "vendor, model, serial, firmware FROM ocpp_chargers WHERE pending = 1 "
            "ORDER BY first_seen"
        )
        return [dict(r) for r in rows]

    async def max_session_id(self) -> int:
        """The highest session id used (0 for none)."""
        row = await self.db.fetchone("SELECT COALESCE(MAX(id), 0) FROM ocpp_sessions")
        return int(row[0]) if row is not None else 0

    async def max_session_number(self, charger_id: str, kind: StartKind) -> int:
        """The charger's highest session number of this kind (0 for none)."""
        row = await self.db.fetchone(
            "SELECT COALESCE(MAX(session_number), 0) FROM ocpp_sessions "
            "WHERE charger_id = ? AND start_kind = ?",
            (charger_id, kind.value),
        )
        return int(row[0]) if row is not None else 0

    async def open_sessions(self, charger_id: str) -> list[OpenSession]:
        """Sessions of the charger not stopped yet."""
        rows = await self.db.fetchall(
            "SELECT * FROM ocpp_sessions WHERE charger_id = ? AND stopped_at IS NULL",
            (charger_id,),
        )
        return [open_session_from_row(r) for r in rows]

    async def session_by_transaction(
        self, charger_id: str, transaction_id: str
    ) -> dict[str, Any] | None:
        """The session the charger knows as ``transaction_id``."""
        row = await self.db.fetchone(
            "SELECT * FROM ocpp_sessions WHERE charger_id = ? AND transaction_id = ?",
            (charger_id, transaction_id),
        )
        return dict(row) if row is not None else None

    async def session_by_start_key(
        self, charger_id: str, connector_id: int, id_tag: str | None, start_key: str
    ) -> dict[str, Any] | None:
        """A session already started with this tag, connector and timestamp."""
        row = await self.db.fetchone(
            "SELECT * FROM ocpp_sessions WHERE charger_id = ? AND connector_id = ? "
            "AND COALESCE(id_tag, '') = ? AND start_key = ?",
            (charger_id, connector_id, id_tag or "", start_key),
        )
        return dict(row) if row is not None else None

    async def stored_response(
        self, charger_id: str, message_id: str, digest: str
    ) -> str | None:
        """The answer already given to this exact message, if any."""
        row = await self.db.fetchone(
            "SELECT response FROM ocpp_messages WHERE charger_id = ? "
            "AND message_id = ? AND digest = ?",
            (charger_id, message_id, digest),
        )
        return str(row[0]) if row is not None else None

    async def sessions(
        self, *, limit: int = 100, offset: int = 0, charger_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Sessions, newest first (SPEC §12.1)."""
        rows = await self.db.fetchall(
            "SELECT * FROM ocpp_sessions WHERE (? IS NULL OR charger_id = ?) "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
            (charger_id, charger_id, limit, offset),
        )
        return [dict(r) for r in rows]

    async def meter_values(
        self, charger_id: str, *, session_id: int | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The latest meter values of a charger (or of one session), newest first."""
        rows = await self.db.fetchall(
            "SELECT connector_id, session_id, transaction_id, at, energy_wh, "
            "power_w, current_a, soc, context FROM ocpp_meter_values "
            "WHERE charger_id = ? AND (? IS NULL OR session_id = ?) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (charger_id, session_id, session_id, limit),
        )
        return [dict(r) for r in rows]

    async def statuses(self, charger_id: str) -> list[dict[str, Any]]:
        """Latest stored status per connector."""
        rows = await self.db.fetchall(
            "SELECT connector_id, status, error_code, vendor_error_code, info, at "
            "FROM ocpp_status WHERE charger_id = ? ORDER BY connector_id",
            (charger_id,),
        )
        return [dict(r) for r in rows]

    async def events(self, charger_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """Logged notifications of a charger, newest first."""
        rows = await self.db.fetchall(
            "SELECT kind, at, received_at, data FROM ocpp_events "
            "WHERE charger_id = ? ORDER BY id DESC LIMIT ?",
            (charger_id, limit),
        )
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    async def installed(self, charger_id: str) -> dict[str, Any]:
        """What evsite installed: profiles, active reservations, local list version."""
        profiles = await self.db.fetchall(
            "SELECT connector_id, purpose, stack_level, profile_id, limit_value, unit, "
            "transaction_id, installed_at FROM ocpp_profiles WHERE charger_id = ? "
            "ORDER BY purpose, stack_level, connector_id",
            (charger_id,),
        )
        reservations = await self.db.fetchall(
            "SELECT reservation_id, connector_id, id_tag, expiry, status, created_at "
            "FROM ocpp_reservations WHERE charger_id = ? AND status = 'Accepted' "
            "ORDER BY reservation_id",
            (charger_id,),
        )
        row = await self.db.fetchone(
            "SELECT local_list_version FROM ocpp_chargers WHERE charger_id = ?",
            (charger_id,),
        )
        return {
            "profiles": [dict(p) for p in profiles],
            "reservations": [dict(r) for r in reservations],
            "local_list_version": row[0] if row is not None else None,
        }

    async def prune_messages(self, before: datetime) -> None:
        """Drop idempotency records older than ``before``."""
        await self.db.write(
            [("DELETE FROM ocpp_messages WHERE received_at < ?", (iso(before),))]
        )
