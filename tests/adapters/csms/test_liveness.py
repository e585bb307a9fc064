"""Heartbeat timeout marks chargers unreachable (SPEC §4.2, §6)."""

from __future__ import annotations

from datetime import UTC, datetime

from evsite.control.clock import ManualClock
from evsite.control.events import EventKind
from evsite.control.live import ChargerLink

from .conftest import BOOT16, make_services, start_server, wait_for


async def test_silent_charger_becomes_unreachable_and_recovers(tmp_path, connect):
    clock = ManualClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    services = await make_services(tmp_path, clock=clock)
    srv = await start_server(services, heartbeat_timeout_s=90, watchdog_interval_s=3600)
    try:
        cp = await connect(srv.url("CP16"))
        await cp.call("BootNotification", BOOT16)
        state = services.live.chargers["CP16"]
        clock.advance(60)
        assert await srv.central.check_liveness() == []
        await cp.call("Heartbeat", {})
        clock.advance(89)
        assert await srv.central.check_liveness() == []
        clock.advance(2)
        assert await srv.central.check_liveness() == ["CP16"]
        assert state.link is ChargerLink.UNREACHABLE
        (alarm,) = srv.kinds(EventKind.ALARM, "CP16")
        assert alarm.data["alarm"] == "station_unreachable"
        assert await srv.central.check_liveness() == []  # reported once
        await cp.call("Heartbeat", {})
        assert state.link is ChargerLink.CONNECTED
        assert srv.kinds(EventKind.ALARM_CLEARED, "CP16")
    finally:
        await srv.central.stop()
        await services.db.close()


async def test_default_timeout_from_heartbeat_interval(server):
    # 2 × the 60 s interval of the test settings + 60 s grace.
    assert server.central.heartbeat_timeout_s == 180


async def test_disconnected_charger_becomes_unreachable(tmp_path, connect):
    clock = ManualClock(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    services = await make_services(tmp_path, clock=clock)
    srv = await start_server(services, heartbeat_timeout_s=30, watchdog_interval_s=3600)
    try:
        cp = await connect(srv.url("CP16"))
        await cp.call("BootNotification", BOOT16)
        await cp.close()
        state = services.live.chargers["CP16"]
        await wait_for(lambda: state.link is ChargerLink.DISCONNECTED)
        clock.advance(31)
        assert await srv.central.check_liveness() == ["CP16"]
        assert state.link is ChargerLink.UNREACHABLE
    finally:
        await srv.central.stop()
        await services.db.close()
