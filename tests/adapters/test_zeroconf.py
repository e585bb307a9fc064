"""zeroconf announcement, resolved over loopback only."""

from __future__ import annotations

from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from evsite import __version__
from evsite.adapters.zeroconf import (
    SERVICE_TYPE,
    ZeroconfAnnouncer,
    primary_ipv4,
    service_info,
)

LOOPBACK = ["127.0.0.1"]


async def _resolve(
    zc: AsyncZeroconf, name: str, timeout_ms: int = 3000
) -> AsyncServiceInfo | None:
    info = AsyncServiceInfo(SERVICE_TYPE, name)
    found = await info.async_request(zc.zeroconf, timeout_ms)
    return info if found else None


async def test_announces_api_port_site_id_and_version_then_withdraws(
    port: int,
) -> None:
    announcer = ZeroconfAnnouncer(
        "garage-1", port, addresses=LOOPBACK, interfaces=LOOPBACK
    )
    await announcer.start()
    browser = AsyncZeroconf(interfaces=LOOPBACK)
    try:
        info = await _resolve(browser, announcer.info.name)
        assert info is not None
        assert info.port == port
        assert info.parsed_addresses() == LOOPBACK
        assert info.decoded_properties == {
            "id": "garage-1",
            "version": __version__,
            "path": "/api/v1",
        }
        await announcer.stop()
        await announcer.stop()  # idempotent
        # After the goodbye packet a fresh query finds nothing.
        fresh = AsyncZeroconf(interfaces=LOOPBACK)
        try:
            assert await _resolve(fresh, announcer.info.name, 1000) is None
        finally:
            await fresh.async_close()
    finally:
        await announcer.stop()
        await browser.async_close()


def test_service_record_names_are_dns_safe() -> None:
    info = service_info("Site_A.1", 8099, ["192.0.2.10"], version="9.9")
    assert info.name == "evsite Site_A.1._evsite._tcp.local."
    assert info.server == "evsite-site-a-1.local."
    assert info.parsed_addresses() == ["192.0.2.10"]


def test_primary_ipv4_is_an_address() -> None:
    parts = primary_ipv4().split(".")
    assert len(parts) == 4
    assert all(0 <= int(p) <= 255 for p in parts)
