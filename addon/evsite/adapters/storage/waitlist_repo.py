"""Waitlists in SQLite (migration 0005): policies, assignments, state, logs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from evsite.adapters.storage.access_repo import dumps, json_upsert, missing, one
from evsite.adapters.storage.db import Database, Statement
from evsite.config.access_models import WaitlistAssignment, WaitlistPolicy
from evsite.config.access_schema import (
    assignment_dict,
    build_assignment,
    build_waitlist_policy,
    waitlist_policy_dict,
)
from evsite.errors import ConflictError, NotFoundError


class WaitlistRepository:
    """Waitlist policies, assignments, queue state and the two logs."""

    def __init__(self, db: Database) -> None:
        """Use ``db`` for every read and write."""
        self._db = db

    async def policies(self) -> dict[str, WaitlistPolicy]:
        """Every waitlist policy by id."""
        rows = await self._db.fetchall("SELECT data FROM waitlist_policies ORDER BY id")
        found = (build_waitlist_policy(json.loads(r[0])) for r in rows)
        return {p.id: p for p in found}

    async def assignments(self) -> list[WaitlistAssignment]:
        """Where each policy applies."""
        rows = await self._db.fetchall(
            "SELECT target_kind, target_id, policy_id FROM waitlist_assignments"
            " ORDER BY target_kind, target_id"
        )
        return [build_assignment(dict(r)) for r in rows]

    async def save_policy(self, policy: WaitlistPolicy) -> None:
        """Create or replace a waitlist policy."""
        await self._db.write(
            [json_upsert("waitlist_policies", policy.id, waitlist_policy_dict(policy))]
        )

    async def delete_policy(self, policy_id: str) -> None:
        """Delete an unused waitlist policy.

        Raises:
            NotFoundError: no such policy.
            ConflictError: it is applied somewhere.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "waitlist_policies", "id", policy_id):
                raise NotFoundError("waitlist policy", policy_id)
            used = await one(
                conn,
                "SELECT target_kind, target_id FROM waitlist_assignments"
                " WHERE policy_id = ?",
                (policy_id,),
            )
            if used is not None:
                raise ConflictError(
                    f"waitlist policy '{policy_id}' is applied to {used[0]} '{used[1]}'"
                )
            await conn.execute(
                "DELETE FROM waitlist_policies WHERE id = ?", (policy_id,)
            )

    async def assign(self, item: WaitlistAssignment) -> None:
        """Apply a policy to a charger or station group (replacing any other).

        Raises:
            ConflictError: the policy does not exist.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "waitlist_policies", "id", item.policy_id):
                raise ConflictError(
                    f"unknown waitlist policy '{item.policy_id}'", "policy_id"
                )
            data = assignment_dict(item)
            await conn.execute(
                "INSERT INTO waitlist_assignments (target_kind, target_id, policy_id)"
                " VALUES (?, ?, ?) ON CONFLICT (target_kind, target_id)"
                " DO UPDATE SET policy_id = excluded.policy_id",
                (data["target_kind"], data["target_id"], data["policy_id"]),
            )

    async def unassign(self, target_kind: str, target_id: str) -> None:
        """Remove the policy of a charger or station group.

        Raises:
            NotFoundError: nothing was applied there.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM waitlist_assignments WHERE target_kind = ?"
                " AND target_id = ?",
                (target_kind, target_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError("waitlist assignment", f"{target_kind}:{target_id}")

    async def load_state(self) -> dict[str, Any] | None:
        """The saved queue state document, if any."""
        row = await self._db.fetchone("SELECT data FROM waitlist_state")
        return None if row is None else dict(json.loads(row[0]))

    @staticmethod
    def state_statement(data: dict[str, Any]) -> Statement:
        """The statement saving the queue state document."""
        return (
            "INSERT INTO waitlist_state (singleton, data) VALUES (1, ?)"
            " ON CONFLICT (singleton) DO UPDATE SET data = excluded.data",
            (dumps(data),),
        )

    @staticmethod
    def driver_log_statement(
        at: datetime, driver_id: str, queue_id: str, action: str, detail: dict[str, Any]
    ) -> Statement:
        """The statement appending one driver-log row."""
        return (
            "INSERT INTO waitlist_driver_log (at, driver_id, queue_id, action, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            (at.isoformat(), driver_id, queue_id, action, dumps(detail)),
        )

    @staticmethod
    def event_log_statement(
        at: datetime, kind: str, queue_id: str, detail: dict[str, Any]
    ) -> Statement:
        """The statement appending one event-log row (ids are taken from ``detail``)."""
        return (
            "INSERT INTO waitlist_event_log (at, kind, queue_id, driver_id, charger_id,"
            " connector_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at.isoformat(),
                kind,
                queue_id,
                detail.get("driver_id"),
                detail.get("charger_id"),
                detail.get("connector_id"),
                dumps(detail),
            ),
        )

    async def write(self, statements: Sequence[Statement]) -> None:
        """Commit statements together (state and its log rows)."""
        await self._db.write(statements)

    async def log(
        self,
        table: str,
        *,
        key: str | None = None,
        value: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Rows of the driver log or event log, newest first."""
        if table not in ("waitlist_driver_log", "waitlist_event_log"):
            raise ValueError(f"unknown log table {table}")
        if key not in (None, "driver_id", "queue_id", "charger_id"):
            raise ValueError(f"unknown log filter {key}")
        where, params = ("", [])
        if key is not None and value is not None:
            where, params = (f" WHERE {key} = ?", [value])
        rows = await self._db.fetchall(
            f"SELECT * FROM {table}{where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        result = []
        for row in rows:
            item = dict(row)
            item["detail"] = json.loads(item["detail"])
            result.append(item)
        return result
