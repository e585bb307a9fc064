"""Reads and validated writes of the site model (SPEC §1), for REST, MQTT and the panel.

Every write follows one path: take the site in force as a normalised dict,
apply the change, validate the WHOLE site (schema and cross-checks: unknown
parent, limit above breaker, offline sums...), persist the single change
atomically, and only then swap the new config in. Bad input therefore never
reaches the database, and the running config always equals the stored one.
Writes are serialised by one lock per service context.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.build import site_config_dict
from evsite.config.load import parse_site
from evsite.config.models import EnergySettings, Site, SiteConfig
from evsite.context import Services
from evsite.control.site_collections import (
    CHARGERS,
    DELAY_WINDOWS,
    DRIVER_GROUPS,
    PANELS,
    Collection,
    HasId,
)
from evsite.errors import ConfigError, ConflictError, NotFoundError, Problem

__all__ = [
    "CHARGERS",
    "DELAY_WINDOWS",
    "DRIVER_GROUPS",
    "PANELS",
    "Collection",
    "SiteService",
    "Written",
    "site_service",
]

T = TypeVar("T", bound=HasId)
V = TypeVar("V")
Mutation = Callable[[dict[str, Any]], str | None]
Persist = Callable[[SiteRepository, SiteConfig], Awaitable[None]]
_COMPONENT = "site_service"


@dataclass(frozen=True, slots=True)
class Written(Generic[V]):
    """The result of a write: the stored value and the warnings of the new site."""

    value: V
    warnings: list[Problem]


def site_service(services: Services) -> SiteService:
    """The one SiteService of ``services`` (created on first use, so one lock)."""
    found = services.components.get(_COMPONENT)
    if isinstance(found, SiteService):
        return found
    service = SiteService(services)
    services.components[_COMPONENT] = service
    return service


def _focus(problems: list[Problem], prefix: str | None) -> list[Problem]:
    """Name problems of the entity being written by its field (``limit_a``)."""
    if prefix is None:
        return problems
    result = []
    for problem in problems:
        path = problem.path
        if path == prefix:
            path = ""
        elif path.startswith(prefix + "."):
            path = path[len(prefix) + 1 :]
        elif path.startswith(prefix + "["):
            path = path[len(prefix) :]
        result.append(Problem(path, problem.message))
    return result


def _merge_body(
    current: dict[str, Any], body: dict[str, Any], *, partial: bool
) -> dict[str, Any]:
    """PUT replaces the entity; PATCH replaces only the top-level fields given."""
    return {**current, **body} if partial else dict(body)


def _index_in(
    items: list[dict[str, Any]], coll: Collection[Any], entity_id: str
) -> int:
    for index, item in enumerate(items):
        if item["id"] == entity_id:
            return index
    raise NotFoundError(coll.kind, entity_id)


def _check_id(body: dict[str, Any], entity_id: str) -> None:
    """The id in the path wins; a different id in the body is an error."""
    if "id" in body and body["id"] != entity_id:
        raise ConfigError(
            [
                Problem(
                    "id",
                    f"{body['id']!r} does not match the id in the path "
                    f"({entity_id!r}); an id cannot be changed",
                )
            ]
        )


class SiteService:
    """The site, its panels and chargers (and groups, delay windows): read and write."""

    def __init__(self, services: Services) -> None:
        """Work on ``services.site`` and persist through ``services.sites``."""
        self._services = services
        self._lock = asyncio.Lock()

    @property
    def config(self) -> SiteConfig:
        """The site configuration in force."""
        return self._services.site.config

    # The generic write path

    async def commit(self, mutate: Mutation, persist: Persist) -> Written[SiteConfig]:
        """Apply ``mutate`` to the site dict, validate all of it, persist, swap in.

        Args:
            mutate: changes the normalised site dict in place (it runs under the
                write lock, so it sees the latest site); returns the site path
                of the entity written (``chargers[2]``) so its problems are
                named relative to it (``limit_a``), or ``None``.
            persist: writes the one change to the repository (atomically).

        Returns:
            The new config and its warnings (named like the problems).

        Raises:
            ConfigError: the resulting site is invalid (nothing was written).
            ConflictError, NotFoundError: raised by ``mutate`` or the repository.
        """
        async with self._lock:
            current = self.config
            data = copy.deepcopy(site_config_dict(current))
            focus = mutate(data)
            try:
                loaded = parse_site(data)
            except ConfigError as err:
                raise ConfigError(_focus(err.problems, focus)) from err
            # Service settings are not part of the stored site: keep those in force.
            config = dataclasses.replace(loaded.config, service=current.service)
            await persist(self._services.sites, config)
            services = self._services
            services.site.replace(config, services.bus, services.clock)
            return Written(config, _focus(loaded.warnings, focus))

    # The site itself

    def site(self) -> Site:
        """The site."""
        return self.config.site

    async def update_site(
        self, body: dict[str, Any], *, partial: bool
    ) -> Written[Site]:
        """Replace (PUT) or merge into (PATCH) the site's own fields."""

        def mutate(data: dict[str, Any]) -> str:
            data["site"] = _merge_body(data["site"], body, partial=partial)
            return "site"

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await repo.save_site(config.site)

        written = await self.commit(mutate, persist)
        return Written(written.value.site, written.warnings)

    # Site-wide energy settings

    def energy(self) -> EnergySettings:
        """The energy-management settings."""
        return self.config.energy

    async def update_energy(
        self, body: dict[str, Any], *, partial: bool
    ) -> Written[EnergySettings]:
        """Replace (PUT) or merge into (PATCH) the energy settings."""

        def mutate(data: dict[str, Any]) -> str:
            data["energy"] = _merge_body(data["energy"], body, partial=partial)
            return "energy"

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await repo.save_energy(config.energy)

        written = await self.commit(mutate, persist)
        return Written(written.value.energy, written.warnings)

    # Collections: panels, chargers, driver groups, delay windows

    def list(self, coll: Collection[T]) -> tuple[T, ...]:
        """Every entity of the collection, in file order."""
        return coll.items(self.config)

    def get(self, coll: Collection[T], entity_id: str) -> T:
        """One entity.

        Raises:
            NotFoundError: no entity has this id.
        """
        found = coll.find(self.config, entity_id)
        if found is None:
            raise NotFoundError(coll.kind, entity_id)
        return found

    async def create(self, coll: Collection[T], body: dict[str, Any]) -> Written[T]:
        """Add a new entity at the end of its collection.

        Raises:
            ConflictError: an entity with this id already exists.
            ConfigError: the body or the resulting site is invalid.
        """
        new = coll.clean_input(body, None)
        entity_id = new.get("id")

        def mutate(data: dict[str, Any]) -> str:
            items: list[dict[str, Any]] = data[coll.key]
            if any(item["id"] == entity_id for item in items):
                raise ConflictError(
                    f"{coll.kind} '{entity_id}' already exists", path="id"
                )
            items.append(new)
            return f"{coll.key}[{len(items) - 1}]"

        return await self._write_entity(coll, mutate, entity_id)

    async def update(
        self,
        coll: Collection[T],
        entity_id: str,
        body: dict[str, Any],
        *,
        partial: bool,
    ) -> Written[T]:
        """Replace (PUT) or merge into (PATCH) an entity; its id cannot change.

        Raises:
            NotFoundError: no entity has this id.
            ConfigError: the body or the resulting site is invalid.
        """
        self.get(coll, entity_id)  # 404 before complaining about the body
        _check_id(body, entity_id)

        def mutate(data: dict[str, Any]) -> str:
            items: list[dict[str, Any]] = data[coll.key]
            index = _index_in(items, coll, entity_id)
            current = items[index]
            new = _merge_body(current, coll.clean_input(body, current), partial=partial)
            items[index] = {**new, "id": entity_id}
            return f"{coll.key}[{index}]"

        return await self._write_entity(coll, mutate, entity_id)

    async def _write_entity(
        self, coll: Collection[T], mutate: Mutation, entity_id: Any
    ) -> Written[T]:
        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await coll.upsert(repo, self._find(coll, config, entity_id))

        written = await self.commit(mutate, persist)
        return Written(self._find(coll, written.value, entity_id), written.warnings)

    @staticmethod
    def _find(coll: Collection[T], config: SiteConfig, entity_id: Any) -> T:
        found = coll.find(config, entity_id)
        if found is None:  # mutate put it there and validation kept the id
            raise NotFoundError(coll.kind, str(entity_id))
        return found

    async def delete(self, coll: Collection[Any], entity_id: str) -> Written[None]:
        """Delete an entity nothing depends on.

        Raises:
            NotFoundError: no entity has this id.
            ConflictError: other entities still depend on it.
        """

        def mutate(data: dict[str, Any]) -> None:
            index = _index_in(data[coll.key], coll, entity_id)
            dependents = coll.dependents(self.config, entity_id)
            if dependents:
                raise ConflictError(
                    f"{coll.kind} '{entity_id}' is still used by {dependents}; "
                    "move or delete them first"
                )
            del data[coll.key][index]

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await coll.delete(repo, entity_id)

        written = await self.commit(mutate, persist)
        return Written(None, written.warnings)
