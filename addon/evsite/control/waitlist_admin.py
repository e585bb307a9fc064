"""Admin operations and views of waitlists: policies, where they apply, queues."""

from __future__ import annotations

from typing import Any

from evsite.config.access_models import TargetKind, WaitlistAssignment, WaitlistPolicy
from evsite.config.access_schema import build_assignment, build_waitlist_policy
from evsite.control.waitlist_service import WaitlistService
from evsite.errors import ConfigError, ConflictError, NotFoundError, Problem


async def save_policy(
    svc: WaitlistService, data: dict[str, Any], *, create: bool
) -> WaitlistPolicy:
    """Create (``create``) or replace a waitlist policy."""
    policy = build_waitlist_policy(data)
    if create and policy.id in svc.policies:
        raise ConflictError(f"waitlist policy '{policy.id}' already exists", "id")
    if not create and policy.id not in svc.policies:
        raise NotFoundError("waitlist policy", policy.id)
    await svc.repo.save_policy(policy)
    await svc.reload()
    return policy


async def delete_policy(svc: WaitlistService, policy_id: str) -> None:
    """Delete a waitlist policy applied nowhere."""
    await svc.repo.delete_policy(policy_id)
    await svc.reload()


async def assign(svc: WaitlistService, data: dict[str, Any]) -> WaitlistAssignment:
    """Apply a policy to a charger or a station group of the site."""
    item = build_assignment(data)
    chargers = svc.services.site.config.chargers
    if item.target_kind is TargetKind.CHARGER:
        known = any(c.id == item.target_id for c in chargers)
    else:
        known = any(c.station_group == item.target_id for c in chargers)
    if not known:
        raise ConfigError(
            [Problem("target_id", f"no {item.target_kind.value} '{item.target_id}'")]
        )
    await svc.repo.assign(item)
    await svc.reload()
    return item


async def unassign(svc: WaitlistService, target_kind: str, target_id: str) -> None:
    """Remove the policy of a charger or station group."""
    await svc.repo.unassign(target_kind, target_id)
    await svc.reload()


def queue_view(svc: WaitlistService, queue_id: str) -> dict[str, Any]:
    """One queue: policy, drivers in order, and each port's state."""
    policy = svc.policy_of(queue_id)
    drivers = [svc.entry_view(e.driver_id) for e in svc.state.queue(queue_id)]
    ports = []
    for charger in svc.chargers_of(queue_id):
        live = svc.services.live.charger(charger.id)
        for conn in charger.connectors:
            state = live.connectors.get(conn.id)
            hold = next(
                (h for h in svc.state.holds
                 if (h.charger_id, h.connector_id) == (charger.id, conn.id)),
                None,
            )  # fmt: skip
            ports.append(
                {
                    "charger_id": charger.id,
                    "connector_id": conn.id,
                    "status": state.status.value if state else "unknown",
                    "held_for": hold.driver_id if hold else None,
                    "held_until": hold.until.isoformat() if hold else None,
                    "transaction_id": state.transaction_id if state else None,
                }
            )
    return {
        "queue_id": queue_id,
        "policy_id": policy.id if policy else None,
        "max_charging_minutes": policy.max_charging_minutes if policy else None,
        "waiting": sum(1 for d in drivers if d["state"] == "waiting"),
        "drivers": drivers,
        "ports": ports,
    }
