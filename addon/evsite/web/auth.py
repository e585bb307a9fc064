"""Bearer-token authentication and roles (SPEC §11.1, §12.1).

The token from the config (``api.token``) or the environment (``EVSITE_TOKEN``)
is the admin token. More tokens, each with a role, can be added to the
:class:`Authenticator` (``add_token``) or looked up elsewhere (``add_resolver``,
e.g. per-user API tokens kept in the database) without touching the routes:
a route only names the roles that may call it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

from evsite.config.models import ServiceSettings
from evsite.errors import AuthError, ForbiddenError

TOKEN_ENV = "EVSITE_TOKEN"


class Role(StrEnum):
    """Operator roles (seed 003); admin may do everything."""

    ADMIN = "admin"
    NETWORK_MANAGER = "network_manager"
    STATION_MANAGER = "station_manager"
    INSTALLER = "installer"
    VIEWER = "viewer"
    TECHNICIAN = "technician"


# Common role sets for routes. Admin is implied in every set (see ``allows``).
ANY_ROLE: frozenset[Role] = frozenset(Role)
"""Every authenticated caller (reads)."""
MANAGE_SITE: frozenset[Role] = frozenset(
    {Role.ADMIN, Role.NETWORK_MANAGER, Role.INSTALLER}
)
"""Change the site, its panels and existing chargers' settings."""
ADMIN_ONLY: frozenset[Role] = frozenset({Role.ADMIN})
"""Add or delete chargers (SPEC §1) and other admin actions."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a name for logs and audit, and a role."""

    name: str
    role: Role

    def allows(self, roles: frozenset[Role]) -> bool:
        """The principal's role is in ``roles`` (admin always is)."""
        return self.role is Role.ADMIN or self.role in roles


TokenResolver = Callable[[str], Awaitable[Principal | None]]
"""Looks a presented token up elsewhere; ``None`` when it does not know it."""


@dataclass(slots=True)
class Authenticator:
    """Maps bearer tokens to principals; compares in constant time."""

    _tokens: list[tuple[bytes, Principal]] = field(default_factory=list)
    _resolvers: list[TokenResolver] = field(default_factory=list)

    def add_token(self, token: str, principal: Principal) -> None:
        """Accept ``token`` as ``principal`` (empty tokens are refused)."""
        if not token:
            raise ValueError("an API token cannot be empty")
        self._tokens.append((token.encode("utf-8"), principal))

    def add_resolver(self, resolver: TokenResolver) -> None:
        """Ask ``resolver`` about tokens not added with :meth:`add_token`."""
        self._resolvers.append(resolver)

    async def authenticate(self, request: web.Request) -> Principal:
        """The principal of the request's ``Authorization: Bearer`` token.

        Raises:
            AuthError: no bearer token, or one nobody knows.
        """
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing token: send 'Authorization: Bearer <token>'")
        presented = token.encode("utf-8")
        found: Principal | None = None
        # Compare against every token, without stopping early, so the time
        # taken does not reveal which token (or how much of one) matched.
        for known, principal in self._tokens:
            if hmac.compare_digest(known, presented) and found is None:
                found = principal
        for resolver in self._resolvers:
            if found is not None:
                break
            found = await resolver(token)
        if found is None:
            raise AuthError("invalid token")
        return found


def require(principal: Principal, roles: frozenset[Role], action: str) -> None:
    """Raise ForbiddenError unless ``principal`` has one of ``roles``."""
    if not principal.allows(roles):
        needed = ", ".join(sorted(r.value for r in roles | {Role.ADMIN}))
        raise ForbiddenError(
            f"{action} needs one of the roles {needed}; "
            f"this token has role {principal.role.value}"
        )


def resolve_token(
    settings: ServiceSettings, environ: Mapping[str, str] | None = None
) -> str | None:
    """The admin token: ``api.token`` from the config, else ``EVSITE_TOKEN``."""
    if settings.api.token:
        return settings.api.token
    env = os.environ if environ is None else environ
    return env.get(TOKEN_ENV) or None


def authenticator_for(admin_token: str | None) -> Authenticator:
    """An authenticator knowing the admin token (none: every call is refused)."""
    auth = Authenticator()
    if admin_token:
        auth.add_token(admin_token, Principal("admin-token", Role.ADMIN))
    return auth
