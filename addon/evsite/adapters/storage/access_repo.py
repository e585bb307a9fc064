"""Access control in SQLite (migration 0004; waitlists: waitlist_repo.py).

Rows in, models out. The repository keeps references inside its own tables
sound (a tag's parent and owner driver exist, a policy in use is not deleted,
a private charger has one linked driver); ids of the site model (chargers,
driver groups) are checked by the access service against the site in force.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from evsite.adapters.storage.db import Database, Statement
from evsite.config.access_models import (
    AccessPolicy,
    ChargerAccess,
    Driver,
    GroupMember,
    MemberKind,
    PrivateLink,
    RfidTag,
)
from evsite.config.access_schema import (
    build_driver,
    build_policy,
    build_tag,
    driver_dict,
    policy_dict,
    tag_dict,
)
from evsite.errors import ConflictError, NotFoundError


def dumps(value: Any) -> str:
    """Compact, stable JSON for ``data`` columns."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def json_upsert(table: str, entity_id: str, data: dict[str, Any]) -> Statement:
    """Insert or replace the ``data`` document of one row of an ``(id, data)`` table."""
    return (
        f"INSERT INTO {table} (id, data) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        (entity_id, dumps(data)),
    )


@dataclass(frozen=True, slots=True)
class AccessData:
    """Everything the authorizer reads, loaded in one go."""

    drivers: dict[str, Driver] = field(default_factory=dict)
    tags: dict[str, RfidTag] = field(default_factory=dict)
    members: tuple[GroupMember, ...] = ()
    policies: dict[str, AccessPolicy] = field(default_factory=dict)
    charger_access: dict[str, ChargerAccess] = field(default_factory=dict)
    links: dict[str, PrivateLink] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthLogRow:
    """One logged authorization decision."""

    at: datetime
    charger_id: str
    connector_id: int | None
    id_tag: str
    purpose: str
    status: str
    rule: str
    driver_id: str | None = None


async def missing(
    conn: aiosqlite.Connection, table: str, column: str, value: Any
) -> bool:
    """No row of ``table`` has ``column = value`` (names are code constants)."""
    return (
        await one(conn, f"SELECT 1 FROM {table} WHERE {column} = ?", (value,)) is None
    )


