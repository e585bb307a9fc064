"""ComponentsSink routing, and the real subsystems' signatures against our ports."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from evsite.adapters.mqtt.commands import (
    ChargeNow,
    CommandError,
    EnableCharger,
    JoinWaitlist,
    LeaveWaitlist,
    SetConnectorLimit,
    SetShedLevel,
)
from evsite.adapters.mqtt.sinks import ComponentsSink
from evsite.control.live import ConnectorStatus, LiveState
from tests.adapters.mqtt.fakes import FakeCsms, FakeEnergy, FakeWaitlists

TOPIC = "evsite/site1/x/set"


async def test_commands_reach_their_subsystems() -> None:
    live = LiveState()
    live.charger("CP-1").connector(1).status = ConnectorStatus.AVAILABLE
    csms, energy, waitlists = FakeCsms(live), FakeEnergy(live), FakeWaitlists()
    sink = ComponentsSink(
        {"charger_commands": csms, "energy": energy, "waitlists": waitlists}
    )
    await sink.execute(TOPIC, EnableCharger("CP-1", False))
    await sink.execute(TOPIC, SetConnectorLimit("CP-1", 1, 8.0))
    await sink.execute(TOPIC, ChargeNow("CP-1", 1, True))  # a plain (sync) method
    await sink.execute(TOPIC, SetShedLevel(25.0, None, "garage"))
    await sink.execute(TOPIC, SetShedLevel(None, None, None, 11.0))
    await sink.execute(TOPIC, JoinWaitlist("d1", charger_id="CP-1"))
    assert waitlists.queues == {"d1": "CP-1"}
    await sink.execute(TOPIC, LeaveWaitlist("d1"))
    assert csms.calls == [("CP-1", 0, False)]
    assert energy.calls == [
        ("limit", "CP-1", 1, 8.0),
        ("charge_now", "CP-1", 1, True),
        ("shed", 25.0, None, "garage", None),
        ("shed", None, None, None, 11.0),
    ]
    assert waitlists.queues == {}
    port = live.charger("CP-1").connector(1)
    assert (port.status, port.limit_a, port.charge_now) == (
        ConnectorStatus.UNAVAILABLE,
        8.0,
        True,
    )


@pytest.mark.parametrize(
    ("components", "command", "field", "problem"),
    [
        ({}, SetShedLevel(10.0), None, "energy management not available"),
        ({"energy": object()}, ChargeNow("a", 1, True), None, "energy management"),
        ({}, LeaveWaitlist("d"), None, "waitlists not available"),
        ({}, EnableCharger("a", True), None, "OCPP central system not available"),
        (
            {"charger_commands": FakeCsms(LiveState(), offline={"a"})},
            EnableCharger("a", True),
            "charger_id",
            "not connected",
        ),
        (
            {"charger_commands": FakeCsms(LiveState(), answer="Rejected")},
            EnableCharger("a", True),
            "enabled",
            "ChangeAvailability with Rejected",
        ),
    ],
)
async def test_missing_or_refusing_subsystems_are_clear_errors(
    components: dict[str, Any], command: Any, field: str | None, problem: str
) -> None:
    with pytest.raises(CommandError) as info:
        await ComponentsSink(components).execute(TOPIC, command)
    assert info.value.field == field
    assert problem in info.value.problem


def _accepts(method: Any, *args: Any, **kwargs: Any) -> None:
    inspect.signature(method).bind(None, *args, **kwargs)


def test_the_real_subsystems_accept_the_calls_the_sink_makes() -> None:
    from evsite.adapters.csms.commands import Commands
    from evsite.control.energy import EnergyController
    from evsite.control.waitlist_service import WaitlistService

    _accepts(Commands.is_connected, "CP-1")
    _accepts(Commands.change_availability, "CP-1", 0, operative=False)
    _accepts(EnergyController.set_connector_limit, "CP-1", 1, None)
    _accepts(EnergyController.charge_now, "CP-1", 1, True)
    _accepts(
        EnergyController.set_shed_level,
        percent=5.0,
        limit_a=None,
        panel_id=None,
        limit_kw=None,
    )
    _accepts(WaitlistService.join, "d1", charger_id=None, group="g")
    _accepts(WaitlistService.leave, "d1")
