"""Where MQTT commands go: the :class:`CommandSink` port and its default.

:class:`ComponentsSink` routes each command to the subsystem registered in
``services.components``: ``"charger_commands"`` (a
:class:`~evsite.control.ports.ChargerCommands`, registered by the OCPP server
next to ``"csms"``), ``"energy"`` (:class:`EnergyControl`) and ``"waitlists"``
(:class:`WaitlistControl`).
Those subsystems are built elsewhere; the Protocols below are what MQTT needs
from them. Methods may be plain or ``async``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, runtime_checkable

from evsite.adapters.mqtt.commands import (
    ChargeNow,
    Command,
    CommandError,
    EnableCharger,
    JoinWaitlist,
    LeaveWaitlist,
    SetConnectorLimit,
    SetShedLevel,
)
from evsite.control.ports import ChargerCommands

# Charger answers to ChangeAvailability that mean "done or will be done".
_AVAILABILITY_OK = frozenset({"accepted", "scheduled"})


@runtime_checkable
class EnergyControl(Protocol):
    """What MQTT needs from energy management (``services.components["energy"]``)."""

    def set_connector_limit(
        self, charger_id: str, connector_id: int, limit_a: float | None
    ) -> Awaitable[None] | None:
        """Operator cap on a connector; None removes it."""
        ...

    def charge_now(
        self, charger_id: str, connector_id: int, enabled: bool
    ) -> Awaitable[None] | None:
        """Charge now (bypass delay windows) for the connector's session."""
        ...

    def set_shed_level(
        self,
        percent: float | None = None,
        limit_a: float | None = None,
        panel_id: str | None = None,
        limit_kw: float | None = None,
    ) -> Awaitable[object] | object:
        """External shed level (the tightest wins); all None ends it."""
        ...


@runtime_checkable
class WaitlistControl(Protocol):
    """What MQTT needs from waitlists (``services.components["waitlists"]``)."""

    def join(
        self, driver_id: str, *, charger_id: str | None = None, group: str | None = None
    ) -> Awaitable[object] | object:
        """Queue a driver for a charger or a station group."""
        ...

    def leave(self, driver_id: str) -> Awaitable[object] | object:
        """Take a driver out of their queue."""
        ...


class CommandSink(Protocol):
    """Carries out validated MQTT commands; raises ``EvsiteError`` when it cannot."""

    async def execute(self, topic: str, command: Command) -> None:
        """Do what ``command`` (received on ``topic``) asks."""
        ...


async def _settle(result: object) -> object:
    return await result if inspect.isawaitable(result) else result


class ComponentsSink:
    """The default sink: the subsystems in ``services.components``."""

    def __init__(self, components: Mapping[str, object]) -> None:
        """Look components up at call time (they may register after MQTT starts)."""
        self._components = components

    def _energy(self, topic: str) -> EnergyControl:
        energy = self._components.get("energy")
        if not isinstance(energy, EnergyControl):
            raise CommandError(topic, None, "energy management not available")
        return energy

    def _waitlists(self, topic: str) -> WaitlistControl:
        waitlists = self._components.get("waitlists")
        if not isinstance(waitlists, WaitlistControl):
            raise CommandError(topic, None, "waitlists not available")
        return waitlists

    def _charger_commands(self, topic: str) -> ChargerCommands:
        for key in ("charger_commands", "csms"):
            found: Any = self._components.get(key)
            if hasattr(found, "change_availability") and hasattr(found, "is_connected"):
                commands: ChargerCommands = found
                return commands
        raise CommandError(topic, None, "OCPP central system not available")

    async def _enable(self, topic: str, command: EnableCharger) -> None:
        commands = self._charger_commands(topic)
        if not commands.is_connected(command.charger_id):
            raise CommandError(
                topic, "charger_id", f"charger '{command.charger_id}' is not connected"
            )
        status = await commands.change_availability(
            command.charger_id, 0, operative=command.enabled
        )
        if str(status).lower() not in _AVAILABILITY_OK:
            raise CommandError(
                topic, "enabled", f"charger answered ChangeAvailability with {status}"
            )

    async def execute(self, topic: str, command: Command) -> None:
        """Route ``command`` to its subsystem."""
        match command:
            case EnableCharger():
                await self._enable(topic, command)
            case SetConnectorLimit(charger_id, connector_id, limit_a):
                energy = self._energy(topic)
                await _settle(
                    energy.set_connector_limit(charger_id, connector_id, limit_a)
                )
            case ChargeNow(charger_id, connector_id, enabled):
                energy = self._energy(topic)
                await _settle(energy.charge_now(charger_id, connector_id, enabled))
            case SetShedLevel(percent, limit_a, panel_id, limit_kw):
                energy = self._energy(topic)
                await _settle(
                    energy.set_shed_level(
                        percent=percent,
                        limit_a=limit_a,
                        panel_id=panel_id,
                        limit_kw=limit_kw,
                    )
                )
            case JoinWaitlist(driver_id, charger_id, group):
                waitlists = self._waitlists(topic)
                await _settle(
                    waitlists.join(driver_id, charger_id=charger_id, group=group)
                )
            case LeaveWaitlist(driver_id):
                await _settle(self._waitlists(topic).leave(driver_id))
