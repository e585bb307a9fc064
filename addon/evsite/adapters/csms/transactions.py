"""Transactions (sessions) and meter values, version-neutral and replay-safe.

A replayed start (same transaction id, or for 1.6 the same tag, connector and
charger timestamp) returns the stored session; a replayed stop or meter value
changes nothing; a start on a busy connector closes the old session as
``Replaced``. Energy is register(stop) − register(start), never negative.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from evsite.adapters.csms.domain import (
    MeterReading,
    OpenSession,
    StartKind,
    TxStart,
    TxStop,
)
from evsite.adapters.csms.handler import MessageHandler
from evsite.adapters.csms.translate import session_energy
from evsite.adapters.storage import ocpp_repo as sql
from evsite.adapters.storage.db import Statement
from evsite.control.events import EventKind
from evsite.control.ports import AuthResult

_LOGGER = logging.getLogger(__name__)

REPLACED = "Replaced"


class Transactions:
    """Starts, meter values and stops of sessions on top of a MessageHandler."""

    def __init__(self, handler: MessageHandler) -> None:
        """Work through ``handler`` (storage, live state, bus, session book)."""
        self.h = handler
        self.book = handler.book
        self.repo = handler.repo

    async def existing(self, charger_id: str, tx: TxStart) -> OpenSession | None:
        """The stored session a replayed start refers to, if any."""
        await self.book.load(charger_id)
        if tx.transaction_id is not None:
            known = self.book.by_transaction(charger_id, tx.transaction_id)
            if known is not None:
                return known
            row = await self.repo.session_by_transaction(charger_id, tx.transaction_id)
        else:
            row = await self.repo.session_by_start_key(
                charger_id, tx.connector_id, tx.id_tag, tx.start_key
            )
        return sql.open_session_from_row(row) if row is not None else None

    async def session_for(
        self, charger_id: str, connector_id: int, transaction_id: object
    ) -> OpenSession | None:
        """The session meter values belong to (open, or stored for late replays)."""
        await self.book.load(charger_id)
        if transaction_id is None:
            if connector_id == 0:
                return None
            return self.book.on_connector(charger_id, connector_id)
        key = str(transaction_id)
        session = self.book.by_transaction(charger_id, key)
        if session is not None:
            return session
        row = await self.repo.session_by_transaction(charger_id, key)
        return sql.open_session_from_row(row) if row is not None else None

    async def start(
        self,
        charger_id: str,
        version: str,
        tx: TxStart,
        *,
        auth: AuthResult | None,
        kind: StartKind,
        readings: Sequence[MeterReading] = (),
        flags: str = "",
    ) -> OpenSession:
        """Store a new session (closing a session still open on the connector)."""
        old = self.book.on_connector(charger_id, tx.connector_id)
        session_id = await self.book.new_id()
        session = OpenSession(
            session_id=session_id,
            charger_id=charger_id,
            connector_id=tx.connector_id,
            transaction_id=tx.transaction_id or str(session_id),
            session_number=await self.book.new_number(charger_id, kind),
            started_at=tx.at,
            id_tag=tx.id_tag,
            meter_start_wh=tx.meter_start_wh,
            last_meter_wh=tx.meter_start_wh,
            auth_status=auth.status.value if auth is not None else None,
        )
        statements: list[Statement] = []
        if old is not None:
            statements.append(
                self._stop_statement(
                    old, tx.at, meter_stop_wh=None, reason=REPLACED, id_tag=None
                )
            )
        statements.append(
            sql.session_start(
                session, version=version, kind=kind,
                start_key=tx.start_key if tx.transaction_id is None else None,
                reservation_id=tx.reservation_id, remote_start_id=tx.remote_start_id,
                flags=flags,
            )
        )  # fmt: skip
        if tx.reservation_id is not None:
            statements.append(
                sql.reservation_status(charger_id, tx.reservation_id, "Used")
            )
        statements += self._meter_statements(
            charger_id, tx.connector_id, session, readings
        )
        await self.repo.write(statements)
        if old is not None:
            self._closed(old, REPLACED, old.last_meter_wh)
        self._opened(session, kind, readings)
        return session

    def _opened(
        self, session: OpenSession, kind: StartKind, readings: Sequence[MeterReading]
    ) -> None:
        """Track a stored session, show it live and announce it."""
        self.book.add(session)
        connector = self.h.state(session.charger_id).connector(session.connector_id)
        connector.transaction_id = session.transaction_id
        connector.session_id = session.session_id
        connector.id_tag = session.id_tag
        connector.session_started_at = session.started_at
        connector.session_energy_wh = 0.0
        self._apply_live(session.charger_id, session.connector_id, session, readings)
        self.h.publish(
            EventKind.SESSION_STARTED, session.charger_id, session.connector_id,
            session_id=session.session_id, transaction_id=session.transaction_id,
            session_number=session.session_number, id_tag=session.id_tag,
            start_kind=kind.value,
        )  # fmt: skip

    async def set_tag(
        self, session: OpenSession, id_tag: str, auth: AuthResult
    ) -> None:
        """Attach the tag of a session that started before authorization."""
        if session.id_tag is not None:
            return
        await self.repo.write(
            [sql.session_id_tag(session.session_id, id_tag, auth.status.value)]
        )
        session.id_tag = id_tag
        session.auth_status = auth.status.value
        self.h.state(session.charger_id).connector(session.connector_id).id_tag = id_tag

    async def meter(
        self,
        charger_id: str,
        connector_id: int,
        session: OpenSession | None,
        readings: Sequence[MeterReading],
    ) -> None:
        """Store meter values once each and update the live connector."""
        if not readings:
            return
        await self.repo.write(
            self._meter_statements(charger_id, connector_id, session, readings)
        )
        self._apply_live(charger_id, connector_id, session, readings)

    async def stop(
        self,
        charger_id: str,
        stop: TxStop,
        readings: Sequence[MeterReading] = (),
        connector_id: int | None = None,
    ) -> OpenSession | None:
        """Close a session; None when it was unknown or already closed."""
        await self.book.load(charger_id)
        session = self.book.by_transaction(charger_id, stop.transaction_id)
        if session is None:
            row = await self.repo.session_by_transaction(
                charger_id, stop.transaction_id
            )
            if row is None:
                _LOGGER.warning(
                    "%s: stop of unknown transaction %s",
                    charger_id,
                    stop.transaction_id,
                )
            if row is None or row["stopped_at"] is not None:
                if connector_id is not None:  # keep the values all the same
                    await self.meter(charger_id, connector_id, None, readings)
                return None
            session = sql.open_session_from_row(row)
        statements = self._meter_statements(
            charger_id, session.connector_id, session, readings
        )
        last = _newest_energy(session, readings)
        statements.append(
            self._stop_statement(
                session,
                stop.at,
                meter_stop_wh=stop.meter_stop_wh,
                reason=stop.reason,
                id_tag=stop.id_tag,
                last_wh=last,
            )
        )  # fmt: skip
        await self.repo.write(statements)
        self._apply_live(charger_id, session.connector_id, session, readings)
        self._closed(
            session,
            stop.reason,
            stop.meter_stop_wh if stop.meter_stop_wh is not None else last,
        )
        return session

    def _stop_statement(
        self,
        session: OpenSession,
        at: datetime,
        *,
        meter_stop_wh: float | None,
        reason: str | None,
        id_tag: str | None,
        last_wh: float | None = None,
    ) -> Statement:
        last = last_wh if last_wh is not None else session.last_meter_wh
        energy, decreased = session_energy(session.meter_start_wh, meter_stop_wh, last)
        flags = ["meter_decreased"] if decreased else []
        if reason == REPLACED:
            flags.append("replaced")
        if decreased:
            _LOGGER.warning(
                "%s: session %s stop meter %s below start %s",
                session.charger_id, session.session_id, meter_stop_wh,
                session.meter_start_wh,
            )  # fmt: skip
        return sql.session_stop(
            session.session_id, at=at, meter_stop_wh=meter_stop_wh,
            energy_wh=energy, reason=reason, id_tag=id_tag, flags=flags,
        )  # fmt: skip

    def _closed(
        self, session: OpenSession, reason: str | None, stop_wh: float | None
    ) -> None:
        """Forget a closed session in memory and announce it."""
        self.book.remove(session)
        energy, decreased = session_energy(
            session.meter_start_wh, stop_wh, session.last_meter_wh
        )
        connector = self.h.state(session.charger_id).connector(session.connector_id)
        if connector.transaction_id == session.transaction_id:
            connector.transaction_id = None
            connector.session_id = None
            connector.id_tag = None
            connector.session_started_at = None
        self.h.changed(session.charger_id)
        self.h.publish(
            EventKind.SESSION_STOPPED, session.charger_id, session.connector_id,
            session_id=session.session_id, transaction_id=session.transaction_id,
            session_number=session.session_number, energy_wh=energy,
            reason=reason, meter_decreased=decreased,
        )  # fmt: skip

    def _meter_statements(
        self,
        charger_id: str,
        connector_id: int,
        session: OpenSession | None,
        readings: Sequence[MeterReading],
    ) -> list[Statement]:
        now = self.h.now()
        statements: list[Statement] = []
        for reading in readings:
            statements += sql.meter_value(
                charger_id, connector_id, session, reading, now
            )
        return statements

    def _apply_live(
        self,
        charger_id: str,
        connector_id: int,
        session: OpenSession | None,
        readings: Sequence[MeterReading],
    ) -> None:
        """Apply the newest reading to live state; older replays only to storage."""
        if not readings:
            return
        if connector_id == 0:
            return  # the charger's main meter: stored, not a port's live state
        newest = max(readings, key=lambda r: r.at)
        if session is not None and newest.energy_wh is not None:
            if session.meter_start_wh is None:
                session.meter_start_wh = newest.energy_wh
            if session.last_meter_at is None or newest.at >= session.last_meter_at:
                session.last_meter_wh = newest.energy_wh
                session.last_meter_at = newest.at
        connector = self.h.state(charger_id).connector(connector_id)
        if connector.last_meter_at is not None and newest.at < connector.last_meter_at:
            return
        connector.last_meter_at = newest.at
        if newest.energy_wh is not None:
            connector.meter_wh = newest.energy_wh
        if newest.current_a:
            connector.current_a = dict(newest.current_a)
        if newest.power_w is not None:
            connector.power_w = newest.power_w
        if session is not None and session.transaction_id == connector.transaction_id:
            energy, _ = session_energy(
                session.meter_start_wh, None, session.last_meter_wh
            )
            connector.session_energy_wh = energy or 0.0
        self.h.changed(charger_id)
        self.h.publish(
            EventKind.METER_VALUES, charger_id, connector_id,
            energy_wh=newest.energy_wh, power_w=newest.power_w,
            current_a=dict(newest.current_a), soc=newest.soc,
            session_energy_wh=connector.session_energy_wh,
        )  # fmt: skip


def _newest_energy(
    session: OpenSession, readings: Sequence[MeterReading]
) -> float | None:
    """The session's newest energy register including ``readings``."""
    best_at, best = session.last_meter_at, session.last_meter_wh
    for reading in readings:
        if reading.energy_wh is not None and (best_at is None or reading.at >= best_at):
            best_at, best = reading.at, reading.energy_wh
    return best
