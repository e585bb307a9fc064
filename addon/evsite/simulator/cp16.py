"""Incoming OCPP 1.6 commands of the simulated charger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v16 import ChargePoint, call_result

from evsite.simulator import profiles as prof
from evsite.simulator.flow import WIRE_LOG, iso, on
from evsite.simulator.link import Link
from evsite.simulator.settings import READ_ONLY

if TYPE_CHECKING:
    from evsite.simulator.flow16 import Flow16

TRIGGERABLE = frozenset(
    {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"}
)


class Cp16(ChargePoint):  # type: ignore[misc]
    """Incoming 1.6 commands, answered from the flow's shared logic."""

    def __init__(self, cp_id: str, link: Link, flow: Flow16) -> None:
        """Bind to a flow."""
        super().__init__(cp_id, link, logger=WIRE_LOG)
        self.flow = flow
        self.deferred: list[Any] = []

    async def route_message(self, raw_msg: str) -> None:
        """Route, then start follow-ups once the reply has been sent."""
        await super().route_message(raw_msg)
        todo, self.deferred = self.deferred, []
        for coro in todo:
            self.flow.sim.spawn(coro)

    def _note(self, action: str, kwargs: dict[str, Any]) -> None:
        self.flow.sim.received.append((action, kwargs))

    @on("SetChargingProfile")
    def on_set_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> Any:
        self._note(
            "SetChargingProfile", {"connector_id": connector_id, **cs_charging_profiles}
        )
        try:
            profile = prof.from_v16(connector_id, cs_charging_profiles)
        except (KeyError, ValueError):
            return call_result.SetChargingProfile(status="Rejected")
        ok = self.flow.set_profile(profile)
        return call_result.SetChargingProfile(status="Accepted" if ok else "Rejected")

    @on("ClearChargingProfile")
    def on_clear_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        self._note("ClearChargingProfile", {"id": id, "connector_id": connector_id})
        removed = self.flow.clear_profiles(
            profile_id=id,
            connector=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        return call_result.ClearChargingProfile(
            status="Accepted" if removed else "Unknown"
        )

    @on("GetCompositeSchedule")
    def on_composite(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> Any:
        self._note("GetCompositeSchedule", {"connector_id": connector_id})
        found = self.flow.composite(connector_id, duration, charging_rate_unit)
        if found is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit, periods = found
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=iso(self.flow.sim.clock.now()),
            charging_schedule={
                "duration": duration,
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": s, "limit": v} for s, v in periods
                ],
            },
        )

    @on("RemoteStartTransaction")
    def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        self._note(
            "RemoteStartTransaction", {"id_tag": id_tag, "connector_id": connector_id}
        )
        profile = (
            prof.from_v16(connector_id or 0, charging_profile)
            if charging_profile
            else None
        )
        ok = self.flow.remote_start(connector_id, id_tag, profile)
        return call_result.RemoteStartTransaction(
            status="Accepted" if ok else "Rejected"
        )

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> Any:
        self._note("RemoteStopTransaction", {"transaction_id": transaction_id})
        ok = self.flow.remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(
            status="Accepted" if ok else "Rejected"
        )

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        self._note("Reset", {"type": type})
        self.flow.reset("HardReset" if type == "Hard" else "SoftReset")
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int) -> Any:
        self._note("UnlockConnector", {"connector_id": connector_id})
        return call_result.UnlockConnector(status=self.flow.unlock(connector_id))

    @on("ChangeAvailability")
    def on_availability(self, connector_id: int, type: str) -> Any:
        self._note("ChangeAvailability", {"connector_id": connector_id, "type": type})
        status = self.flow.change_availability(connector_id, type == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(
        self, requested_message: str, connector_id: int | None = None
    ) -> Any:
        self._note("TriggerMessage", {"requested_message": requested_message})
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        self.deferred.append(self.flow.trigger(requested_message, connector_id))
        return call_result.TriggerMessage(status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        self._note("GetConfiguration", {"key": key})
        settings = self.flow.sim.settings
        names = key or list(settings.values)
        known = [k for k in names if settings.get(k) is not None]
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in READ_ONLY, "value": settings.get(k)}
                for k in known
            ],
            unknown_key=[k for k in names if k not in known] or None,
        )

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        self._note("ChangeConfiguration", {"key": key, "value": value})
        status = self.flow.sim.settings.change(key, value)
        if status == "Accepted" and key == "MeterValueSampleInterval":
            self.flow.sim.meter_interval = float(value) or None
        return call_result.ChangeConfiguration(status=status)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> Any:
        self._note("SendLocalList", {"list_version": list_version})
        entries: dict[str, str | None] = {
            e["id_tag"]: (e.get("id_tag_info") or {}).get("status")
            for e in local_authorization_list or []
        }
        status = self.flow.send_local_list(list_version, update_type == "Full", entries)
        return call_result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    def on_local_list_version(self) -> Any:
        return call_result.GetLocalListVersion(
            list_version=self.flow.sim.local_list_version
        )

    @on("ReserveNow")
    def on_reserve(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        **_: Any,
    ) -> Any:
        self._note("ReserveNow", {"connector_id": connector_id, "id_tag": id_tag})
        return call_result.ReserveNow(
            status=self.flow.reserve(connector_id, id_tag, reservation_id)
        )

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> Any:
        ok = self.flow.cancel_reservation(reservation_id)
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    @on("ClearCache")
    def on_clear_cache(self) -> Any:
        self.flow.sim.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")
