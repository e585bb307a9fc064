"""OCPP 2.0.1 wire of the simulated charger: TransactionEvent flow, commands in."""

from __future__ import annotations

import uuid
from typing import Any

from ocpp.v201 import call

from evsite.simulator.ev import ConnectorState, Transaction
from evsite.simulator.flow import Flow, const, iso
from evsite.simulator.link import Link

# 1.6 status -> 2.0.1 ConnectorStatus (2.0.1 keeps the session detail in chargingState).
_STATUS = {
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
}
# 1.6 stop reason -> (2.0.1 triggerReason, stoppedReason).
_STOP = {
    "Local": ("StopAuthorized", "Local"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "Remote": ("RemoteStop", "Remote"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
}


def _token(tag: str) -> dict[str, str]:
    return {"id_token": tag, "type": "ISO14443"}


class Flow201(Flow):
    """OCPP 2.0.1: the transaction starts at plug-in (TxStartPoint EVConnected)."""

    def make_cp(self, link: Link) -> Any:
        """The 2.0.1 ChargePoint bound to this flow."""
        from evsite.simulator.cp201 import Cp201

        return Cp201(self.sim.id, link, self)

    def boot(self) -> Any:
        """BootNotification (PowerUp)."""
        return call.BootNotification(
            charging_station={
                "model": "SimCharger",
                "vendor_name": "evsite",
                "serial_number": self.sim.id,
                "firmware_version": "sim-1",
            },
            reason="PowerUp",
        )

    def heartbeat(self) -> Any:
        """Heartbeat."""
        return call.Heartbeat()

    def authorize(self, id_tag: str) -> Any:
        """Authorize with an ISO 14443 token."""
        return call.Authorize(id_token=_token(id_tag))

    def auth_status(self, result: Any) -> str:
        """``idTokenInfo.status``."""
        return str(result.id_token_info["status"])

    async def status(
        self, conn: ConnectorState, status: str, force: bool = False
    ) -> None:
        """StatusNotification when the 2.0.1 connector status changes."""
        wire = _STATUS.get(status, status)
        before = conn.extra.get("wire_status")
        conn.status = status
        if wire == before and not force:
            return
        conn.extra["wire_status"] = wire
        stamp = iso(self.sim.clock.now())
        await self.sim.send(
            lambda: call.StatusNotification(
                timestamp=stamp, connector_status=wire, evse_id=conn.id, connector_id=1
            )
        )

    async def sync(self, conn: ConnectorState) -> None:
        """Status plus a ChargingStateChanged event when the session state moves."""
        await super().sync(conn)
        tx = conn.tx
        if tx is None or tx.stopped:
            return
        state = self._charging_state(conn)
        if conn.extra.get("charging_state") != state:
            await self._event(conn, "Updated", "ChargingStateChanged")

    def _charging_state(self, conn: ConnectorState) -> str:
        tx = conn.tx
        if tx is None or not tx.authorized:
            return "EVConnected"
        if conn.draw_a > 0:
            return "Charging"
        return (
            "SuspendedEV" if conn.ev is not None and conn.ev.full else "SuspendedEVSE"
        )

    async def _event(
        self,
        conn: ConnectorState,
        kind: str,
        trigger: str,
        *,
        token: bool = False,
        context: str | None = None,
        stopped: str | None = None,
    ) -> None:
        """One TransactionEvent, built now and numbered in order (seqNo)."""
        tx = conn.tx
        assert tx is not None
        state = self._charging_state(conn) if kind != "Ended" else "Idle"
        conn.extra["charging_state"] = state
        info: dict[str, Any] = {"transaction_id": tx.tx_id, "charging_state": state}
        if stopped:
            info["stopped_reason"] = stopped
        payload = call.TransactionEvent(
            event_type=kind,
            timestamp=iso(self.sim.clock.now()),
            trigger_reason=trigger,
            seq_no=tx.seq_no,
            transaction_info=info,
            evse={"id": conn.id, "connector_id": 1},
            id_token=_token(tx.id_tag) if token and tx.id_tag else None,
            meter_value=[self.sampled(conn, context)] if context else None,
            offline=None if self.sim.online else True,
        )
        tx.seq_no += 1
        await self.sim.send(const(payload))

    async def plugged(self, conn: ConnectorState) -> None:
        """Occupied and TransactionEvent Started (CablePluggedIn)."""
        await self.status(conn, "Preparing")
        tag, conn.pending_tag = conn.pending_tag, None
        now = self.sim.clock.now()
        conn.tx = Transaction(
            self.sim.next_local_id(),
            tag or "",
            now,
            int(conn.energy_wh),
            tx_id=uuid.uuid4().hex,
            authorized=tag is not None,
        )
        await self._event(
            conn,
            "Started",
            "CablePluggedIn",
            token=tag is not None,
            context="Transaction.Begin",
        )

    async def authorized(self, conn: ConnectorState, id_tag: str) -> None:
        """Authorize the plugged-in session, or remember the card until plug-in."""
        tx = conn.tx
        if tx is None or tx.stopped:
            conn.pending_tag = id_tag
            return
        tx.authorized, tx.id_tag = True, id_tag
        conn.reserved_for = conn.reservation_id = None
        await self._event(conn, "Updated", "Authorized", token=True)

    async def stop(self, conn: ConnectorState, reason: str) -> None:
        """TransactionEvent Ended with the trigger and stopped reason."""
        tx = conn.tx
        if tx is None or tx.stopped:
            return
        trigger, stopped = _STOP.get(reason, ("AbnormalCondition", "Other"))
        await self._event(
            conn,
            "Ended",
            trigger,
            token=True,
            context="Transaction.End",
            stopped=stopped,
        )
        self.end_session(conn)

    async def unplugged(self, conn: ConnectorState) -> None:
        """Ends a running session (EVDisconnected); then the connector is Available."""
        await self.stop(conn, "EVDisconnected")
        conn.tx = None
        conn.ev = None

    async def meter(self, conn: ConnectorState) -> None:
        """TransactionEvent Updated with a periodic sample."""
        if conn.tx is not None and not conn.tx.stopped:
            await self._event(
                conn, "Updated", "MeterValuePeriodic", context="Sample.Periodic"
            )

    def sampled(self, conn: ConnectorState, context: str | None) -> dict[str, Any]:
        """One 2.0.1 MeterValue (numeric values, unitOfMeasure)."""
        values = []
        for measurand, value, unit, phase in self.readings(conn):
            item: dict[str, Any] = {
                "value": value,
                "measurand": measurand,
                "context": context or "Sample.Periodic",
                "unit_of_measure": {"unit": unit},
            }
            if phase:
                item["phase"] = phase
            values.append(item)
        return {"timestamp": iso(self.sim.clock.now()), "sampled_value": values}

    async def trigger(self, message: str, evse: int | None) -> None:
        """Send what TriggerMessage asked for."""
        sim = self.sim
        if message == "BootNotification":
            await sim.call(self.boot())
        elif message == "Heartbeat":
            await sim.call(self.heartbeat())
        elif message == "StatusNotification":
            for conn in sim.connectors.values():
                if evse in (None, conn.id):
                    await self.status(conn, conn.status, force=True)
        elif message == "MeterValues":
            for conn in sim.connectors.values():
                if evse in (None, conn.id):
                    payload = call.MeterValues(
                        evse_id=conn.id, meter_value=[self.sampled(conn, "Trigger")]
                    )
                    await sim.send(const(payload))
