"""Version-neutral handling of what chargers report: persist, then live + bus.

The 1.6 and 2.0.1 ChargePoint classes translate payloads into domain values and
call these methods; each method commits its rows (one group commit) before it
returns, so the caller's reply is sent only after the data is durable.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from evsite.adapters.csms.charger_limits import ChargingLimitReport
from evsite.adapters.csms.domain import BootInfo, StatusReport
from evsite.adapters.csms.sessions import SessionBook
from evsite.adapters.csms.translate import iso
from evsite.adapters.storage import ocpp_repo as sql
from evsite.adapters.storage.ocpp_repo import OcppRepository
from evsite.config.models import Scope
from evsite.context import Services
from evsite.control.events import Event, EventKind
from evsite.control.live import ChargerLink, ChargerState
from evsite.control.ports import Authorizer, AuthPurpose, AuthResult, IdTagStatus
from evsite.errors import EvsiteError

_LOGGER = logging.getLogger(__name__)


class MessageHandler:
    """Applies charger reports to storage, live state and the event bus."""

    def __init__(
        self, services: Services, repo: OcppRepository, book: SessionBook
    ) -> None:
        """Share the service objects, the OCPP repository and the session book."""
        self.services = services
        self.repo = repo
        self.book = book
        # Charger time of the newest status applied per connector, so an older
        # replayed status is logged but does not overwrite the live one.
        self._status_at: dict[tuple[str, int], datetime] = {}
        self._faulted: dict[tuple[str, int], bool] = {}

    def now(self) -> datetime:
        """The current time from the service clock."""
        return self.services.clock.now()

    def state(self, charger_id: str) -> ChargerState:
        """The charger's live state."""
        return self.services.live.charger(charger_id)

    def publish(
        self,
        kind: EventKind,
        charger_id: str,
        connector_id: int | None = None,
        /,
        **data: Any,
    ) -> None:
        """Publish an event stamped now."""
        self.services.bus.publish(
            Event(kind, self.now(), charger_id, connector_id, data)
        )

    def changed(self, charger_id: str) -> None:
        """Tell live-state listeners the charger changed."""
        self.services.live.changed("charger", charger_id)

    # Link

    async def connected(
        self, charger_id: str, version: str, remote: str | None, *, pending: bool
    ) -> None:
        """A charger connected: record it, load its open sessions, announce it."""
        now = self.now()
        await self.repo.write(
            [
                sql.ensure_charger(charger_id, now, pending=pending),
                sql.charger_update(
                    charger_id,
                    last_seen=iso(now),
                    remote_addr=remote,
                    ocpp_version=version,
                ),
            ]
        )
        await self.book.load(charger_id)
        state = self.state(charger_id)
        state.link = ChargerLink.PENDING if pending else ChargerLink.CONNECTED
        state.ocpp_version = version
        state.last_seen = now
        for session in self.book.sessions(charger_id):
            connector = state.connector(session.connector_id)
            connector.transaction_id = session.transaction_id
            connector.session_id = session.session_id
            connector.id_tag = session.id_tag
            connector.session_started_at = session.started_at
        self.changed(charger_id)
        self.publish(EventKind.CHARGER_CONNECTED, charger_id, version=version)

    def disconnected(self, charger_id: str) -> None:
        """The charger's connection closed."""
        self.state(charger_id).link = ChargerLink.DISCONNECTED
        self.changed(charger_id)
        self.publish(EventKind.CHARGER_DISCONNECTED, charger_id)

    def unreachable(self, charger_id: str, silent_s: float) -> None:
        """No frame for longer than the heartbeat timeout (SPEC §6)."""
        self.state(charger_id).link = ChargerLink.UNREACHABLE
        self.changed(charger_id)
        self.publish(EventKind.CHARGER_UNREACHABLE, charger_id, silent_s=silent_s)
        self.publish(
            EventKind.ALARM, charger_id, alarm="station_unreachable",
            status="unreachable", silent_s=round(silent_s, 1),
        )  # fmt: skip

    def reachable_again(self, charger_id: str, *, pending: bool) -> None:
        """An unreachable charger spoke again."""
        self.state(charger_id).link = (
            ChargerLink.PENDING if pending else ChargerLink.CONNECTED
        )
        self.changed(charger_id)
        self.publish(EventKind.CHARGER_CONNECTED, charger_id, recovered=True)
        self.publish(EventKind.ALARM_CLEARED, charger_id, alarm="station_unreachable")

    # Boot, status, notifications

    async def boot(
        self, charger_id: str, info: BootInfo, version: str, *, pending: bool
    ) -> None:
        """Record a BootNotification."""
        now = self.now()
        await self.repo.write(
            [
                sql.boot(charger_id, info, version, now),
                sql.event(charger_id, "boot", now, now, _boot_dict(info)),
            ]
        )
        state = self.state(charger_id)
        state.vendor, state.model = info.vendor, info.model
        state.serial, state.firmware = info.serial, info.firmware
        self.changed(charger_id)
        self.publish(
            EventKind.CHARGER_BOOTED, charger_id, pending=pending, **_boot_dict(info)
        )

    async def status(self, charger_id: str, report: StatusReport) -> None:
        """Record a connector status; raise or clear a fault alarm."""
        await self.repo.write(sql.status(charger_id, report, self.now()))
        key = (charger_id, report.connector_id)
        newest = self._status_at.get(key)
        if newest is not None and report.at < newest:
            return  # an older replayed status: stored in the log, not live
        self._status_at[key] = report.at
        was_fault = self._faulted.get(key, False)
        self._faulted[key] = report.fault
        if report.connector_id != 0:  # 0 is the charger itself, not a port
            connector = self.state(charger_id).connector(report.connector_id)
            connector.status = report.status
            connector.error_code = report.error_code
            connector.vendor_error_code = report.vendor_error_code
            self.changed(charger_id)
        self.publish(
            EventKind.STATUS_CHANGED, charger_id, report.connector_id,
            status=report.status.value, error_code=report.error_code,
        )  # fmt: skip
        if report.fault:
            self.publish(
                EventKind.ALARM, charger_id, report.connector_id,
                alarm=report.error_code or "Faulted", status=report.status.value,
                vendor_error_code=report.vendor_error_code, info=report.info,
            )  # fmt: skip
        elif was_fault:
            self.publish(EventKind.ALARM_CLEARED, charger_id, report.connector_id)

    async def notification(
        self,
        charger_id: str,
        kind: str,
        at: datetime,
        data: dict[str, Any],
        *,
        columns: dict[str, Any] | None = None,
        alarm: str | None = None,
    ) -> None:
        """Log a notification; update charger columns; raise an alarm if asked."""
        statements = [sql.event(charger_id, kind, at, self.now(), data)]
        if columns:
            statements.append(sql.charger_update(charger_id, **columns))
        await self.repo.write(statements)
        if alarm is not None:
            self.publish(EventKind.ALARM, charger_id, alarm=alarm, kind=kind, **data)

    async def charging_limit(
        self, charger_id: str, report: ChargingLimitReport
    ) -> None:
        """Persist an external charging limit (set or cleared); mark its ports.

        EMS, SO and Other limits are the charger's own load shed; CSO limits
        (evsite's own profiles) are only logged.
        """
        kind = "cleared_charging_limit" if report.cleared else "notify_charging_limit"
        await self.repo.write(
            [sql.event(charger_id, kind, report.at, self.now(), report.as_dict())]
        )
        if not report.load_shed:
            return
        state = self.state(charger_id)
        charger = self.services.site.config.charger(charger_id)
        known = [c.id for c in charger.connectors] if charger else []
        changed = False
        for port in report.ports([*known, *state.connectors]):
            sources = state.connector(port).load_shed_sources
            if report.cleared:
                changed |= sources.pop(report.source, None) is not None
            elif report.source not in sources:
                sources[report.source] = report.at
                changed = True
        if changed:
            _LOGGER.info(
                "%s reports load shed %s by %s (evse %s)", charger_id,
                "cleared" if report.cleared else "set", report.source, report.evse_id,
            )  # fmt: skip
            self.changed(charger_id)

    async def reservation_update(
        self, charger_id: str, reservation_id: int, status: str
    ) -> None:
        """A reservation ended on the charger (expired, removed)."""
        now = self.now()
        await self.repo.write(
            [
                sql.reservation_status(charger_id, reservation_id, status),
                sql.event(
                    charger_id, "reservation_status", now, now,
                    {"reservation_id": reservation_id, "status": status},
                ),
            ]
        )  # fmt: skip

    # Authorization

    async def authorize(
        self,
        charger_id: str,
        connector_id: int | None,
        id_tag: str,
        purpose: AuthPurpose,
    ) -> AuthResult:
        """Ask the registered Authorizer; without one, the documented fallback."""
        authorizer = self.services.components.get("authorizer")
        if authorizer is not None:
            try:
                result: AuthResult = await _as_authorizer(authorizer).authorize(
                    charger_id, connector_id, id_tag, purpose
                )
            except EvsiteError as err:
                _LOGGER.warning("authorizer failed for %s: %s", charger_id, err)
                return AuthResult(IdTagStatus.INVALID, "authorizer_error")
            return result
        return self._fallback(charger_id, connector_id, id_tag, purpose)

    def _fallback(
        self,
        charger_id: str,
        connector_id: int | None,
        id_tag: str,
        purpose: AuthPurpose,
    ) -> AuthResult:
        """No access subsystem: accept on open-scope chargers only."""
        charger = self.services.site.config.charger(charger_id)
        if charger is not None and charger.scope is Scope.OPEN:
            result = AuthResult(IdTagStatus.ACCEPTED, "fallback:open_scope")
        else:
            result = AuthResult(IdTagStatus.INVALID, "fallback:no_authorizer")
        self.publish(
            EventKind.AUTHORIZATION, charger_id, connector_id, id_tag=id_tag,
            purpose=purpose.value, result=result.status.value, rule=result.rule,
        )  # fmt: skip
        return result


def _as_authorizer(component: object) -> Authorizer:
    """The registered component, typed as the port it implements."""
    return component  # type: ignore[return-value]


def _boot_dict(info: BootInfo) -> dict[str, Any]:
    return {
        "vendor": info.vendor,
        "model": info.model,
        "serial": info.serial,
        "firmware": info.firmware,
        "reason": info.reason,
    }
