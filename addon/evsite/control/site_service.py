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
from evsite.config.build import site_config_dict, site_dict
from evsite.config.load import parse_site
from evsite.config.models import Site, SiteConfig
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
Mutation = Callable[[dict[str, Any]], None]
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

    async def commit(
        self, mutate: Mutation, persist: Persist, focus: str | None = None
    ) -> Written[SiteConfig]:
        """Apply ``mutate`` to the site dict, validate all of it, persist, swap in.

        Args:
            mutate: changes the normalised site dict in place.
            persist: writes the one change to the repository (atomically).
            focus: the site path of the entity written (``chargers[2]``); its
                problems are named relative to it (``limit_a``).

        Returns:
            The new config and its warnings (named like the problems).

        Raises:
            ConfigError: the resulting site is invalid (nothing was written).
            ConflictError: the repository refused the change.
        """
        async with self._lock:
            current = self.config
            data = copy.deepcopy(site_config_dict(current))
            mutate(data)
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
        current = site_dict(self.config.site)
        new = _merge_body(current, body, partial=partial)

        def mutate(data: dict[str, Any]) -> None:
            data["site"] = new

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await repo.save_site(config.site)

        written = await self.commit(mutate, persist, focus="site")
        return Written(written.value.site, written.warnings)

    # Collections: panels, chargers, driver groups, delay windows

    def list(self, coll: Collection[T]) -> tuple[T, ...]:
        """Every entity of the collection, in file order."""
        return coll.items(self.config)

    def get(self, coll: Collection[T], entity_id: str) -> T:
        """One entity.

        Raises:
            NotFoundError: no entity has this id.
        """
        for item in coll.items(self.config):
            if coll.id_of(item) == entity_id:
                return item
        raise NotFoundError(coll.kind, entity_id)

    def _index(self, coll: Collection[Any], entity_id: str) -> int:
        for index, item in enumerate(coll.items(self.config)):
            if coll.id_of(item) == entity_id:
                return index
        raise NotFoundError(coll.kind, entity_id)

    async def create(self, coll: Collection[T], body: dict[str, Any]) -> Written[T]:
        """Add a new entity at the end of its collection.

        Raises:
            ConflictError: an entity with this id already exists.
            ConfigError: the body or the resulting site is invalid.
        """
        entity_id = body.get("id")
        if isinstance(entity_id, str) and any(
            coll.id_of(item) == entity_id for item in coll.items(self.config)
        ):
            raise ConflictError(f"{coll.kind} '{entity_id}' already exists", path="id")
        new = coll.clean_input(body, None)
        index = len(coll.items(self.config))
        return await self._write_entity(coll, index, new, append=True)

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
        index = self._index(coll, entity_id)
        _check_id(body, entity_id)
        current_item = coll.items(self.config)[index]
        current = coll.to_dict(current_item)
        merged = _merge_body(current, coll.clean_input(body, current), partial=partial)
        return await self._write_entity(coll, index, {**merged, "id": entity_id})

    async def _write_entity(
        self, coll: Collection[T], index: int, new: dict[str, Any], append: bool = False
    ) -> Written[T]:
        def mutate(data: dict[str, Any]) -> None:
            if append:
                data[coll.key].append(new)
            else:
                data[coll.key][index] = new

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await coll.upsert(repo, coll.items(config)[index])

        written = await self.commit(mutate, persist, focus=f"{coll.key}[{index}]")
        return Written(coll.items(written.value)[index], written.warnings)

    async def delete(self, coll: Collection[Any], entity_id: str) -> Written[None]:
        """Delete an entity nothing depends on.

        Raises:
            NotFoundError: no entity has this id.
            ConflictError: other entities still depend on it.
        """
        index = self._index(coll, entity_id)
        dependents = coll.dependents(self.config, entity_id)
        if dependents:
            raise ConflictError(
                f"{coll.kind} '{entity_id}' is still used by {dependents}; "
                "move or delete them first"
            )

        def mutate(data: dict[str, Any]) -> None:
            del data[coll.key][index]

        async def persist(repo: SiteRepository, config: SiteConfig) -> None:
            await coll.delete(repo, entity_id)

        written = await self.commit(mutate, persist)
        return Written(None, written.warnings)
