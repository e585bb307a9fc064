"""OCPP 2.0.1 central-system handlers: translate, then call the shared handler.

evsite's connector id is the 2.0.1 EVSE id (an EVSE charges one vehicle).
"""

from __future__ import annotations

from typing import Any

from ocpp.v201 import ChargePoint as _ChargePoint201
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from evsite.adapters.csms.charger_limits import (
    cleared_charging_limit,
    notify_charging_limit,
)
from evsite.adapters.csms.domain import (
    BootInfo,
    MeterReading,
    OpenSession,
    StartKind,
    StatusReport,
    TxStart,
    TxStop,
)
from evsite.adapters.csms.endpoint import ChargerEndpoint
from evsite.adapters.csms.link import (
    CRITICAL_SECURITY_EVENTS,
    FAILED_FIRMWARE,
    PENDING_RETRY_S,
)
from evsite.adapters.csms.protocol import after, on
from evsite.adapters.csms.translate import (
    charger_time,
    charging_state_201,
    energy_at_context,
    id_token_info_201,
    iso,
    meter_reading,
    status_201,
)
from evsite.control.ports import AuthPurpose, AuthResult, IdTagStatus


class ChargePoint201(ChargerEndpoint, _ChargePoint201):  # type: ignore[misc]
    """One OCPP 2.0.1 charging-station connection."""

    _known_actions = frozenset(a.value for a in Action)

    @on(Action.boot_notification)
    async def on_boot(
        self, charging_station: dict[str, Any], reason: str, **kw: Any
    ) -> call_result.BootNotification:
        """Record the boot; Pending for stations awaiting adoption."""
        info = BootInfo(
            vendor=charging_station.get("vendor_name", ""),
            model=charging_station.get("model", ""),
            serial=charging_station.get("serial_number"),
            firmware=charging_station.get("firmware_version"),
            reason=reason,
        )
        await self.h.boot(self.id, info, "2.0.1", pending=self.link.pending)
        self.link.booted = not self.link.pending
        return call_result.BootNotification(
            current_time=iso(self.h.now()),
            interval=PENDING_RETRY_S
            if self.link.pending
            else self.link.heartbeat_interval_s,
            status="Pending" if self.link.pending else "Accepted",
        )

    @after(Action.boot_notification)
    def after_boot(self, **kw: Any) -> None:
        """Ask for capabilities once the boot reply is out."""
        if not self.link.pending:
            self.link.after_boot()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kw: Any) -> call_result.Heartbeat:
        """Answer with our time."""
        return call_result.Heartbeat(current_time=iso(self.h.now()))

    @on(Action.status_notification)
    async def on_status(
        self,
        timestamp: str,
        connector_status: str,
        evse_id: int,
        connector_id: int,
        **kw: Any,
    ) -> call_result.StatusNotification:
        """Persist and apply an EVSE connector status."""
        at, _ = charger_time(timestamp, "timestamp", self.h.now())
        report = StatusReport(evse_id, status_201(connector_status), at)
        await self.h.status(self.id, report)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(
        self, id_token: dict[str, Any], **kw: Any
    ) -> call_result.Authorize:
        """Authorize an id token through the access subsystem."""
        result = await self.h.authorize(
            self.id, None, id_token["id_token"], AuthPurpose.AUTHORIZE
        )
        return call_result.Authorize(id_token_info=id_token_info_201(result))

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kw: Any,
    ) -> call_result.TransactionEvent:
        """Start, update or end a session; replays change nothing."""
        now = self.h.now()
        at, suspect = charger_time(timestamp, "timestamp", now)
        tx_id = str(transaction_info["transaction_id"])
        readings = [meter_reading(mv, tx_id, now) for mv in kw.get("meter_value") or []]
        token = kw.get("id_token")
        tag = token["id_token"] if token else None
        probe = TxStart(connector_id=0, at=at, start_key=tx_id, transaction_id=tx_id)
        session = await self.tx.existing(self.id, probe)
        auth: AuthResult | None = None
        if session is None:
            session, auth = await self._start(
                tx_id, at, tag=tag, trigger_reason=trigger_reason,
                transaction_info=transaction_info, readings=readings, kw=kw,
                suspect=suspect,
            )  # fmt: skip
            readings = []  # stored with the start
        elif tag is not None:
            purpose = AuthPurpose.STOP if event_type == "Ended" else AuthPurpose.START
            auth = await self.h.authorize(self.id, session.connector_id, tag, purpose)
            await self.tx.set_tag(session, tag, auth)
        await self._charging_state(session, at, transaction_info.get("charging_state"))
        if event_type == "Ended":
            await self.tx.stop(
                self.id,
                TxStop(
                    tx_id, at, _stop_energy(readings),
                    transaction_info.get("stopped_reason") or "Local", tag,
                ),
                readings,
            )  # fmt: skip
        else:
            await self.tx.meter(self.id, session.connector_id, session, readings)
        info = id_token_info_201(auth) if auth is not None else None
        return call_result.TransactionEvent(id_token_info=info)

    async def _start(
        self,
        tx_id: str,
        at: Any,
        *,
        tag: str | None,
        trigger_reason: str,
        transaction_info: dict[str, Any],
        readings: list[MeterReading],
        kw: dict[str, Any],
        suspect: bool,
    ) -> tuple[OpenSession, AuthResult | None]:
        """A transaction seen for the first time (Started, or a lost Started)."""
        evse = kw.get("evse") or {}
        connector_id = int(evse.get("id", 1))
        remote_id = transaction_info.get("remote_start_id")
        remote = (
            self.h.book.take_remote(
                self.id, connector_id, tag, remote_id, self.link.monotonic()
            )
            or trigger_reason == "RemoteStart"
        )
        auth: AuthResult | None = None
        if remote:
            auth = AuthResult(IdTagStatus.ACCEPTED, "remote_start")
        elif tag is not None:
            auth = await self.h.authorize(self.id, connector_id, tag, AuthPurpose.START)
        start_wh = energy_at_context(readings, "Transaction.Begin")
        if start_wh is None:
            start_wh = next((r.energy_wh for r in readings if r.energy_wh), None)
        tx = TxStart(
            connector_id=connector_id, at=at, start_key=tx_id, id_tag=tag,
            meter_start_wh=start_wh, transaction_id=tx_id,
            reservation_id=kw.get("reservation_id"), remote_start_id=remote_id,
        )  # fmt: skip
        session = await self.tx.start(
            self.id, "2.0.1", tx, auth=auth,
            kind=StartKind.REMOTE if remote else StartKind.LOCAL,
            readings=readings, flags="clock_suspect" if suspect else "",
        )  # fmt: skip
        return session, auth

    async def _charging_state(
        self, session: OpenSession, at: Any, state: str | None
    ) -> None:
        """A chargingState change is the 2.0.1 form of a 1.6 status."""
        status = charging_state_201(state)
        if status is None:
            return
        connector = self.h.state(self.id).connector(session.connector_id)
        if connector.status is status:
            return
        await self.h.status(self.id, StatusReport(session.connector_id, status, at))

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> call_result.MeterValues:
        """Store meter values outside transactions (or of the EVSE's session)."""
        now = self.h.now()
        readings = [meter_reading(mv, "", now) for mv in meter_value]
        session = await self.tx.session_for(self.id, evse_id, None)
        await self.tx.meter(self.id, evse_id, session, readings)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, **kw: Any
    ) -> call_result.DataTransfer:
        """Log vendor data; evsite knows no vendor extensions."""
        data = {"vendor_id": vendor_id, "message_id": kw.get("message_id")}
        data["data"] = kw.get("data")
        await self.h.notification(self.id, "data_transfer", self.h.now(), data)
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.firmware_status_notification)
    async def on_firmware_status(
        self, status: str, **kw: Any
    ) -> call_result.FirmwareStatusNotification:
        """Record firmware update progress."""
        now = self.h.now()
        await self.h.notification(
            self.id, "firmware_status", now,
            {"status": status, "request_id": kw.get("request_id")},
            columns={"firmware_status": status, "firmware_status_at": iso(now)},
            alarm="firmware_update_failed" if status in FAILED_FIRMWARE else None,
        )  # fmt: skip
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(
        self, status: str, **kw: Any
    ) -> call_result.LogStatusNotification:
        """Record log upload progress."""
        now = self.h.now()
        await self.h.notification(
            self.id, "log_status", now,
            {"status": status, "request_id": kw.get("request_id")},
            columns={"diagnostics_status": status, "diagnostics_status_at": iso(now)},
        )  # fmt: skip
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event(
        self, type: str, timestamp: str, **kw: Any
    ) -> call_result.SecurityEventNotification:
        """Log a security event; critical ones raise an alarm."""
        at, _ = charger_time(timestamp, "timestamp", self.h.now())
        await self.h.notification(
            self.id, "security_event", at,
            {"type": type, "tech_info": kw.get("tech_info")},
            alarm=f"security:{type}" if type in CRITICAL_SECURITY_EVENTS else None,
        )  # fmt: skip
        return call_result.SecurityEventNotification()

    @on(Action.notify_event)
    async def on_notify_event(
        self,
        generated_at: str,
        seq_no: int,
        event_data: list[dict[str, Any]],
        **kw: Any,
    ) -> call_result.NotifyEvent:
        """Log device-model events; Problem/Tamper triggers raise an alarm."""
        at, _ = charger_time(generated_at, "generatedAt", self.h.now())
        for item in event_data:
            variable = (item.get("variable") or {}).get("name", "")
            problem = variable in ("Problem", "Tripped", "Tampered") and str(
                item.get("actual_value", "")
            ).lower() in ("true", "1")
            await self.h.notification(
                self.id, "notify_event", at, {"seq_no": seq_no, **item},
                alarm=f"event:{(item.get('component') or {}).get('name', '')}."
                f"{variable}" if problem else None,
            )  # fmt: skip
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(
        self, request_id: int, generated_at: str, seq_no: int, **kw: Any
    ) -> call_result.NotifyReport:
        """Keep a GetBaseReport/GetReport page in the event log."""
        at, _ = charger_time(generated_at, "generatedAt", self.h.now())
        await self.h.notification(
            self.id, "notify_report", at,
            {"request_id": request_id, "seq_no": seq_no, "tbc": kw.get("tbc", False),
             "report_data": kw.get("report_data") or []},
        )  # fmt: skip
        return call_result.NotifyReport()

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(
        self, charging_limit: dict[str, Any], **kw: Any
    ) -> call_result.NotifyChargingLimit:
        """An EMS or the grid operator limits the station: its own load shed."""
        report = notify_charging_limit(
            charging_limit, kw.get("evse_id"), kw.get("charging_schedule"),
            self.h.now(),
        )  # fmt: skip
        await self.h.charging_limit(self.id, report)
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(
        self, charging_limit_source: str, **kw: Any
    ) -> call_result.ClearedChargingLimit:
        """The external limit of that source is gone."""
        report = cleared_charging_limit(
            charging_limit_source, kw.get("evse_id"), self.h.now()
        )
        await self.h.charging_limit(self.id, report)
        return call_result.ClearedChargingLimit()

    @on(Action.reservation_status_update)
    async def on_reservation_status(
        self, reservation_id: int, reservation_update_status: str, **kw: Any
    ) -> call_result.ReservationStatusUpdate:
        """A reservation expired or was removed on the station."""
        await self.h.reservation_update(
            self.id, reservation_id, reservation_update_status
        )
        return call_result.ReservationStatusUpdate()


def _stop_energy(readings: list[MeterReading]) -> float | None:
    """The register at Transaction.End, else the newest register in the event."""
    end = energy_at_context(readings, "Transaction.End")
    if end is not None:
        return end
    timed = [r for r in readings if r.energy_wh is not None]
    return max(timed, key=lambda r: r.at).energy_wh if timed else None
