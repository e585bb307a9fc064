"""OCPP 1.6J wire of the simulated charger: messages out, commands in."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from evsite.simulator.ev import ConnectorState, Transaction
from evsite.simulator.flow import Flow, const, iso
from evsite.simulator.link import Link


class Flow16(Flow):
    """OCPP 1.6: a session starts with StartTransaction once plugged and authorized."""

    def make_cp(self, link: Link) -> Any:
        """The 1.6 ChargePoint bound to this flow."""
        from evsite.simulator.cp16 import Cp16

        return Cp16(self.sim.id, link, self)

    def boot(self) -> Any:
        """BootNotification."""
        return call.BootNotification(
            charge_point_model="SimCharger",
            charge_point_vendor="evsite",
            charge_point_serial_number=self.sim.id,
            firmware_version="sim-1",
        )

    def heartbeat(self) -> Any:
        """Heartbeat."""
        return call.Heartbeat()

    def authorize(self, id_tag: str) -> Any:
        """Authorize."""
        return call.Authorize(id_tag=id_tag)

    def auth_status(self, result: Any) -> str:
        """``idTagInfo.status``."""
        return str(result.id_tag_info["status"])

    async def status(
        self, conn: ConnectorState, status: str, force: bool = False
    ) -> None:
        """StatusNotification on change."""
        if status == conn.status and not force:
            return
        conn.status = status
        stamp = iso(self.sim.clock.now())
        await self.sim.send(
            lambda: call.StatusNotification(
                connector_id=conn.id,
                error_code="NoError",
                status=status,
                timestamp=stamp,
            )
        )

    async def plugged(self, conn: ConnectorState) -> None:
        """Preparing; a card tapped before plugging starts the session now."""
        await self.status(conn, "Preparing")
        if conn.pending_tag is not None:
            tag, conn.pending_tag = conn.pending_tag, None
            await self._start(conn, tag)

    async def authorized(self, conn: ConnectorState, id_tag: str) -> None:
        """Start now when plugged, else wait for the cable."""
        if conn.ev is None:
            conn.pending_tag = id_tag
            return
        await self._start(conn, id_tag)

    async def _start(self, conn: ConnectorState, id_tag: str) -> None:
        """StartTransaction; the server's transaction id arrives with the reply."""
        now = self.sim.clock.now()
        tx = Transaction(self.sim.next_local_id(), id_tag, now, int(conn.energy_wh))
        conn.tx = tx
        reservation = conn.reservation_id
        conn.reserved_for = conn.reservation_id = None

        def done(result: Any) -> None:
            tx.tx_id = str(result.transaction_id)
            if result.id_tag_info["status"] != "Accepted" and not tx.stopped:
                # OCPP 1.6 §5.7: a charger may stop a session the server refused.
                self.sim.spawn(self._deauthorized(conn, tx))

        await self.sim.send(
            lambda: call.StartTransaction(
                connector_id=conn.id,
                id_tag=id_tag,
                meter_start=tx.meter_start_wh,
                timestamp=iso(now),
                reservation_id=reservation,
            ),
            done,
        )

    async def _deauthorized(self, conn: ConnectorState, tx: Transaction) -> None:
        """Stop a session the central system did not accept."""
        if conn.tx is tx and not tx.stopped:
            await self.stop(conn, "DeAuthorized")
            await self.sim.refresh()

    async def stop(self, conn: ConnectorState, reason: str) -> None:
        """StopTransaction with the register reading and the reason."""
        tx = conn.tx
        if tx is None or tx.stopped:
            return
        self.end_session(conn)
        now, meter_stop = self.sim.clock.now(), int(conn.energy_wh)
        await self.sim.send(
            lambda: call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=iso(now),
                transaction_id=int(tx.tx_id or 0),
                reason=reason,
                id_tag=tx.id_tag,
            )
        )

    async def unplugged(self, conn: ConnectorState) -> None:
        """EVDisconnected ends a running session; the connector becomes Available."""
        await self.stop(conn, "EVDisconnected")
        conn.tx = None
        conn.ev = None

    async def meter(self, conn: ConnectorState) -> None:
        """MeterValues for the session, sampled now."""
        tx = conn.tx
        if tx is None:
            return
        sample = self.sampled(conn)
        await self.sim.send(
            lambda: call.MeterValues(
                connector_id=conn.id,
                transaction_id=int(tx.tx_id) if tx.tx_id else None,
                meter_value=[sample],
            )
        )

    def sampled(self, conn: ConnectorState) -> dict[str, Any]:
        """One 1.6 MeterValue (values are strings in 1.6)."""
        values = []
        for measurand, value, unit, phase in self.readings(conn):
            item = {
                "value": f"{value:.1f}",
                "measurand": measurand,
                "unit": unit,
                "context": "Sample.Periodic",
            }
            if phase:
                item["phase"] = phase
            values.append(item)
        return {"timestamp": iso(self.sim.clock.now()), "sampled_value": values}

    async def trigger(self, message: str, connector: int | None) -> None:
        """Send what TriggerMessage asked for."""
        sim = self.sim
        if message == "BootNotification":
            await sim.call(self.boot())
        elif message == "Heartbeat":
            await sim.call(self.heartbeat())
        elif message == "StatusNotification":
            for conn in sim.connectors.values():
                if connector in (None, 0, conn.id):
                    await self.status(conn, conn.status, force=True)
        elif message == "MeterValues":
            for conn in sim.connectors.values():
                if connector in (None, 0, conn.id):
                    payload = call.MeterValues(
                        connector_id=conn.id, meter_value=[self.sampled(conn)]
                    )
                    await sim.send(const(payload))
