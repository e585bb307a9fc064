"""Pure builders of outgoing OCPP calls, per version (no I/O).

Each function takes the version ("1.6" or "2.0.1") and returns the ``ocpp``
call dataclass to queue. Nested structures are snake_case dicts; the library
converts them to camelCase and validates them against the official schemas
before sending.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from evsite.adapters.csms.translate import iso
from evsite.control.ports import LocalListEntry
from evsite.errors import ChargerError, ConfigError, Problem

V16 = "1.6"

# Configuration keys read after boot (1.6) and device-model variables (2.0.1).
KEYS_16 = ("ChargingScheduleAllowedChargingRateUnit", "SupportedFeatureProfiles")
VARIABLES_201 = (
    "SmartChargingCtrlr.RateUnit",
    "SmartChargingCtrlr.Enabled",
    "ReservationCtrlr.Enabled",
    "LocalAuthListCtrlr.Enabled",
)
# 1.6 feature profiles -> evsite feature names (ChargerCommands.supports).
FEATURES_16 = {
    "SmartCharging": "smart_charging",
    "Reservation": "reservation",
    "LocalAuthListManagement": "local_auth_list",
}
FEATURES_201 = {
    "SmartChargingCtrlr.Enabled": "smart_charging",
    "ReservationCtrlr.Enabled": "reservation",
    "LocalAuthListCtrlr.Enabled": "local_auth_list",
}

# SPEC §6 station messages: line 1 ≤ 15, line 2 ≤ 64, none of / ~ " < > |.
_FORBIDDEN = re.compile(r'[/~"<>|]')
LINE_LIMITS = (15, 64)


def _variable(name: str) -> dict[str, Any]:
    """``Component.Variable`` (or ``Component.Variable.Instance``) as a dict."""
    parts = name.split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            [Problem("keys", f"'{name}' is not Component.Variable[.Instance]")]
        )
    variable: dict[str, Any] = {"name": parts[1]}
    if len(parts) == 3:
        variable["instance"] = parts[2]
    return {"component": {"name": parts[0]}, "variable": variable}


def get_configuration(version: str, keys: Sequence[str]) -> Any:
    """GetConfiguration (1.6) / GetVariables (2.0.1)."""
    if version == V16:
        return call16.GetConfiguration(key=list(keys) or None)
    if not keys:
        raise ConfigError([Problem("keys", "OCPP 2.0.1 needs at least one variable")])
    return call201.GetVariables(get_variable_data=[_variable(k) for k in keys])


def change_configuration(version: str, key: str, value: str) -> Any:
    """ChangeConfiguration (1.6) / SetVariables (2.0.1)."""
    if version == V16:
        return call16.ChangeConfiguration(key=key, value=value)
    return call201.SetVariables(
        set_variable_data=[{**_variable(key), "attribute_value": value}]
    )


def configuration_values(version: str, result: Any) -> dict[str, str | None]:
    """Key -> value from a GetConfiguration / GetVariables result."""
    if version == V16:
        return {
            item["key"]: item.get("value") for item in result.configuration_key or []
        }
    values: dict[str, str | None] = {}
    for item in result.get_variable_result:
        name = f"{item['component']['name']}.{item['variable']['name']}"
        accepted = item.get("attribute_status") == "Accepted"
        values[name] = item.get("attribute_value") if accepted else None
    return values


def features(version: str, values: dict[str, str | None]) -> set[str]:
    """Supported evsite features from configuration values."""
    if version == V16:
        profiles = values.get("SupportedFeatureProfiles") or ""
        return {
            FEATURES_16[p.strip()]
            for p in profiles.split(",")
            if p.strip() in FEATURES_16
        }
    return {
        feature
        for name, feature in FEATURES_201.items()
        if (values.get(name) or "").lower() == "true"
    }


def reset(version: str, *, hard: bool) -> Any:
    """Reset: Hard/Soft (1.6), Immediate/OnIdle (2.0.1)."""
    if version == V16:
        return call16.Reset(type="Hard" if hard else "Soft")
    return call201.Reset(type="Immediate" if hard else "OnIdle")


def unlock(version: str, connector_id: int) -> Any:
    """UnlockConnector (2.0.1: EVSE id, connector 1)."""
    if version == V16:
        return call16.UnlockConnector(connector_id=connector_id)
    return call201.UnlockConnector(evse_id=connector_id, connector_id=1)


def trigger(version: str, message: str, connector_id: int | None) -> Any:
    """TriggerMessage for ``message`` (e.g. StatusNotification)."""
    if version == V16:
        return call16.TriggerMessage(
            requested_message=message, connector_id=connector_id
        )
    evse = {"id": connector_id} if connector_id else None
    return call201.TriggerMessage(requested_message=message, evse=evse)


def availability(version: str, connector_id: int, *, operative: bool) -> Any:
    """ChangeAvailability; connector 0 is the whole charger."""
    value = "Operative" if operative else "Inoperative"
    if version == V16:
        return call16.ChangeAvailability(connector_id=connector_id, type=value)
    evse = {"id": connector_id} if connector_id else None
    return call201.ChangeAvailability(operational_status=value, evse=evse)


def remote_start(
    version: str, connector_id: int | None, id_tag: str, remote_start_id: int
) -> Any:
    """RemoteStartTransaction / RequestStartTransaction."""
    if version == V16:
        return call16.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id)
    return call201.RequestStartTransaction(
        id_token={"id_token": id_tag, "type": "Central"},
        remote_start_id=remote_start_id,
        evse_id=connector_id,
    )


def remote_stop(version: str, transaction_id: str) -> Any:
    """RemoteStopTransaction (integer id) / RequestStopTransaction."""
    if version == V16:
        if not transaction_id.isdigit():
            raise ChargerError(f"'{transaction_id}' is not an OCPP 1.6 transaction id")
        return call16.RemoteStopTransaction(transaction_id=int(transaction_id))
    return call201.RequestStopTransaction(transaction_id=transaction_id)


def set_profile(version: str, connector_id: int, profile: dict[str, Any]) -> Any:
    """SetChargingProfile with a profile from ``translate.charging_profile``."""
    if version == V16:
        return call16.SetChargingProfile(
            connector_id=connector_id, cs_charging_profiles=profile
        )
    return call201.SetChargingProfile(evse_id=connector_id, charging_profile=profile)


def clear_profile(
    version: str,
    *,
    profile_id: int | None,
    connector_id: int | None,
    purpose: str | None,
    stack_level: int | None,
) -> Any:
    """ClearChargingProfile by id or by criteria (None matches anything)."""
    if version == V16:
        return call16.ClearChargingProfile(
            id=profile_id,
            connector_id=connector_id,
            charging_profile_purpose=purpose,
            stack_level=stack_level,
        )
    criteria = {
        key: value
        for key, value in (
            ("evse_id", connector_id),
            ("charging_profile_purpose", purpose),
            ("stack_level", stack_level),
        )
        if value is not None
    }
    return call201.ClearChargingProfile(
        charging_profile_id=profile_id, charging_profile_criteria=criteria or None
    )


def composite_schedule(
    version: str, connector_id: int, duration_s: int, unit: str | None
) -> Any:
    """GetCompositeSchedule."""
    if version == V16:
        return call16.GetCompositeSchedule(
            connector_id=connector_id, duration=duration_s, charging_rate_unit=unit
        )
    return call201.GetCompositeSchedule(
        duration=duration_s, evse_id=connector_id, charging_rate_unit=unit
    )


def reserve(
    version: str,
    *,
    connector_id: int,
    reservation_id: int,
    id_tag: str,
    expiry: datetime,
) -> Any:
    """ReserveNow (2.0.1: connector 0 means any EVSE)."""
    if version == V16:
        return call16.ReserveNow(
            connector_id=connector_id,
            expiry_date=iso(expiry),
            id_tag=id_tag,
            reservation_id=reservation_id,
        )
    return call201.ReserveNow(
        id=reservation_id,
        expiry_date_time=iso(expiry),
        id_token={"id_token": id_tag, "type": "Central"},
        evse_id=connector_id or None,
    )


def cancel_reservation(version: str, reservation_id: int) -> Any:
    """CancelReservation."""
    if version == V16:
        return call16.CancelReservation(reservation_id=reservation_id)
    return call201.CancelReservation(reservation_id=reservation_id)


def local_list(
    version: str, list_version: int, entries: Sequence[LocalListEntry], *, full: bool
) -> Any:
    """SendLocalList, full or differential."""
    update = "Full" if full else "Differential"
    if version == V16:
        items = []
        for entry in entries:
            info: dict[str, Any] = {"status": entry.status.value}
            if entry.expiry is not None:
                info["expiry_date"] = iso(entry.expiry)
            if entry.parent_id_tag is not None:
                info["parent_id_tag"] = entry.parent_id_tag
            items.append({"id_tag": entry.id_tag, "id_tag_info": info})
        return call16.SendLocalList(
            list_version=list_version,
            update_type=update,
            local_authorization_list=items,
        )
    items201 = []
    for entry in entries:
        info201: dict[str, Any] = {"status": entry.status.value}
        if entry.expiry is not None:
            info201["cache_expiry_date_time"] = iso(entry.expiry)
        items201.append(
            {"id_token": {"id_token": entry.id_tag, "type": "ISO14443"},
             "id_token_info": info201}
        )  # fmt: skip
    return call201.SendLocalList(
        version_number=list_version,
        update_type=update,
        local_authorization_list=items201 or None,
    )


def local_list_version(version: str) -> Any:
    """GetLocalListVersion."""
    return (
        call16.GetLocalListVersion()
        if version == V16
        else call201.GetLocalListVersion()
    )


def data_transfer(
    version: str, vendor_id: str, message_id: str | None, data: Any
) -> Any:
    """DataTransfer (1.6 data is a string)."""
    if version == V16:
        text = data if data is None or isinstance(data, str) else str(data)
        return call16.DataTransfer(
            vendor_id=vendor_id, message_id=message_id, data=text
        )
    return call201.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data)


def check_display_lines(line1: str, line2: str) -> None:
    """Station message rules (SPEC §6).

    Raises:
        ConfigError: naming ``line1``/``line2``.
    """
    problems = []
    for field, text, limit in (("line1", line1, 15), ("line2", line2, 64)):
        if len(text) > limit:
            problems.append(Problem(field, f"at most {limit} characters"))
        if _FORBIDDEN.search(text):
            problems.append(Problem(field, 'must not contain / ~ " < > |'))
    if not line1:
        problems.append(Problem("line1", "is required"))
    if problems:
        raise ConfigError(problems)


def display_message(version: str, message_id: int, line1: str, line2: str) -> Any:
    """SetDisplayMessage (2.0.1); on 1.6 a DataTransfer to vendor ``org.evsite``."""
    check_display_lines(line1, line2)
    text = f"{line1}\n{line2}" if line2 else line1
    if version == V16:
        return call16.DataTransfer(
            vendor_id="org.evsite", message_id="DisplayMessage", data=text
        )
    return call201.SetDisplayMessage(
        message={
            "id": message_id,
            "priority": "NormalCycle",
            "message": {"format": "UTF8", "content": text[:512]},
        }
    )


def update_firmware(
    version: str, location: str, retrieve_at: datetime, request_id: int
) -> Any:
    """UpdateFirmware."""
    if version == V16:
        return call16.UpdateFirmware(location=location, retrieve_date=iso(retrieve_at))
    return call201.UpdateFirmware(
        request_id=request_id,
        firmware={"location": location, "retrieve_date_time": iso(retrieve_at)},
    )


def get_logs(version: str, location: str, request_id: int) -> Any:
    """GetDiagnostics (1.6) / GetLog DiagnosticsLog (2.0.1)."""
    if version == V16:
        return call16.GetDiagnostics(location=location)
    return call201.GetLog(
        log={"remote_location": location},
        log_type="DiagnosticsLog",
        request_id=request_id,
    )
