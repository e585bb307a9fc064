"""Shared pieces of the access tests: a site with every scope, a real database,
and a recording fake of the ChargerCommands port."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evsite.context import Services
from evsite.control.clock import ManualClock
from evsite.control.ports import LocalListEntry, ProfilePurpose
from tests.support import stored_services

# Wednesday 2026-03-11 10:00 in Berlin (CET, UTC+1).
START = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)

SITE: dict[str, Any] = {
    "site": {
        "id": "access-site",
        "name": "Access Site",
        "timezone": "Europe/Berlin",
        "org_type": "multifamily",
        "just_charge_allowed": True,
        "main_service": {"voltage": 400, "phases": 3, "main_breaker_a": 200},
    },
    "panels": [
        {"id": "main", "breaker_a": 200, "phases": 3, "voltage": 400},
    ],
    "driver_groups": [
        {"id": "tenants", "name": "Tenants"},
        {"id": "staff", "name": "Staff"},
    ],
    "chargers": [
        {"id": "CL", "parent": "main", "limit_a": 16, "phases": 3, "scope": "closed"},
        {"id": "OP", "parent": "main", "limit_a": 16, "phases": 3, "scope": "open"},
        {"id": "PR", "parent": "main", "limit_a": 16, "phases": 3, "scope": "private"},
        {"id": "AC", "parent": "main", "limit_a": 16, "phases": 3, "scope": "account"},
        {
            "id": "GR",
            "parent": "main",
            "limit_a": 16,
            "phases": 3,
            "scope": "groups",
            "driver_groups": ["tenants"],
        },
        {"id": "PU", "parent": "main", "limit_a": 16, "phases": 3, "scope": "public"},
        {
            "id": "JC",
            "parent": "main",
            "limit_a": 16,
            "phases": 3,
            "scope": "account",
            "just_charge": True,
        },
        {
            "id": "WL",
            "parent": "main",
            "limit_a": 32,
            "phases": 3,
            "scope": "public",
            "connectors": 2,
            "station_group": "lobby",
        },
    ],
}


def site_data() -> dict[str, Any]:
    """A fresh copy of the test site."""
    return copy.deepcopy(SITE)


async def make_services(tmp_path: Path, data: dict[str, Any] | None = None) -> Services:
    """Services over a real SQLite file holding the test site, on a manual clock."""
    return await stored_services(
        tmp_path, data or site_data(), clock=ManualClock(START), token="t"
    )


@dataclass
class FakeCommands:
    """Records every command; behaves like a charger with a local list."""

    connected: set[str] = field(default_factory=set)
    features: set[str] = field(
        default_factory=lambda: {"local_auth_list", "reservation"}
    )
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    lists: dict[str, dict[str, LocalListEntry]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    list_answer: str = "Accepted"

    def is_connected(self, charger_id: str) -> bool:
        return charger_id in self.connected

    def supports(self, charger_id: str, feature: str) -> bool:
        return feature in self.features

    async def set_limit(
        self,
        charger_id: str,
        connector_id: int,
        limit_a: float,
        purpose: ProfilePurpose,
        transaction_id: str | None = None,
    ) -> bool:
        self.calls.append(("set_limit", charger_id, connector_id, limit_a))
        return True

    async def send_local_list(
        self,
        charger_id: str,
        version: int,
        entries: Sequence[LocalListEntry],
        *,
        full: bool,
    ) -> str:
        self.calls.append(
            (
                "send_local_list",
                charger_id,
                version,
                sorted(e.id_tag for e in entries),
                full,
            )
        )
        if self.list_answer != "Accepted":
            answer, self.list_answer = self.list_answer, "Accepted"
            return answer
        current = {} if full else dict(self.lists.get(charger_id, {}))
        current.update({e.id_tag: e for e in entries})
        self.lists[charger_id] = current
        self.versions[charger_id] = version
        return "Accepted"

    async def get_local_list_version(self, charger_id: str) -> int:
        self.calls.append(("get_local_list_version", charger_id))
        return self.versions.get(charger_id, 0)

    async def reserve_now(
        self, charger_id: str, connector_id: int, reservation_id: int, id_tag: str,
        expiry: datetime,
    ) -> str:  # fmt: skip
        self.calls.append(
            ("reserve_now", charger_id, connector_id, reservation_id, id_tag)
        )
        return "Accepted"

    async def cancel_reservation(self, charger_id: str, reservation_id: int) -> str:
        self.calls.append(("cancel_reservation", charger_id, reservation_id))
        return "Accepted"

    async def change_availability(
        self, charger_id: str, connector_id: int, *, operative: bool
    ) -> str:
        self.calls.append(("change_availability", charger_id, connector_id, operative))
        return "Accepted"

    async def remote_start(
        self, charger_id: str, connector_id: int | None, id_tag: str
    ) -> str:
        self.calls.append(("remote_start", charger_id, connector_id, id_tag))
        return "Accepted"

    async def remote_stop(self, charger_id: str, transaction_id: str) -> str:
        self.calls.append(("remote_stop", charger_id, transaction_id))
        return "Accepted"

    def named(self, name: str) -> list[tuple[Any, ...]]:
        """The recorded calls of one command."""
        return [c for c in self.calls if c[0] == name]
