"""OCPP security profiles 1-3: Basic-auth passwords, failure rate limits, TLS.

Passwords are stored as ``scrypt$n$r$p$salt$hash`` (hex): hashlib.scrypt with a
random 16-byte salt. The hash in the site config (``Charger.password_hash``)
uses the same format, so ``hash_password`` output can be pasted there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import ssl
from collections import deque
from dataclasses import dataclass

from evsite.config.models import OcppSettings
from evsite.errors import ConfigError, Problem

_LOGGER = logging.getLogger(__name__)

# scrypt cost: n=2**14, r=8 takes ~30 ms and 16 MiB; a charger authenticates
# once per connection, so this is cheap for us and expensive for guessing.
_N, _R, _P = 2**14, 8, 1
_DKLEN = 32
# OCPP 2.0.1 BasicAuthPassword: 16-40 characters (1.6 whitepaper: 16-40 too).
MIN_PASSWORD, MAX_PASSWORD = 16, 40


def hash_password(password: str, *, n: int = _N) -> str:
    """A salted scrypt hash of ``password`` in evsite's storage format."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=_DKLEN, maxmem=64 << 20
    )
    return f"scrypt${n}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected) // 2,
            maxmem=64 << 20,
        )
    except (ValueError, TypeError):
        _LOGGER.warning("stored password hash has an unknown format")
        return False
    return hmac.compare_digest(digest.hex(), expected)


def check_password_rules(password: str) -> None:
    """Refuse a password OCPP chargers cannot hold (16-40 characters).

    Raises:
        ConfigError: naming the ``password`` field.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ConfigError(
            [Problem("password", f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")]
        )


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """The username and password of an HTTP Basic ``Authorization`` header."""

    username: str
    password: str


def parse_basic(header: str | None) -> BasicCredentials | None:
    """Decode ``Basic base64(user:password)``; None when absent or malformed."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return BasicCredentials(username, password)


class FailureLimiter:
    """Sliding-window count of failed authentications per key (IP or charger id).

    CVE-2026-24445 is a CSMS without such a limit: brute force and DoS.
    """

    def __init__(self, limit: int = 5, window_s: float = 60.0) -> None:
        """Allow ``limit`` failures per key within ``window_s`` seconds."""
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] > self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, key: str, now: float) -> bool:
        """The key has used up its failures in the window."""
        return len(self._recent(key, now)) >= self.limit

    def fail(self, key: str, now: float) -> None:
        """Record one failure."""
        self._recent(key, now)
        self._failures.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        """Forget a key's failures (after a success)."""
        self._failures.pop(key, None)


def server_ssl_context(settings: OcppSettings) -> ssl.SSLContext | None:
    """The TLS context for ``wss://`` (profile 2), or None without a certificate.

    With ``tls_ca`` set, chargers may present a client certificate signed by
    that CA (profile 3); its common name authenticates the charger id.

    Raises:
        ConfigError: the certificate, key or CA cannot be loaded.
    """
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # OCPP security: TLS 1.2 or newer only.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(
            [Problem("ocpp.tls_cert", f"cannot load certificate/key: {err}")]
        ) from err
    if settings.tls_ca:
        try:
            context.load_verify_locations(settings.tls_ca)
        except (OSError, ssl.SSLError) as err:
            raise ConfigError(
                [Problem("ocpp.tls_ca", f"cannot load CA: {err}")]
            ) from err
        # Optional: profile-2 chargers (password, no certificate) still connect.
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def certificate_common_name(peercert: object) -> str | None:
    """The subject CN of a verified peer certificate (``getpeercert()`` form)."""
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
