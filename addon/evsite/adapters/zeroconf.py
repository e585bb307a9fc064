"""Announce evsite on the LAN as ``_evsite._tcp.local.`` (SPEC §11.5).

The Home Assistant integration's config flow is started by this record; its
TXT properties carry the site id, the version and the API path (keys and
values lowercase where Home Assistant matches on them).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Sequence

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from evsite import __version__

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_evsite._tcp.local."
API_PATH = "/api/v1"
_UNSAFE = re.compile(r"[^a-z0-9-]")


def primary_ipv4() -> str:
    """The address of the interface holding the default route (loopback if none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            # A UDP "connect" sends nothing; it only picks the outgoing interface.
            sock.connect(("10.254.254.254", 1))
            address: str = sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"
        return address


def service_info(
    site_id: str, port: int, addresses: Sequence[str], version: str = __version__
) -> AsyncServiceInfo:
    """The service record for one site."""
    host = _UNSAFE.sub("-", site_id.lower()).strip("-") or "site"
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"evsite {site_id}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=port,
        properties={"id": site_id, "version": version, "path": API_PATH},
        server=f"evsite-{host}.local.",
    )


class ZeroconfAnnouncer:
    """Registers the service on start and withdraws it on stop."""

    def __init__(
        self,
        site_id: str,
        port: int,
        *,
        addresses: Sequence[str] | None = None,
        interfaces: Sequence[str] | None = None,
    ) -> None:
        """``port`` is the REST API port; ``interfaces`` limits where mDNS runs."""
        self._addresses = list(addresses) if addresses else [primary_ipv4()]
        self._interfaces = list(interfaces) if interfaces else None
        self.info = service_info(site_id, port, self._addresses)
        self._zc: AsyncZeroconf | None = None

    async def start(self) -> None:
        """Announce (a name clash gets a new instance name rather than failing)."""
        if self._interfaces is not None:
            self._zc = AsyncZeroconf(interfaces=self._interfaces)
        else:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await self._zc.async_register_service(self.info, allow_name_change=True)
        _LOGGER.info(
            "zeroconf: announced %s on %s:%d",
            self.info.name,
            ",".join(self._addresses),
            self.info.port,
        )

    async def stop(self) -> None:
        """Withdraw the announcement and close the responder; safe to call twice."""
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            await zc.async_unregister_service(self.info)
        finally:
            await zc.async_close()
