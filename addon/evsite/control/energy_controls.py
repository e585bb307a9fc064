"""Operator and automation controls of energy management (SPEC §2.2-2.4).

Shared by REST, MQTT and Home Assistant through :class:`EnergyController`'s
methods. Each validates, persists, updates the controller and asks for a cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.models import Charger, SiteConfig
from evsite.control.site_service import site_service
from evsite.core.offline import check_override
from evsite.core.shedding import ExternalShed
from evsite.errors import ConfigError, NotFoundError, Problem

if TYPE_CHECKING:
    from evsite.control.energy import EnergyController

_LOGGER = logging.getLogger(__name__)


def _charger(controller: EnergyController, charger_id: str) -> Charger:
    found = controller.services.site.config.charger(charger_id)
    if found is None:
        raise NotFoundError("charger", charger_id)
    return found


def _connector(
    controller: EnergyController, charger_id: str, connector_id: int
) -> Charger:
    charger = _charger(controller, charger_id)
    if all(c.id != connector_id for c in charger.connectors):
        raise NotFoundError("connector", f"{charger_id}/{connector_id}")
    return charger


def _affected(controller: EnergyController, panel_id: str | None) -> list[str]:
    """Chargers with current beneath the shed panel (the root when None)."""
    latest = controller.latest
    tree = controller.state.cache(controller.services.site.config).tree
    under = tree.chargers_under(panel_id or tree.root_id)
    return sorted(
        c.id
        for c in under
        if latest is not None
        and any(latest.limit(c.id, k.id) > 0 for k in c.connectors)
    )


async def set_shed_level(
    controller: EnergyController,
    percent: float | None,
    limit_a: float | None,
    panel_id: str | None,
    limit_kw: float | None = None,
) -> ExternalShed | None:
    """Set the external shed level; percent, limit_a and limit_kw all None clear it.

    ``limit_kw`` caps EV power on the panel; the core turns it into A per
    phase with the panel's voltage and phases (the tightest level wins).

    Raises:
        ConfigError: a value is out of range or the panel is unknown (names the field).
    """
    config = controller.services.site.config
    if panel_id is not None and config.panel(panel_id) is None:
        raise ConfigError([Problem("panel_id", f"unknown panel '{panel_id}'")])
    level: ExternalShed | None = None
    if percent is not None or limit_a is not None or limit_kw is not None:
        try:
            level = ExternalShed(percent, limit_a, panel_id, limit_kw)
        except ValueError as err:
            field, _, message = str(err).partition(": ")
            raise ConfigError([Problem(field, message)]) from err
    now = controller.services.clock.now()
    await controller.shed.set_external(level, now, _affected(controller, panel_id))
    controller.wake()
    return level


async def charge_now(
    controller: EnergyController, charger_id: str, connector_id: int, enabled: bool
) -> None:
    """Charge now for the connector's session (kept until the session ends).

    Raises:
        NotFoundError: no such charger or connector.
    """
    _connector(controller, charger_id, connector_id)
    key = (charger_id, connector_id)
    live = controller.services.live.chargers.get(charger_id)
    conn = live.connectors.get(connector_id) if live is not None else None
    tx = conn.transaction_id if conn is not None else None
    now = controller.services.clock.now()
    if enabled:
        controller.state.charge_now[key] = tx
        await controller.repo.set_charge_now(charger_id, connector_id, tx, now)
    else:
        controller.state.charge_now.pop(key, None)
        await controller.repo.set_charge_now(charger_id, connector_id, None, None)
    if conn is not None:
        conn.charge_now = enabled
    _LOGGER.info("charge now %s for %s/%d", "on" if enabled else "off", *key)
    controller.wake()


async def cancel_delay(
    controller: EnergyController, charger_id: str, enabled: bool
) -> None:
    """Cancel (or restore) delayed charging for a charger.

    Raises:
        NotFoundError: no such charger.
    """
    _charger(controller, charger_id)
    now = controller.services.clock.now()
    if enabled:
        controller.state.delay_cancel.add(charger_id)
    else:
        controller.state.delay_cancel.discard(charger_id)
    await controller.repo.set_delay_cancel(charger_id, now if enabled else None)
    controller.wake()


async def set_connector_limit(
    controller: EnergyController,
    charger_id: str,
    connector_id: int,
    limit_a: float | None,
) -> None:
    """Cap a connector (None removes the cap).

    Raises:
        NotFoundError: no such charger or connector.
        ConfigError: the limit is negative or above the charger's limit.
    """
    charger = _connector(controller, charger_id, connector_id)
    if limit_a is not None and not 0 <= limit_a <= charger.limit_a:
        raise ConfigError(
            [Problem("limit_a", f"{limit_a:g} A is not within 0-{charger.limit_a:g} A")]
        )
    key = (charger_id, connector_id)
    if limit_a is None:
        controller.state.caps.pop(key, None)
    else:
        controller.state.caps[key] = limit_a
    await controller.repo.set_cap(
        charger_id, connector_id, limit_a, controller.services.clock.now()
    )
    controller.wake()


@dataclass(frozen=True, slots=True)
class OfflineAllocation:
    """A charger's offline allocation: configured, in force, and where it comes from."""

    charger_id: str
    offline_allocation_a: float  # station total, what evsite pushes
    override_a: float | None  # the charger's own override
    source: str  # override | site_default | computed
    per_connector_a: float  # the TxDefaultProfile limit on each port
    in_force_a: float | None  # accepted by the charger (None: not known / rejected)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "charger_id": self.charger_id,
            "offline_allocation_a": self.offline_allocation_a,
            "override_a": self.override_a,
            "source": self.source,
            "per_connector_a": self.per_connector_a,
            "in_force_a": self.in_force_a,
        }


