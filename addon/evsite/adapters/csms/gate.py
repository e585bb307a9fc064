"""The WebSocket handshake gate: who may connect as which charger (SPEC §4.1).

Order of checks, all before the upgrade:
1. the id is well-formed (≤ 48 printable characters, no ``/`` or ``:``);
2. the client IP is not rate limited (429);
3. the charger is known (site config, or adopted), or unknown chargers are
   allowed and it is kept **pending**; otherwise 404;
4. credentials: a client certificate whose CN is the charger id (profile 3),
   or HTTP Basic with username = charger id and the charger's password
   (profiles 1/2; 401 on failure). A charger without a password connects
   without authentication (profile 0, logged).
Failures count per IP and per charger id (≤ ``limit`` per ``window_s``); a
blocked id still admits the IP it last authenticated from, so an attacker
cannot lock a charger out by failing on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from evsite.adapters.csms.security import (
    FailureLimiter,
    certificate_common_name,
    parse_basic,
    verify_password,
)
from evsite.adapters.storage.ocpp_repo import OcppRepository
from evsite.context import Services

_LOGGER = logging.getLogger(__name__)

# OCPP 2.0.1 identity: up to 48 characters; ':' would break Basic auth.
CHARGER_ID = re.compile(r"^[\x21-\x7e]{1,48}$")
_REALM = {"WWW-Authenticate": 'Basic realm="evsite OCPP"'}


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's verdict for an accepted handshake."""

    charger_id: str
    authenticated: bool
    pending: bool
    method: str
    row: dict[str, Any] | None = None


class Gate:
    """Decides each handshake; keeps the failure counters."""

    def __init__(
        self,
        services: Services,
        repo: OcppRepository,
        *,
        limit: int = 5,
        window_s: float = 60.0,
    ) -> None:
        """Check against the site config and the OCPP charger table."""
        self._services = services
        self._repo = repo
        self.limiter = FailureLimiter(limit, window_s)
        self._last_good_ip: dict[str, str] = {}
        # charger -> (stored hash, sha256 of the password that matched it):
        # one scrypt per charger and password, not one per reconnect.
        self._verified: dict[str, tuple[str, bytes]] = {}

    async def admit(self, request: web.Request, charger_id: str) -> Admission:
        """Admit the handshake or raise the HTTP error to answer with."""
        ip = request.remote or "?"
        now = self._services.clock.monotonic()
        if not CHARGER_ID.match(charger_id) or ":" in charger_id:
            raise web.HTTPBadRequest(text="invalid charger id")
        if self.limiter.blocked(f"ip:{ip}", now):
            _LOGGER.warning("OCPP handshake from %s refused: rate limited", ip)
            raise web.HTTPTooManyRequests(text="too many failed attempts")
        row = await self._repo.charger(charger_id)
        configured = self._services.site.config.charger(charger_id)
        known = configured is not None or (row is not None and not row["pending"])
        pending = not known
        if pending and not self._services.site.config.site.allow_unknown_chargers:
            self.limiter.fail(f"ip:{ip}", now)
            _LOGGER.warning("unknown charger '%s' from %s refused", charger_id, ip)
            raise web.HTTPNotFound(text="unknown charger")
        stored = (row or {}).get("password_hash") or (
            configured.password_hash if configured else None
        )
        cn = certificate_common_name(
            request.transport.get_extra_info("peercert") if request.transport else None
        )
        if cn == charger_id:
            return Admission(charger_id, True, pending, "certificate", row)
        if stored is None:
            if not pending:
                _LOGGER.info("charger '%s' connects without a password", charger_id)
            return Admission(charger_id, False, pending, "none", row)
        await self._check_password(request, charger_id, stored, ip, now)
        return Admission(charger_id, True, pending, "basic", row)

    async def _check_password(
        self, request: web.Request, charger_id: str, stored: str, ip: str, now: float
    ) -> None:
        id_key = f"id:{charger_id}"
        if (
            self.limiter.blocked(id_key, now)
            and self._last_good_ip.get(charger_id) != ip
        ):
            _LOGGER.warning(
                "charger '%s' from %s refused: rate limited", charger_id, ip
            )
            raise web.HTTPTooManyRequests(text="too many failed attempts")
        creds = parse_basic(request.headers.get("Authorization"))
        ok = (
            creds is not None
            and creds.username == charger_id
            and await self._verify(charger_id, creds.password, stored)
        )
        if not ok:
            self.limiter.fail(f"ip:{ip}", now)
            self.limiter.fail(id_key, now)
            _LOGGER.warning(
                "charger '%s' from %s: %s", charger_id, ip,
                "bad credentials" if creds else "no credentials",
            )  # fmt: skip
            raise web.HTTPUnauthorized(text="authentication required", headers=_REALM)
        self.limiter.reset(f"ip:{ip}")
        self._last_good_ip[charger_id] = ip

    async def _verify(self, charger_id: str, password: str, stored: str) -> bool:
        fingerprint = hashlib.sha256(password.encode()).digest()
        cached = self._verified.get(charger_id)
        if cached is not None and cached[0] == stored:
            return hmac.compare_digest(cached[1], fingerprint)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, verify_password, password, stored)
        if ok:
            self._verified[charger_id] = (stored, fingerprint)
        return ok

    def forget(self, charger_id: str) -> None:
        """Drop a cached verification (the password changed)."""
        self._verified.pop(charger_id, None)