async def one(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Any:
    """The first row of a query on a held connection, or None."""
    rows = list(await conn.execute_fetchall(sql, params))
    return rows[0] if rows else None


class AccessRepository:
    """Drivers, tags, memberships, policies, links, local lists and the auth log."""

    def __init__(self, db: Database) -> None:
        """Use ``db`` for every read and write."""
        self._db = db

    async def load(self) -> AccessData:
        """Everything the authorizer needs."""
        drivers = await self._db.fetchall("SELECT data FROM drivers ORDER BY id")
        tags = await self._db.fetchall("SELECT data FROM rfid_tags ORDER BY id_tag")
        members = await self._db.fetchall(
            "SELECT group_id, member_kind, member_id FROM group_members"
            " ORDER BY group_id, member_kind, member_id"
        )
        policies = await self._db.fetchall(
            "SELECT data FROM access_policies ORDER BY id"
        )
        access = await self._db.fetchall(
            "SELECT * FROM charger_access ORDER BY charger_id"
        )
        links = await self._db.fetchall(
            "SELECT * FROM private_links ORDER BY charger_id"
        )
        return AccessData(
            drivers={
                d.id: d for d in (build_driver(json.loads(r[0])) for r in drivers)
            },
            tags={t.id_tag: t for t in (build_tag(json.loads(r[0])) for r in tags)},
            members=tuple(GroupMember(r[0], MemberKind(r[1]), r[2]) for r in members),
            policies={
                p.id: p for p in (build_policy(json.loads(r[0])) for r in policies)
            },
            charger_access={
                r["charger_id"]: ChargerAccess(
                    r["charger_id"], r["usable_by"], r["visible_to"]
                )
                for r in access
            },
            links={
                r["charger_id"]: PrivateLink(
                    r["charger_id"],
                    r["driver_id"],
                    datetime.fromisoformat(r["linked_at"]),
                )
                for r in links
            },
        )

    # Drivers

    async def save_driver(self, driver: Driver) -> None:
        """Create or replace a driver."""
        await self._db.write([json_upsert("drivers", driver.id, driver_dict(driver))])

    async def delete_driver(self, driver_id: str) -> None:
        """Delete a driver and their memberships.

        Raises:
            NotFoundError: no such driver.
            ConflictError: the driver still owns tags or is linked to a charger.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "drivers", "id", driver_id):
                raise NotFoundError("driver", driver_id)
            tags = await conn.execute_fetchall(
                "SELECT id_tag FROM rfid_tags WHERE owner_kind = 'driver'"
                " AND owner_id = ? ORDER BY id_tag",
                (driver_id,),
            )
            if tags:
                listed = ", ".join(f"'{r[0]}'" for r in tags)
                raise ConflictError(
                    f"driver '{driver_id}' still owns tags {listed}; delete or "
                    "reassign them first"
                )
            link = await one(
                conn,
                "SELECT charger_id FROM private_links WHERE driver_id = ?",
                (driver_id,),
            )
            if link is not None:
                raise ConflictError(
                    f"driver '{driver_id}' is linked to charger '{link[0]}';"
                    " unlink first"
                )
            await conn.execute(
                "DELETE FROM group_members WHERE member_kind = 'driver'"
                " AND member_id = ?",
                (driver_id,),
            )
            await conn.execute("DELETE FROM drivers WHERE id = ?", (driver_id,))

    # Tags

    async def save_tag(self, tag: RfidTag) -> None:
        """Create or replace a tag.

        Raises:
            ConflictError: unknown parent or owner driver, a parent that is itself
                a child (households are one level deep), or a tag with children
                made a child.
        """
        async with self._db.transaction() as conn:
            if tag.parent is not None:
                row = await one(
                    conn, "SELECT parent FROM rfid_tags WHERE id_tag = ?", (tag.parent,)
                )
                if row is None:
                    raise ConflictError(f"unknown parent tag '{tag.parent}'", "parent")
                if row[0] is not None:
                    raise ConflictError(
                        f"tag '{tag.parent}' is itself a child tag; a household has "
                        "one parent tag",
                        "parent",
                    )
                child = await one(
                    conn, "SELECT id_tag FROM rfid_tags WHERE parent = ?", (tag.id_tag,)
                )
                if child is not None:
                    raise ConflictError(
                        f"tag '{tag.id_tag}' is the parent of '{child[0]}'", "parent"
                    )
            if tag.owner_kind is MemberKind.DRIVER and await missing(
                conn, "drivers", "id", tag.owner_id
            ):
                raise ConflictError(f"unknown driver '{tag.owner_id}'", "owner.id")
            await conn.execute(
                "INSERT INTO rfid_tags (id_tag, parent, owner_kind, owner_id, data)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id_tag) DO UPDATE SET"
                " parent = excluded.parent, owner_kind = excluded.owner_kind,"
                " owner_id = excluded.owner_id, data = excluded.data",
                (
                    tag.id_tag,
                    tag.parent,
                    tag.owner_kind.value if tag.owner_kind else None,
                    tag.owner_id,
                    dumps(tag_dict(tag)),
                ),
            )

    async def delete_tag(self, id_tag: str) -> None:
        """Delete a tag.

        Raises:
            NotFoundError: no such tag.
            ConflictError: child tags still name it as their parent.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "rfid_tags", "id_tag", id_tag):
                raise NotFoundError("tag", id_tag)
            children = await conn.execute_fetchall(
                "SELECT id_tag FROM rfid_tags WHERE parent = ? ORDER BY id_tag",
                (id_tag,),
            )
            if children:
                listed = ", ".join(f"'{r[0]}'" for r in children)
                raise ConflictError(f"tag '{id_tag}' is the parent of {listed}")
            await conn.execute("DELETE FROM rfid_tags WHERE id_tag = ?", (id_tag,))

    # Group membership

    async def set_members(self, group_id: str, members: Iterable[GroupMember]) -> None:
        """Replace a group's members.

        Raises:
            ConflictError: a member driver does not exist.
        """
        async with self._db.transaction() as conn:
            await self._check_members(conn, members)
            await conn.execute(
                "DELETE FROM group_members WHERE group_id = ?", (group_id,)
            )
            await conn.executemany(
                "INSERT INTO group_members (group_id, member_kind, member_id)"
                " VALUES (?, ?, ?)",
                [(group_id, m.member_kind.value, m.member_id) for m in members],
            )

    async def add_member(self, member: GroupMember) -> None:
        """Add one member to a group (idempotent)."""
        async with self._db.transaction() as conn:
            await self._check_members(conn, [member])
            await conn.execute(
                "INSERT OR IGNORE INTO group_members (group_id, member_kind, member_id)"
                " VALUES (?, ?, ?)",
                (member.group_id, member.member_kind.value, member.member_id),
            )

    async def remove_member(self, member: GroupMember) -> None:
        """Remove one member from a group.

        Raises:
            NotFoundError: the member is not in the group.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM group_members WHERE group_id = ? AND member_kind = ?"
                " AND member_id = ?",
                (member.group_id, member.member_kind.value, member.member_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(
                    "group member", f"{member.member_kind.value}:{member.member_id}"
                )

    @staticmethod
    async def _check_members(
        conn: aiosqlite.Connection, members: Iterable[GroupMember]
    ) -> None:
        for index, member in enumerate(members):
            if member.member_kind is MemberKind.DRIVER and await missing(
                conn, "drivers", "id", member.member_id
            ):
                raise ConflictError(
                    f"unknown driver '{member.member_id}'", f"members[{index}].id"
                )

    # Access policies and where they apply

    async def save_policy(self, policy: AccessPolicy) -> None:
        """Create or replace an access policy."""
        await self._db.write(
            [json_upsert("access_policies", policy.id, policy_dict(policy))]
        )

    async def delete_policy(self, policy_id: str) -> None:
        """Delete an access policy no charger uses.

        Raises:
            NotFoundError: no such policy.
            ConflictError: chargers still use it.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "access_policies", "id", policy_id):
                raise NotFoundError("access policy", policy_id)
            users = await conn.execute_fetchall(
                "SELECT charger_id FROM charger_access WHERE usable_by = ?"
                " OR visible_to = ? ORDER BY charger_id",
                (policy_id, policy_id),
            )
            if users:
                listed = ", ".join(f"'{r[0]}'" for r in users)
                raise ConflictError(
                    f"access policy '{policy_id}' is applied to chargers {listed}"
                )
            await conn.execute("DELETE FROM access_policies WHERE id = ?", (policy_id,))

    async def set_charger_access(self, access: ChargerAccess) -> None:
        """Apply policies to a charger ("Usable by", "Visible to").

        Raises:
            ConflictError: a named policy does not exist.
        """
        async with self._db.transaction() as conn:
            for name, policy_id in (
                ("usable_by", access.usable_by),
                ("visible_to", access.visible_to),
            ):
                if policy_id is not None and await missing(
                    conn, "access_policies", "id", policy_id
                ):
                    raise ConflictError(f"unknown access policy '{policy_id}'", name)
            await conn.execute(
                "INSERT INTO charger_access (charger_id, usable_by, visible_to)"
                " VALUES (?, ?, ?) ON CONFLICT (charger_id) DO UPDATE SET"
                " usable_by = excluded.usable_by, visible_to = excluded.visible_to",
                (access.charger_id, access.usable_by, access.visible_to),
            )

    # Multifamily links

    async def link(self, link: PrivateLink) -> None:
        """Link the one driver of a private charger.

        Raises:
            ConflictError: another driver is already linked, or the driver is unknown.
        """
        async with self._db.transaction() as conn:
            if await missing(conn, "drivers", "id", link.driver_id):
                raise ConflictError(f"unknown driver '{link.driver_id}'", "driver_id")
            row = await one(
                conn,
                "SELECT driver_id FROM private_links WHERE charger_id = ?",
                (link.charger_id,),
            )
            if row is not None and row[0] != link.driver_id:
                raise ConflictError(
                    f"charger '{link.charger_id}' is already linked to driver "
                    f"'{row[0]}'; a multifamily station has exactly one driver",
                    "driver_id",
                )
            await conn.execute(
                "INSERT OR IGNORE INTO private_links (charger_id, driver_id, linked_at)"
                " VALUES (?, ?, ?)",
                (link.charger_id, link.driver_id, link.linked_at.isoformat()),
            )

    async def unlink(self, charger_id: str) -> None:
        """Remove a charger's driver link.

        Raises:
            NotFoundError: the charger has no link.
        """
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM private_links WHERE charger_id = ?", (charger_id,)
            )
            if cursor.rowcount == 0:
                raise NotFoundError("private link", charger_id)

    # Local lists

    async def local_list(self, charger_id: str) -> tuple[int, dict[str, Any]] | None:
        """The version and entries last sent to a charger, if any."""
        row = await self._db.fetchone(
            "SELECT version, entries FROM local_lists WHERE charger_id = ?",
            (charger_id,),
        )
        return None if row is None else (int(row[0]), json.loads(row[1]))

    async def save_local_list(
        self, charger_id: str, version: int, entries: dict[str, Any], at: datetime
    ) -> None:
        """Record the list a charger accepted."""
        await self._db.write(
            [
                (
                    "INSERT INTO local_lists (charger_id, version, entries, synced_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (charger_id) DO UPDATE SET"
                    " version = excluded.version, entries = excluded.entries,"
                    " synced_at = excluded.synced_at",
                    (charger_id, version, dumps(entries), at.isoformat()),
                )
            ]
        )

    # Authorization log

    async def log_decision(self, row: AuthLogRow) -> None:
        """Append one decision (durable before the charger is answered)."""
        await self._db.write(
            [
                (
                    "INSERT INTO auth_log (at, charger_id, connector_id, id_tag,"
                    " purpose, status, rule, driver_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.at.isoformat(),
                        row.charger_id,
                        row.connector_id,
                        row.id_tag,
                        row.purpose,
                        row.status,
                        row.rule,
                        row.driver_id,
                    ),
                )
            ]
        )

    async def auth_log(
        self,
        *,
        charger_id: str | None = None,
        id_tag: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Decisions, newest first, optionally filtered; ``before_id`` pages back."""
        where = ["1 = 1"]
        params: list[Any] = []
        for column, value in (("charger_id", charger_id), ("id_tag", id_tag)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        rows = await self._db.fetchall(
            f"SELECT * FROM auth_log WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [dict(r) for r in rows]
