"""OCPP 1.6J central-system handlers: translate, then call the shared handler."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import ChargePoint as _ChargePoint16
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from evsite.adapters.csms.domain import (
    BootInfo,
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
    id_tag_info_16,
    iso,
    meter_reading,
    status_16,
)
from evsite.control.ports import AuthPurpose, AuthResult, IdTagStatus


class ChargePoint16(ChargerEndpoint, _ChargePoint16):  # type: ignore[misc]
    """One OCPP 1.6 charger connection."""

    _known_actions = frozenset(a.value for a in Action)

    @on(Action.boot_notification)
    async def on_boot(
        self, charge_point_vendor: str, charge_point_model: str, **kw: Any
    ) -> call_result.BootNotification:
        """Record the boot; Pending for chargers awaiting adoption."""
        info = BootInfo(
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial=kw.get("charge_point_serial_number")
            or kw.get("charge_box_serial_number"),
            firmware=kw.get("firmware_version"),
        )
        await self.h.boot(self.id, info, "1.6", pending=self.link.pending)
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
        """Answer with our time (chargers set their clock from it)."""
        return call_result.Heartbeat(current_time=iso(self.h.now()))

    @on(Action.status_notification)
    async def on_status(
        self, connector_id: int, error_code: str, status: str, **kw: Any
    ) -> call_result.StatusNotification:
        """Persist and apply a connector status."""
        now = self.h.now()
        stamp = kw.get("timestamp")
        at = charger_time(stamp, "timestamp", now)[0] if stamp else now
        report = StatusReport(
            connector_id=connector_id,
            status=status_16(status),
            at=at,
            error_code=error_code,
            vendor_error_code=kw.get("vendor_error_code"),
            info=kw.get("info"),
        )
        await self.h.status(self.id, report)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **kw: Any) -> call_result.Authorize:
        """Authorize a tag through the access subsystem."""
        result = await self.h.authorize(self.id, None, id_tag, AuthPurpose.AUTHORIZE)
        return call_result.Authorize(id_tag_info=id_tag_info_16(result))

    @on(Action.start_transaction)
    async def on_start(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        **kw: Any,
    ) -> call_result.StartTransaction:
        """Start a session, or return the stored one for a replayed start."""
        at, suspect = charger_time(timestamp, "timestamp", self.h.now())
        tx = TxStart(
            connector_id=connector_id,
            at=at,
            start_key=timestamp,
            id_tag=id_tag,
            meter_start_wh=float(meter_start),
            reservation_id=kw.get("reservation_id"),
        )
        existing = await self.tx.existing(self.id, tx)
        if existing is not None:
            return call_result.StartTransaction(
                transaction_id=existing.session_id,
                id_tag_info={"status": existing.auth_status or "Accepted"},
            )
        remote = self.h.book.take_remote(
            self.id, connector_id, id_tag, None, self.link.monotonic()
        )
        auth = (
            AuthResult(IdTagStatus.ACCEPTED, "remote_start")
            if remote
            else await self.h.authorize(
                self.id, connector_id, id_tag, AuthPurpose.START
            )
        )
        session = await self.tx.start(
            self.id,
            "1.6",
            tx,
            auth=auth,
            kind=StartKind.REMOTE if remote else StartKind.LOCAL,
            flags="clock_suspect" if suspect else "",
        )
        return call_result.StartTransaction(
            transaction_id=session.session_id, id_tag_info=id_tag_info_16(auth)
        )

    @on(Action.stop_transaction)
    async def on_stop(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any
    ) -> call_result.StopTransaction:
        """Close the session (a replayed stop changes nothing)."""
        now = self.h.now()
        at, _ = charger_time(timestamp, "timestamp", now)
        key = str(transaction_id)
        readings = [
            meter_reading(mv, key, now) for mv in kw.get("transaction_data") or []
        ]
        id_tag = kw.get("id_tag")
        stop = TxStop(key, at, float(meter_stop), kw.get("reason") or "Local", id_tag)
        await self.tx.stop(self.id, stop, readings)
        if not id_tag:
            return call_result.StopTransaction()
        result = await self.h.authorize(self.id, None, id_tag, AuthPurpose.STOP)
        return call_result.StopTransaction(id_tag_info=id_tag_info_16(result))

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kw: Any
    ) -> call_result.MeterValues:
        """Store meter values once each; apply the newest to live state."""
        now = self.h.now()
        tx_id = kw.get("transaction_id")
        key = str(tx_id) if tx_id is not None else ""
        readings = [meter_reading(mv, key, now) for mv in meter_value]
        session = await self.tx.session_for(self.id, connector_id, tx_id)
        await self.tx.meter(self.id, connector_id, session, readings)
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
            self.id, "firmware_status", now, {"status": status},
            columns={"firmware_status": status, "firmware_status_at": iso(now)},
            alarm="firmware_update_failed" if status in FAILED_FIRMWARE else None,
        )  # fmt: skip
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(
        self, status: str, **kw: Any
    ) -> call_result.DiagnosticsStatusNotification:
        """Record diagnostics upload progress."""
        now = self.h.now()
        await self.h.notification(
            self.id, "diagnostics_status", now, {"status": status},
            columns={"diagnostics_status": status, "diagnostics_status_at": iso(now)},
        )  # fmt: skip
        return call_result.DiagnosticsStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(
        self, status: str, request_id: int, **kw: Any
    ) -> call_result.LogStatusNotification:
        """Record log upload progress (1.6 security whitepaper)."""
        now = self.h.now()
        await self.h.notification(
            self.id, "log_status", now, {"status": status, "request_id": request_id},
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
