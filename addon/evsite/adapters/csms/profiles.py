"""Charging profiles: purposes per version, A or W, the profile dicts (pure).

SPEC §4.3: limits go out in A, or in W where a charger only takes W
(W = A × phase voltage × phases), with the charger's number of phases.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import lru_cache
from typing import Any

from evsite.adapters.csms.translate import iso
from evsite.adapters.csms.wire import Prepared, json_number, json_str
from evsite.control.ports import ProfilePurpose

_PURPOSE_16 = {
    ProfilePurpose.TX: "TxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.CHARGER_MAX: "ChargePointMaxProfile",
}
_PURPOSE_201 = {
    ProfilePurpose.TX: "TxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.CHARGER_MAX: "ChargingStationMaxProfile",
}


@lru_cache(maxsize=16)
def _iso_text(value: datetime) -> str:
    """``iso`` as JSON text, for the few expiry times in use (whole seconds)."""
    return json_str(iso(value))


def purpose_name(version: str, purpose: ProfilePurpose) -> str:
    """The OCPP chargingProfilePurpose for ``purpose`` in ``version``."""
    return (_PURPOSE_16 if version == "1.6" else _PURPOSE_201)[purpose]


def phase_voltage(voltage: float, phases: int) -> float:
    """Voltage per phase: a 3-phase supply quoted line-to-line (>300 V) / √3."""
    if phases == 3 and voltage > 300:
        return voltage / math.sqrt(3)
    return voltage


def load_voltage(panel_voltage: float, panel_lines: int, load_lines: int) -> float:
    """The voltage a 1-phase charger's limit in A converts to W with.

    Panels that carry several lines are quoted line-to-line (400 V, 208 V). A
    charger on one of those lines sees line-to-neutral (V / sqrt 3); one across
    a line pair, or on a panel of one line, sees the panel voltage. A 3-phase
    charger keeps the panel voltage: :func:`profile_limit` takes it per phase.
    """
    if load_lines == 1 and panel_lines > 1:
        return panel_voltage / math.sqrt(3)
    return panel_voltage


def profile_limit(limit_a: float, unit: str, voltage: float, phases: int) -> float:
    """The schedule limit: A to one decimal (1.6 schema), or W = A × V × phases."""
    if unit == "W":
        return float(round(limit_a * phase_voltage(voltage, phases) * phases))
    return round(limit_a, 1)


def rate_unit_from_16(value: str | None) -> str | None:
    """``ChargingScheduleAllowedChargingRateUnit`` ("Current,Power") -> A or W."""
    if not value:
        return None
    units = {part.strip().lower() for part in value.split(",")}
    if "current" in units or "a" in units:
        return "A"
    if "power" in units or "w" in units:
        return "W"
    return None


def rate_unit_from_201(value: str | None) -> str | None:
    """SmartChargingCtrlr ``RateUnit`` ("A,W") -> A or W (A preferred)."""
    return rate_unit_from_16(value)


def charging_profile(
    *,
    version: str,
    profile_id: int,
    purpose: ProfilePurpose,
    stack_level: int,
    limit: float,
    unit: str,
    phases: int,
    transaction_id: str | None,
    valid_to: datetime | None = None,
) -> dict[str, Any]:
    """A Relative single-period profile as a 1.6 or 2.0.1 snake_case dict."""
    period: dict[str, Any] = {"start_period": 0, "limit": limit}
    if phases in (1, 3):
        period["number_phases"] = phases
    if version == "1.6":
        profile: dict[str, Any] = {
            "charging_profile_id": profile_id,
            "stack_level": stack_level,
            "charging_profile_purpose": _PURPOSE_16[purpose],
            "charging_profile_kind": "Relative",
            "charging_schedule": {
                "charging_rate_unit": unit,
                "charging_schedule_period": [period],
            },
        }
        if transaction_id is not None:
            profile["transaction_id"] = int(transaction_id)
        if valid_to is not None:
            profile["valid_to"] = iso(valid_to)
        return profile
    profile = {
        "id": profile_id,
        "stack_level": stack_level,
        "charging_profile_purpose": _PURPOSE_201[purpose],
        "charging_profile_kind": "Relative",
        "charging_schedule": [
            {
                "id": profile_id,
                "charging_rate_unit": unit,
                "charging_schedule_period": [period],
            }
        ],
    }
    if transaction_id is not None:
        profile["transaction_id"] = transaction_id
    if valid_to is not None:
        profile["valid_to"] = iso(valid_to)
    return profile


def set_profile_request(
    *,
    version: str,
    connector_id: int,
    profile_id: int,
    purpose: ProfilePurpose,
    stack_level: int,
    limit: float,
    unit: str,
    phases: int,
    transaction_id: str | None,
    valid_to: datetime | None = None,
) -> Prepared:
    """SetChargingProfile of :func:`charging_profile`, as its OCPP-J payload.

    The same payload as ``calls.set_profile`` of that profile gives after the
    library's conversion, built directly (the conversion was most of the cost
    of a shed's frames). test_wire.py holds the two equal, and valid against
    the official schemas, for any input.
    """
    # The JSON text the json module would write for the payload dict, written
    # directly (key order as charging_profile's; test_wire.py holds the text
    # equal to call_frame's encoding of the library's payload).
    num = json_number
    period = f'{{"startPeriod":0,"limit":{num(limit)}'
    period += f',"numberPhases":{num(phases)}}}' if phases in (1, 3) else "}"
    tail = ""
    if version == "1.6":
        if transaction_id is not None:
            tail += f',"transactionId":{num(int(transaction_id))}'
        if valid_to is not None:
            tail += f',"validTo":{_iso_text(valid_to)}'
        text = (
            f'{{"connectorId":{num(connector_id)},"csChargingProfiles":{{'
            f'"chargingProfileId":{num(profile_id)},"stackLevel":{num(stack_level)},'
            f'"chargingProfilePurpose":"{_PURPOSE_16[purpose]}",'
            f'"chargingProfileKind":"Relative","chargingSchedule":{{'
            f'"chargingRateUnit":{json_str(unit)},"chargingSchedulePeriod":[{period}]}}'
            f"{tail}}}}}"
        )
        return Prepared("SetChargingProfile", text)
    if transaction_id is not None:
        tail += f',"transactionId":{json_str(transaction_id)}'
    if valid_to is not None:
        tail += f',"validTo":{_iso_text(valid_to)}'
    text = (
        f'{{"evseId":{num(connector_id)},"chargingProfile":{{'
        f'"id":{num(profile_id)},"stackLevel":{num(stack_level)},'
        f'"chargingProfilePurpose":"{_PURPOSE_201[purpose]}",'
        f'"chargingProfileKind":"Relative","chargingSchedule":[{{'
        f'"id":{num(profile_id)},"chargingRateUnit":{json_str(unit)},'
        f'"chargingSchedulePeriod":[{period}]}}]{tail}}}}}'
    )
    return Prepared("SetChargingProfile", text)