def offline_allocation(
    controller: EnergyController, charger_id: str
) -> OfflineAllocation:
    """A charger's offline allocation.

    Raises:
        NotFoundError: no such charger.
    """
    charger = _charger(controller, charger_id)
    config = controller.services.site.config
    cache = controller.state.cache(config)
    override = charger.overrides.offline_allocation_a
    source = "override"
    if override is None:
        source = (
            "site_default"
            if config.energy.offline_allocation_a is not None
            else "computed"
        )
    in_force = controller.dispatcher.defaults_in_force.get(charger_id)
    return OfflineAllocation(
        charger_id, cache.offline[charger_id], override, source,
        cache.per_port_default[charger_id], in_force,
    )  # fmt: skip


async def set_offline_allocation(
    controller: EnergyController, charger_id: str, value: float | None
) -> OfflineAllocation:
    """Set (None: remove) a charger's offline override through the site service.

    The whole site is validated first: Σ offline allocations under every panel
    must fit its capacity (the problem names the panel). The new value is
    pushed as TxDefaultProfile by the next cycle (config change).

    Raises:
        NotFoundError: no such charger.
        ConfigError: the value breaks a rule (names the field or the panel).
    """
    _charger(controller, charger_id)
    services = controller.services
    config = services.site.config
    tree = controller.state.cache(config).tree
    problems = check_override(tree, config.energy, charger_id, value)
    if problems:
        raise ConfigError([_short(p, charger_id) for p in problems])

    def mutate(data: dict[str, object]) -> str:
        chargers = data["chargers"]
        assert isinstance(chargers, list)
        for index, item in enumerate(chargers):
            if item["id"] == charger_id:
                item.setdefault("overrides", {})["offline_allocation_a"] = value
                return f"chargers[{index}]"
        raise NotFoundError("charger", charger_id)

    async def persist(repo: SiteRepository, new: SiteConfig) -> None:
        charger = new.charger(charger_id)
        assert charger is not None
        await repo.upsert_charger(charger)

    await site_service(services).commit(mutate, persist)
    controller.state.config_changed()
    controller.wake()
    return offline_allocation(controller, charger_id)


def _short(problem: Problem, charger_id: str) -> Problem:
    """Name the body field for this charger's own override."""
    prefix = f"chargers.{charger_id}.overrides."
    if problem.path.startswith(prefix):
        return Problem(problem.path[len(prefix) :], problem.message)
    return problem
