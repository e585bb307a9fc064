"""Import a site file into the database and export it back (SPEC §1).

``import → export → import`` gives identical database contents: the database
stores the schema-normalised dicts of :mod:`evsite.config.build`, and the export
writes those same dicts in the site-file format.
"""

from __future__ import annotations

from typing import Any

import yaml

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.build import site_config_dict
from evsite.config.load import LoadedSite
from evsite.errors import ConflictError


async def import_site(db: Database, loaded: LoadedSite) -> None:
    """Write a validated site into an empty database, atomically.

    Args:
        db: the open database.
        loaded: a site from :func:`evsite.config.load.parse_site` or
            :func:`evsite.config.load.load_site_file`.

    Raises:
        ConflictError: the database already holds a site.
        StorageError: the write failed (nothing was written).
    """
    await SiteRepository(db).create(loaded.config)


async def export_site(db: Database) -> str:
    """The stored site as site-file YAML (service settings are not included).

    Args:
        db: the open database.

    Returns:
        YAML text that :func:`evsite.config.load.parse_site` reads back.

    Raises:
        ConflictError: the database holds no site.
        StorageError: the stored data cannot be read.
    """
    config = await SiteRepository(db).load()
    if config is None:
        raise ConflictError("the database holds no site; import a site file first")
    return dump_yaml(site_config_dict(config))


def dump_yaml(data: Any) -> str:
    """YAML text of plain data, keys in insertion order.

    Args:
        data: dicts, lists and scalars (as produced by the build module).

    Returns:
        Block-style YAML; strings that would read back as another type (``'16:00'``,
        ``'on'``, ``'007'``) are quoted by the dumper.
    """
    text: str = yaml.safe_dump(
        data,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=88,
    )
    return text
