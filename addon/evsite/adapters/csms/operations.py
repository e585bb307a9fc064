"""Operator commands beyond the control ports: reset, unlock, trigger, config...

Results are returned as JSON-ready dicts (the REST layer hands them out as is).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from evsite.adapters.csms import calls
from evsite.adapters.csms.commands import Commands
from evsite.adapters.csms.profiles import (
    purpose_name,
    rate_unit_from_16,
    rate_unit_from_201,
)
from evsite.adapters.storage import ocpp_repo as sql
from evsite.control.ports import ProfilePurpose
from evsite.errors import ChargerError

_LOGGER = logging.getLogger(__name__)


def result_dict(result: Any) -> dict[str, Any]:
    """An ``ocpp`` call_result dataclass as a dict without None values."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        data = dataclasses.asdict(result)
        return {k: v for k, v in data.items() if v is not None}
    return {"result": result}


class ChargerOperations(Commands):
    """All commands evsite sends, including the operator's extras."""

    async def reset(self, charger_id: str, *, hard: bool = False) -> dict[str, Any]:
        """Reset (Soft/OnIdle unless ``hard``)."""
        return result_dict(
            await self.call(charger_id, lambda v: calls.reset(v, hard=hard))
        )

    async def unlock(self, charger_id: str, connector_id: int) -> dict[str, Any]:
        """UnlockConnector."""
        return result_dict(
            await self.call(charger_id, lambda v: calls.unlock(v, connector_id))
        )

    async def trigger_message(
        self, charger_id: str, message: str, connector_id: int | None = None
    ) -> dict[str, Any]:
        """TriggerMessage (e.g. ``StatusNotification``, ``MeterValues``)."""
        return result_dict(
            await self.call(
                charger_id, lambda v: calls.trigger(v, message, connector_id)
            )
        )

    async def get_configuration(
        self, charger_id: str, keys: list[str] | None = None
    ) -> dict[str, Any]:
        """GetConfiguration (1.6) / GetVariables (``Component.Variable``, 2.0.1)."""
        result = await self.call(
            charger_id, lambda v: calls.get_configuration(v, keys or [])
        )
        version = self.connection(charger_id).version
        return {
            "values": calls.configuration_values(version, result),
            **result_dict(result),
        }

    async def change_configuration(
        self, charger_id: str, key: str, value: str
    ) -> dict[str, Any]:
        """ChangeConfiguration (1.6) / SetVariables (2.0.1)."""
        result = await self.call(
            charger_id, lambda v: calls.change_configuration(v, key, value)
        )
        data = result_dict(result)
        if "set_variable_result" in data:
            data["status"] = data["set_variable_result"][0].get("attribute_status")
        return data

    async def clear_charging_profile(
        self,
        charger_id: str,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> dict[str, Any]:
        """ClearChargingProfile; forgets the matching installed profiles."""
        result = await self.call(
            charger_id,
            lambda v: calls.clear_profile(
                v, profile_id=profile_id, connector_id=connector_id,
                purpose=purpose_name(v, purpose) if purpose else None,
                stack_level=stack_level,
            ),
        )  # fmt: skip
        if result.status == "Accepted":
            await self._central.repo.write(
                [
                    sql.profiles_cleared(
                        charger_id,
                        connector_id,
                        purpose.value if purpose else None,
                        stack_level,
                        profile_id,
                    )
                ]
            )
        return result_dict(result)

    async def get_composite_schedule(
        self,
        charger_id: str,
        connector_id: int,
        duration_s: int,
        unit: str | None = None,
    ) -> dict[str, Any]:
        """GetCompositeSchedule."""
        return result_dict(
            await self.call(
                charger_id,
                lambda v: calls.composite_schedule(v, connector_id, duration_s, unit),
            )
        )

    async def data_transfer(
        self,
        charger_id: str,
        vendor_id: str,
        message_id: str | None = None,
        data: Any = None,
    ) -> dict[str, Any]:
        """DataTransfer."""
        return result_dict(
            await self.call(
                charger_id,
                lambda v: calls.data_transfer(v, vendor_id, message_id, data),
            )
        )

    async def set_display_message(
        self, charger_id: str, line1: str, line2: str = ""
    ) -> dict[str, Any]:
        """Station message (SPEC §6): SetDisplayMessage, or DataTransfer on 1.6."""
        calls.check_display_lines(line1, line2)
        message_id = self._next_request_id()
        return result_dict(
            await self.call(
                charger_id,
                lambda v: calls.display_message(v, message_id, line1, line2),
            )
        )

    async def update_firmware(
        self, charger_id: str, location: str, retrieve_at: datetime
    ) -> dict[str, Any]:
        """UpdateFirmware; progress arrives as FirmwareStatusNotification."""
        request_id = self._next_request_id()
        return result_dict(
            await self.call(
                charger_id,
                lambda v: calls.update_firmware(v, location, retrieve_at, request_id),
            )
        )

    async def get_logs(self, charger_id: str, location: str) -> dict[str, Any]:
        """GetDiagnostics (1.6) / GetLog (2.0.1) uploaded to ``location``."""
        request_id = self._next_request_id()
        return result_dict(
            await self.call(
                charger_id, lambda v: calls.get_logs(v, location, request_id)
            )
        )

    async def discover(self, charger_id: str) -> None:
        """Read the rate unit and supported features after boot; store them."""
        conn = self.connection(charger_id)
        keys = calls.KEYS_16 if conn.version == "1.6" else calls.VARIABLES_201
        try:
            result = await self.call(
                charger_id, lambda v: calls.get_configuration(v, list(keys))
            )
        except ChargerError as err:
            _LOGGER.info("%s: capabilities unknown (%s); using A", charger_id, err)
            return
        values = calls.configuration_values(conn.version, result)
        if conn.version == "1.6":
            unit = rate_unit_from_16(values.get(calls.KEYS_16[0]))
        else:
            unit = rate_unit_from_201(values.get(calls.VARIABLES_201[0]))
        conn.rate_unit = unit or "A"
        conn.features = calls.features(conn.version, values)
        await self._central.repo.write(
            [
                sql.charger_update(
                    charger_id,
                    rate_unit=conn.rate_unit,
                    features=",".join(sorted(conn.features)),
                )
            ]
        )
        _LOGGER.debug(
            "%s: rate unit %s, features %s", charger_id, conn.rate_unit, conn.features
        )
