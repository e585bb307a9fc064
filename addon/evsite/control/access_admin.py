"""Admin operations on access data: each checks references, writes, reloads.

Input arrives normalised by :mod:`evsite.config.access_schema`; what the
schema cannot know (driver groups and chargers of the site in force) is
checked here, and every refusal names the field. Nothing is written when a
check fails.
"""

from __future__ import annotations

from typing import Any

from evsite.config.access_models import (
    EVERYONE,
    AccessPolicy,
    ChargerAccess,
    Driver,
    GroupMember,
    MemberKind,
    PrivateLink,
    RfidTag,
)
from evsite.config.access_schema import build_driver, build_policy, build_tag
from evsite.config.models import Scope
from evsite.control.access_service import AccessService
from evsite.errors import ConfigError, ConflictError, NotFoundError, Problem


def _exists(found: bool, create: bool, kind: str, entity_id: str) -> None:
    """POST refuses an existing id; PUT needs one."""
    if create and found:
        raise ConflictError(f"{kind} '{entity_id}' already exists", "id")
    if not create and not found:
        raise NotFoundError(kind, entity_id)


async def save_driver(
    svc: AccessService, data: dict[str, Any], *, create: bool
) -> Driver:
    """Create (``create``) or replace a driver."""
    driver = build_driver(data)
    _exists(driver.id in svc.data.drivers, create, "driver", driver.id)
    await svc.repo.save_driver(driver)
    await svc.reload()
    return driver


async def delete_driver(svc: AccessService, driver_id: str) -> None:
    """Delete a driver who owns no tags and has no private charger."""
    await svc.repo.delete_driver(driver_id)
    await svc.reload()


async def save_tag(
    svc: AccessService, data: dict[str, Any], *, create: bool
) -> RfidTag:
    """Create (``create``) or replace an RFID tag."""
    tag = build_tag(data)
    if tag.parent == tag.id_tag:
        raise ConfigError([Problem("parent", "a tag cannot be its own parent")])
    _exists(tag.id_tag in svc.data.tags, create, "tag", tag.id_tag)
    await svc.repo.save_tag(tag)
    await svc.reload()
    return tag


async def delete_tag(svc: AccessService, id_tag: str) -> None:
    """Delete a tag that is no household's parent."""
    await svc.repo.delete_tag(id_tag)
    await svc.reload()


def _require_group(svc: AccessService, group_id: str) -> None:
    if all(g.id != group_id for g in svc.services.site.config.driver_groups):
        raise NotFoundError("driver group", group_id)


def members(svc: AccessService, group_id: str) -> list[GroupMember]:
    """A group's members."""
    _require_group(svc, group_id)
    return [m for m in svc.data.members if m.group_id == group_id]


async def set_members(
    svc: AccessService, group_id: str, data: dict[str, Any]
) -> list[GroupMember]:
    """Replace a group's members with ``data["members"]``."""
    _require_group(svc, group_id)
    found = [
        GroupMember(group_id, MemberKind(m["kind"]), m["id"]) for m in data["members"]
    ]
    await svc.repo.set_members(group_id, found)
    await svc.reload()
    return found


async def add_member(
    svc: AccessService, group_id: str, data: dict[str, Any]
) -> GroupMember:
    """Add one member (``{kind, id}``) to a group."""
    _require_group(svc, group_id)
    member = GroupMember(group_id, MemberKind(data["kind"]), data["id"])
    await svc.repo.add_member(member)
    await svc.reload()
    return member


async def remove_member(
    svc: AccessService, group_id: str, kind: str, member_id: str
) -> None:
    """Remove one member from a group."""
    _require_group(svc, group_id)
    try:
        member_kind = MemberKind(kind)
    except ValueError as err:
        raise NotFoundError("group member", f"{kind}:{member_id}") from err
    await svc.repo.remove_member(GroupMember(group_id, member_kind, member_id))
    await svc.reload()


async def save_policy(
    svc: AccessService, data: dict[str, Any], *, create: bool
) -> AccessPolicy:
    """Create (``create``) or replace an access policy; its groups must exist."""
    policy = build_policy(data)
    known = {g.id for g in svc.services.site.config.driver_groups}
    problems = [
        Problem(f"rules[{i}].group", f"unknown driver group '{r.group}'")
        for i, r in enumerate(policy.rules)
        if r.group != EVERYONE and r.group not in known
    ]
    if problems:
        raise ConfigError(problems)
    _exists(policy.id in svc.data.policies, create, "access policy", policy.id)
    await svc.repo.save_policy(policy)
    await svc.reload()
    return policy


async def delete_policy(svc: AccessService, policy_id: str) -> None:
    """Delete an access policy no charger uses."""
    await svc.repo.delete_policy(policy_id)
    await svc.reload()


async def set_charger_access(
    svc: AccessService, charger_id: str, data: dict[str, Any]
) -> ChargerAccess:
    """Apply "Usable by" and "Visible to" policies to a charger."""
    svc.require_charger(charger_id)
    access = ChargerAccess(charger_id, data["usable_by"], data["visible_to"])
    await svc.repo.set_charger_access(access)
    await svc.reload()
    return access


async def link(
    svc: AccessService, charger_id: str, data: dict[str, Any]
) -> PrivateLink:
    """Link the one driver of a private (multifamily) charger.

    Raises:
        NotFoundError: no such charger.
        ConflictError: the charger is not private, or another driver is linked.
    """
    configured = svc.services.site.config.charger(charger_id)
    if configured is None:
        raise NotFoundError("charger", charger_id)
    if configured.scope is not Scope.PRIVATE:
        raise ConflictError(
            f"charger '{charger_id}' has scope '{configured.scope.value}'; only "
            "private chargers are linked to a driver",
            "scope",
        )
    driver_id = data["driver_id"]
    if configured.private_driver not in (None, driver_id):
        raise ConflictError(
            f"charger '{charger_id}' is assigned to driver "
            f"'{configured.private_driver}'; a multifamily station has exactly one "
            "driver",
            "driver_id",
        )
    created = PrivateLink(charger_id, driver_id, svc.services.clock.now())
    await svc.repo.link(created)
    await svc.reload()
    return svc.data.links[charger_id]


async def unlink(svc: AccessService, charger_id: str) -> None:
    """Remove a charger's driver link."""
    await svc.repo.unlink(charger_id)
    await svc.reload()
