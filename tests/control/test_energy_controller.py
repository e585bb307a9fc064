"""The energy controller with a fake command sink and a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evsite.config.models import SiteConfig
from evsite.context import Services
from evsite.control.events import Event, EventKind
from evsite.control.live import ConnectorStatus
from evsite.control.ports import ProfilePurpose
from evsite.errors import ConfigError
from tests.conftest import wait_until
from tests.control.energy_fakes import (
    FakeCommands,
    WritingCommands,
    connect,
    draw,
    make_services,
    meter,
    running,
    settle,
    site_data,
    start_session,
    tick,
)


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """The unmetered test site."""
    services = await make_services(tmp_path)
    yield services
    await services.db.close()


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Services]:
    """The test site with a meter on the main panel (limit 80 A per phase)."""
    services = await make_services(tmp_path, site_data(metered=True))
    yield services
    await services.db.close()


async def test_tx_default_pushed_on_connect_per_port(services: Services) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        connect(services, commands, "CP-1")
        connect(services, commands, "CP-3")
        await wait_until(lambda: bool(commands.defaults("CP-3")))
        await wait_until(lambda: not controller.dispatcher.busy())
        # Computed safe defaults: CP-1 shares garage (40 A) with CP-2; CP-3's
        # 16 A station total is split over its two ports (connector 0 = each).
        assert commands.defaults("CP-1") == [20.0]
        assert commands.defaults("CP-3") == [8.0]
        assert all(s.connector_id == 0 for s in commands.sent)
        # Reconnecting re-pushes it (a charger may drop profiles on reboot).
        connect(services, commands, "CP-1")
        await wait_until(lambda: commands.defaults("CP-1") == [20.0, 20.0])


async def test_ramps_up_per_tick_and_down_at_once(services: Services) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2"):
            connect(services, commands, cid)
        start_session(services, "CP-1")
        await settle(controller)
        # From the TxDefault in force (20 A) up by 4 A per tick to 32 A.
        assert commands.tx("CP-1") == [24.0]
        await settle(controller)  # no tick passed: no step
        assert commands.tx("CP-1") == [24.0]
        for _ in range(3):
            tick(services)
            await settle(controller)
        assert commands.tx("CP-1") == [24.0, 28.0, 32.0]
        live = services.live.chargers["CP-1"].connectors[1]
        assert (live.limit_a, live.reason) == (32.0, "charger_max")
        start_session(services, "CP-2", tx="2")
        await settle(controller)  # same instant: the decrease is not ramped
        assert commands.tx("CP-1")[-1] == 20.0
        assert commands.tx("CP-2") == [20.0]
        assert services.live.chargers["CP-1"].connectors[1].reason == "panel:garage"


async def test_deadband_holds_small_increases_never_decreases(
    services: Services,
) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        connect(services, commands, "CP-1")
        await controller.set_connector_limit("CP-1", 1, 12)
        start_session(services, "CP-1")
        await settle(controller)
        assert commands.tx("CP-1") == [12.0]
        await controller.set_connector_limit("CP-1", 1, 11.7)
        await settle(controller)
        assert commands.tx("CP-1") == [12.0, 11.7]  # decreases always go out
        await controller.set_connector_limit("CP-1", 1, 12.0)
        tick(services)
        await settle(controller)
        assert commands.tx("CP-1") == [12.0, 11.7]  # +0.3 A is within the deadband
        live = services.live.chargers["CP-1"].connectors[1]
        assert (live.limit_a, live.reason) == (12.0, "operator_cap")
        await controller.set_connector_limit("CP-1", 1, None)
        await settle(controller)  # a second has passed since 11.7 A: one step
        assert commands.tx("CP-1") == [12.0, 11.7, 15.7]
        await settle(controller)  # but not since 15.7 A
        assert commands.tx("CP-1") == [12.0, 11.7, 15.7]
        tick(services)
        await settle(controller)
        assert commands.tx("CP-1") == [12.0, 11.7, 15.7, 19.7]


async def test_rejecting_charger_is_uncontrollable_until_it_accepts(
    services: Services,
) -> None:
    commands = FakeCommands()
    commands.rejecting.add("CP-1")
    async with running(services, commands) as controller:
        connect(services, commands, "CP-2")
        start_session(services, "CP-2", tx="2")
        connect(services, commands, "CP-1")
        await wait_until(lambda: not services.live.chargers["CP-1"].controllable)
        await settle(controller)
        latest = controller.latest
        assert latest is not None
        # CP-1's full 32 A is reserved in garage (40 A): CP-2 gets what is left.
        assert latest.connectors[("CP-1", 1)].reason_text == "uncontrollable"
        assert latest.limit("CP-2", 1) == 8.0
        assert commands.tx("CP-2")[-1] == 8.0
        retries = len(commands.defaults("CP-1"))
        await wait_until(lambda: len(commands.defaults("CP-1")) > retries + 1)
        commands.rejecting.clear()
        await wait_until(lambda: services.live.chargers["CP-1"].controllable)
        await settle(controller)
        assert controller.latest is not None
        assert controller.latest.limit("CP-2", 1) > 8.0


async def test_slow_charger_does_not_block_others(services: Services) -> None:
    commands = FakeCommands()
    gate = asyncio.Event()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2"):
            connect(services, commands, cid)
        await wait_until(lambda: not controller.dispatcher.busy())
        commands.slow["CP-1"] = gate
        start_session(services, "CP-1")
        start_session(services, "CP-2", tx="2")
        await controller.run_cycle()
        await wait_until(lambda: commands.tx("CP-2") == [20.0])
        assert commands.tx("CP-1") == []
        gate.set()
        await wait_until(lambda: commands.tx("CP-1") == [20.0])


async def test_stale_meter_never_raises_a_limit(metered: Services) -> None:
    services = metered
    commands = FakeCommands()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2"):
            connect(services, commands, cid)
        start_session(services, "CP-1", amps=20)
        start_session(services, "CP-2", tx="2", amps=20)
        meter(services, "main", 50)
        await settle(controller)
        assert controller.latest is not None
        assert controller.latest.limit("CP-1", 1) == 20.0
        tick(services, 5)  # the meter's 3 s timeout passes without a sample
        services.live.chargers["CP-2"].connectors[1].status = ConnectorStatus.FINISHING
        await settle(controller)
        # CP-2 left, but with the meter stale CP-1 may not rise above 20 A.
        assert controller.latest.limit("CP-1", 1) == 20.0
        assert controller.latest.connectors[("CP-1", 1)].reason_text == "stale_meter"
        assert max(commands.tx("CP-1")) == 20.0
        meter(services, "main", 30)
        await settle(controller)
        tick(services)
        await settle(controller)
        assert commands.tx("CP-1")[-1] > 20.0


async def test_overload_sample_sheds_in_the_same_cycle(metered: Services) -> None:
    services = metered
    commands = FakeCommands()
    events = services.bus.subscribe()
    async with running(services, commands) as controller:
        # All connected: an offline CP-3 would reserve its 16 A in main.
        for cid in ("CP-1", "CP-2", "CP-3"):
            connect(services, commands, cid)
        start_session(services, "CP-1", amps=20)
        start_session(services, "CP-2", tx="2", amps=20)
        meter(services, "main", 50)
        await settle(controller)
        assert commands.tx("CP-1") == [20.0]
        # The rest of the building jumps: 95 A on the 80 A main, 40 A of it ours.
        meter(services, "main", 95)
        await wait_until(lambda: len(commands.tx("CP-2")) == 2)
        await wait_until(lambda: len(commands.tx("CP-1")) == 2)
        # 80 - 55 background - 2 A hysteresis = 23 A for both: 11.5 A each.
        assert commands.tx("CP-1")[-1] == 11.5
        assert commands.tx("CP-2")[-1] == 11.5
        assert services.live.chargers["CP-1"].connectors[1].reason == "load_shed"
        seen: list[Event] = []
        while (event := events.get_nowait()) is not None:
            seen.append(event)
        starts = [e for e in seen if e.kind is EventKind.LOAD_SHED_START]
        assert starts
        assert starts[0].data["panel_id"] == "main"
        assert starts[0].data["chargers"] == ["CP-1", "CP-2"]
        log = await controller.repo.shed_events()
        assert log[0].source == "meter"
        assert log[0].ended_at is None
        assert log[0].depth_a == pytest.approx(15.0)
        # Restore needs limit - hysteresis for 30 s (hysteresis + hold).
        draw(services, "CP-1", 1, 11.5)
        draw(services, "CP-2", 1, 11.5)
        for _ in range(31):
            tick(services)
            meter(services, "main", 70)
            await settle(controller)
        log = await controller.repo.shed_events()
        assert log[0].ended_at is not None


async def test_external_shed_level_limits_and_logs(services: Services) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2", "CP-3"):
            connect(services, commands, cid)
        start_session(services, "CP-1")
        start_session(services, "CP-2", tx="2")
        await settle(controller)
        await controller.set_shed_level(limit_a=10)
        await settle(controller)
        assert controller.latest is not None
        limits = sorted(controller.latest.limit(c, 1) for c in ("CP-1", "CP-2"))
        # 10 A cannot give both their 6 A minimum: one pauses, one gets 10 A.
        assert limits == [0.0, 10.0]
        await controller.set_shed_level()
        await settle(controller)
        log = await controller.repo.shed_events()
        assert [e.source for e in log] == ["external"]
        assert log[0].level == {
            "percent": None,
            "limit_a": 10,
            "limit_kw": None,
            "panel_id": None,
        }
        assert log[0].ended_at is not None
        assert log[0].chargers == ("CP-1", "CP-2")
        with pytest.raises(ConfigError) as err:
            await controller.set_shed_level(percent=150)
        assert err.value.problems[0].path == "percent"


async def test_external_shed_in_kw_is_amps_per_phase_of_the_panel(
    services: Services,
) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2", "CP-3"):  # CP-3 online: no offline reserve
            connect(services, commands, cid)
        start_session(services, "CP-1")
        start_session(services, "CP-2", tx="2")
        await settle(controller)
        # The root panel is 3-phase 400 V: 11 kW = 11000 / (√3 · 400) = 15.88 A.
        level = await controller.set_shed_level(limit_kw=11)
        assert level is not None
        assert level.limit_kw == 11
        await settle(controller)
        assert controller.latest is not None
        limits = [controller.latest.limit(c, 1) for c in ("CP-1", "CP-2")]
        assert limits == [7.9, 7.9]  # 15.88 A shared, rounded down to a tenth
        assert controller.latest.connectors[("CP-1", 1)].reason.value == "load_shed"
        # The tightest level wins: 10 A is below 15.88 A (one pauses at 6 A minimum).
        await controller.set_shed_level(limit_a=10, limit_kw=11)
        await settle(controller)
        assert sorted(controller.latest.limit(c, 1) for c in ("CP-1", "CP-2")) == [
            0.0,
            10.0,
        ]
        with pytest.raises(ConfigError) as err:
            await controller.set_shed_level(limit_kw=-1)
        assert err.value.problems[0].path == "limit_kw"
    # The level survives a restart, kW included.
    async with running(services, commands) as controller:
        restored = controller.shed.external
        assert restored is not None
        assert (restored.limit_a, restored.limit_kw) == (10, 11)
        await controller.set_shed_level()
    (event,) = await controller.repo.shed_events()  # one event, its last level
    assert event.level == {
        "percent": None,
        "limit_a": 10,
        "limit_kw": 11,
        "panel_id": None,
    }
    assert event.ended_at is not None


async def test_delay_charge_now_and_delay_cancel(tmp_path: Path) -> None:
    data = site_data()
    data["delay_windows"] = [{"id": "night", "start": "21:00", "end": "07:00"}]
    services = await make_services(tmp_path, data)
    commands = FakeCommands()
    events = services.bus.subscribe()
    try:
        async with running(services, commands) as controller:
            for cid in ("CP-1", "CP-2"):  # an offline CP-2 reserves 20 A of garage
                connect(services, commands, cid)
            start_session(services, "CP-1")
            await settle(controller)
            conn = services.live.chargers["CP-1"].connectors[1]
            assert (conn.limit_a, conn.reason) == (0.0, "delayed")
            assert conn.delayed_until is not None
            assert conn.delayed_until.isoformat() == "2026-01-05T21:00:00+01:00"
            await controller.charge_now("CP-1", 1)
            await settle(controller)
            assert conn.limit_a == 32.0
            assert conn.charge_now
            kinds = []
            while (event := events.get_nowait()) is not None:
                kinds.append(event.kind)
            assert EventKind.DELAY_START in kinds
            assert EventKind.DELAY_END in kinds
            # Charge now lasts for the session; a new session is delayed again.
            start_session(services, "CP-1", tx="9")
            await settle(controller)
            assert (conn.limit_a, conn.reason, conn.charge_now) == (
                0.0,
                "delayed",
                False,
            )
            await controller.cancel_delay("CP-1")
            await settle(controller)
            assert conn.limit_a == 32.0
            await controller.cancel_delay("CP-1", enabled=False)
            await settle(controller)
            assert conn.reason == "delayed"
    finally:
        await services.db.close()


def _override(config: SiteConfig, charger_id: str) -> float | None:
    charger = config.charger(charger_id)
    assert charger is not None
    return charger.overrides.offline_allocation_a


async def test_offline_allocation_change_is_validated_and_pushed(
    services: Services,
) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        connect(services, commands, "CP-1")
        await wait_until(lambda: commands.defaults("CP-1") == [20.0])
        result = await controller.set_offline_allocation("CP-1", 10)
        assert (result.offline_allocation_a, result.source) == (10.0, "override")
        await wait_until(lambda: commands.defaults("CP-1") == [20.0, 10.0])
        assert _override(services.site.config, "CP-1") == 10
        await controller.set_offline_allocation("CP-2", 30)
        with pytest.raises(ConfigError) as err:
            await controller.set_offline_allocation("CP-1", 32)
        assert "garage" in str(err.value)
        with pytest.raises(ConfigError) as err:
            await controller.set_offline_allocation("CP-1", 40)
        assert err.value.problems[0].path == "offline_allocation_a"
        stored = await services.sites.load()
        assert stored is not None
        assert _override(stored, "CP-1") == 10


async def test_state_survives_a_restart(services: Services) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        connect(services, commands, "CP-1")
        await wait_until(lambda: commands.defaults("CP-1") == [20.0])
        await wait_until(lambda: not controller.dispatcher.busy())
        await controller.set_shed_level(percent=25)
        await controller.cancel_delay("CP-2")
    async with running(services, FakeCommands()) as again:
        assert again.shed.external is not None
        assert again.shed.external.percent == 25
        assert again.state.delay_cancel == {"CP-2"}
        assert again.dispatcher.defaults_in_force["CP-1"] == 20.0
        log = await again.repo.shed_events()
        assert len(log) == 1
        assert log[0].ended_at is None


async def test_live_profiles_are_refreshed_before_they_expire(
    services: Services,
) -> None:
    commands = FakeCommands()
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2"):
            connect(services, commands, cid)
        start_session(services, "CP-1")
        start_session(services, "CP-2", tx="2")
        await settle(controller)
        tick(services, 9)  # refreshes are spread over 10-20 s of age
        await settle(controller)
        assert commands.tx("CP-1") == [20.0]
        assert commands.tx("CP-2") == [20.0]
        tick(services, 11)  # 20 s: re-sent, well inside the 60 s validity
        await settle(controller)
        assert commands.tx("CP-1") == [20.0, 20.0]
        assert commands.tx("CP-2") == [20.0, 20.0]


async def test_undelivered_default_is_pushed_again(services: Services) -> None:
    commands = FakeCommands()
    commands.failing.add("CP-1")
    async with running(services, commands) as controller:
        connect(services, commands, "CP-1")
        await wait_until(lambda: "CP-1" in controller.dispatcher.undelivered_defaults)
        assert services.live.chargers["CP-1"].controllable  # not a rejection
        commands.failing.clear()
        await settle(controller)
        await wait_until(lambda: commands.defaults("CP-1") == [20.0])
        assert controller.dispatcher.defaults_in_force["CP-1"] == 20.0


class LiveAtWriting(WritingCommands):
    """Notes the live state's limit of the connector as each profile is written."""

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self.live_when_started: list[tuple[str, float, float | None]] = []

    def started(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
    ) -> None:
        conn = self.services.live.chargers[charger_id].connectors.get(connector_id)
        shown = conn.limit_a if conn is not None else None
        self.live_when_started.append((charger_id, limit_a, shown))


async def test_lower_profiles_go_out_before_the_live_state_shows_them(
    services: Services,
) -> None:
    commands = LiveAtWriting(services)
    async with running(services, commands) as controller:
        for cid in ("CP-1", "CP-2"):
            connect(services, commands, cid)
        start_session(services, "CP-1")
        await settle(controller)
        live = services.live.chargers["CP-1"].connectors[1]
        assert live.limit_a == 32.0  # the allocation; the ramp sent 24 A
        start_session(services, "CP-2", tx="2")
        await settle(controller)
        # CP-1's decrease was written while the live state still showed 32 A:
        # bookkeeping (live state, events, log) follows the frames.
        assert ("CP-1", 20.0, 32.0) in commands.live_when_started
        assert (live.limit_a, live.reason) == (20.0, "panel:garage")
