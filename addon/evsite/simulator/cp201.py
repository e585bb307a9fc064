"""Incoming OCPP 2.0.1 commands of the simulated charger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v201 import ChargePoint, call_result

from evsite.simulator import profiles as prof
from evsite.simulator.flow import WIRE_LOG, iso, on
from evsite.simulator.link import Link
from evsite.simulator.settings import READ_ONLY, VARIABLES

if TYPE_CHECKING:
    from evsite.simulator.flow201 import Flow201

TRIGGERABLE = frozenset(
    {"BootNotification", "Heartbeat", "StatusNotification", "MeterValues"}
)


def _ok(flag: bool, yes: str = "Accepted", no: str = "Rejected") -> str:
    return yes if flag else no


class Cp201(ChargePoint):  # type: ignore[misc]
    """2.0.1 command handlers, answered from the flow's shared logic."""

    def __init__(self, cp_id: str, link: Link, flow: Flow201) -> None:
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
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        self._note("SetChargingProfile", {"evse_id": evse_id, **charging_profile})
        try:
            profile = prof.from_v201(evse_id, charging_profile)
        except (KeyError, ValueError, IndexError):
            return call_result.SetChargingProfile(status="Rejected")
        return call_result.SetChargingProfile(
            status=_ok(self.flow.set_profile(profile))
        )

    @on("ClearChargingProfile")
    def on_clear_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        crit = charging_profile_criteria or {}
        self._note("ClearChargingProfile", {"id": charging_profile_id, **crit})
        removed = self.flow.clear_profiles(
            profile_id=charging_profile_id,
            connector=crit.get("evse_id"),
            purpose=crit.get("charging_profile_purpose"),
            stack_level=crit.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status=_ok(removed, no="Unknown"))

    @on("GetCompositeSchedule")
    def on_composite(
        self,
        duration: int,
        evse_id: int,
        charging_rate_unit: str | None = None,
        **_: Any,
    ) -> Any:
        self._note("GetCompositeSchedule", {"evse_id": evse_id})
        found = self.flow.composite(evse_id, duration, charging_rate_unit)
        if found is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit, periods = found
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": iso(self.flow.sim.clock.now()),
                "charging_rate_unit": unit,
                "charging_schedule_period": [
                    {"start_period": s, "limit": v} for s, v in periods
                ],
            },
        )

    @on("RequestStartTransaction")
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        tag = str(id_token["id_token"])
        self._note("RequestStartTransaction", {"id_token": tag, "evse_id": evse_id})
        profile = (
            prof.from_v201(evse_id or 0, charging_profile) if charging_profile else None
        )
        conn = self.flow.free_connector(evse_id)
        ok = self.flow.remote_start(evse_id, tag, profile)
        tx_id = (
            conn.tx.tx_id if ok and conn is not None and conn.tx is not None else None
        )
        return call_result.RequestStartTransaction(status=_ok(ok), transaction_id=tx_id)

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        self._note("RequestStopTransaction", {"transaction_id": transaction_id})
        return call_result.RequestStopTransaction(
            status=_ok(self.flow.remote_stop(transaction_id))
        )

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        self._note("Reset", {"type": type})
        self.flow.reset("HardReset")
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        self._note("UnlockConnector", {"evse_id": evse_id})
        status = self.flow.unlock(evse_id)
        return call_result.UnlockConnector(
            status="UnknownConnector" if status == "NotSupported" else status
        )

    @on("ChangeAvailability")
    def on_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        target = int((evse or {}).get("id", 0))
        self._note("ChangeAvailability", {"evse": target, "status": operational_status})
        status = self.flow.change_availability(
            target, operational_status == "Operative"
        )
        return call_result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        self._note("TriggerMessage", {"requested_message": requested_message})
        if requested_message not in TRIGGERABLE:
            return call_result.TriggerMessage(status="NotImplemented")
        target = (evse or {}).get("id")
        self.deferred.append(self.flow.trigger(requested_message, target))
        return call_result.TriggerMessage(status="Accepted")

    @on("GetVariables")
    def on_get_variables(
        self, get_variable_data: list[dict[str, Any]], **_: Any
    ) -> Any:
        self._note("GetVariables", {"n": len(get_variable_data)})
        results = []
        for item in get_variable_data:
            comp, var = item["component"]["name"], item["variable"]["name"]
            key = VARIABLES.get((comp, var))
            value = self.flow.sim.settings.get(key) if key else None
            if key == "ChargingScheduleAllowedChargingRateUnit" and value is not None:
                value = ",".join(
                    "A" if u.strip() == "Current" else "W" for u in value.split(",")
                )
            result: dict[str, Any] = {
                "attribute_status": "Accepted"
                if value is not None
                else "UnknownVariable",
                "component": item["component"],
                "variable": item["variable"],
            }
            if value is not None:
                result["attribute_value"] = value
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(
        self, set_variable_data: list[dict[str, Any]], **_: Any
    ) -> Any:
        self._note("SetVariables", {"n": len(set_variable_data)})
        results = []
        for item in set_variable_data:
            comp, var = item["component"]["name"], item["variable"]["name"]
            key = VARIABLES.get((comp, var))
            if key is None:
                status = "UnknownVariable"
            elif key in READ_ONLY:
                status = "Rejected"
            else:
                status = self.flow.sim.settings.change(
                    key, str(item["attribute_value"])
                )
                if status == "Accepted" and key == "MeterValueSampleInterval":
                    self.flow.sim.meter_interval = (
                        float(item["attribute_value"]) or None
                    )
            results.append(
                {
                    "attribute_status": status
                    if status != "NotSupported"
                    else "Rejected",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        self._note("SendLocalList", {"version_number": version_number})
        entries: dict[str, str | None] = {
            e["id_token"]["id_token"]: (e.get("id_token_info") or {}).get("status")
            for e in local_authorization_list or []
        }
        status = self.flow.send_local_list(
            version_number, update_type == "Full", entries
        )
        return call_result.SendLocalList(
            status="Failed" if status == "NotSupported" else status
        )

    @on("GetLocalListVersion")
    def on_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(
            version_number=self.flow.sim.local_list_version
        )

    @on("ReserveNow")
    def on_reserve(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        tag = str(id_token["id_token"])
        self._note("ReserveNow", {"id": id, "id_token": tag})
        return call_result.ReserveNow(status=self.flow.reserve(evse_id or 0, tag, id))

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return call_result.CancelReservation(
            status=_ok(self.flow.cancel_reservation(reservation_id))
        )

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        self.flow.sim.auth_cache.clear()
        return call_result.ClearCache(status="Accepted")
