from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.build import site_config_dict
from evsite.config.load import LoadedSite, load_site_file, parse_site, read_yaml
from evsite.config.transfer import dump_yaml, export_site, import_site
from evsite.errors import ConflictError

EXAMPLES = Path(__file__).resolve().parents[3] / "panel_config"
# Every example file is picked up as it appears, next to sites built in code.
SOURCES = ["builtin:rich", "builtin:small"] + [
    f"file:{p.name}" for p in sorted(EXAMPLES.glob("*.yaml"))
]

Contents = Callable[[Database], Any]


def _load(source: str, builtin: dict[str, Callable[[], dict[str, Any]]]) -> LoadedSite:
    kind, name = source.split(":", 1)
    if kind == "builtin":
        return parse_site(builtin[name]())
    return load_site_file(EXAMPLES / name)


@pytest.mark.parametrize("source", SOURCES)
async def test_import_export_import_gives_identical_contents(
    tmp_path: Path,
    source: str,
    builtin_sites: dict[str, Callable[[], dict[str, Any]]],
    contents: Contents,
) -> None:
    loaded = _load(source, builtin_sites)
    first = await Database.open(tmp_path / "one" / "evsite.db")
    second = await Database.open(tmp_path / "two" / "evsite.db")
    try:
        await import_site(first, loaded)
        text = await export_site(first)
        reparsed = parse_site(read_yaml(text, "export"))
        await import_site(second, reparsed)
        assert await contents(second) == await contents(first)
        assert await export_site(second) == text  # deterministic
        assert site_config_dict(reparsed.config) == site_config_dict(loaded.config)
        stored = await SiteRepository(second).load()
        assert stored is not None
        assert site_config_dict(stored) == site_config_dict(loaded.config)
        # Order of the file is kept (no sorting by id anywhere).
        assert [p["id"] for p in yaml.safe_load(text)["panels"]] == [
            p.id for p in loaded.config.panels
        ]
    finally:
        await first.close()
        await second.close()


async def test_export_quotes_values_yaml_would_misread(
    db: Database, rich: LoadedSite
) -> None:
    await import_site(db, rich)
    text = await export_site(db)
    for literal in ("'on'", "'12:30'", "'007'", "'yes'", "'null'", "'24:00'"):
        assert literal in text
    assert "Garage Süd" in text  # unicode kept readable
    assert "web:" not in text  # service settings are not site data
    data = yaml.safe_load(text)
    assert list(data) == [
        "site",
        "panels",
        "chargers",
        "energy",
        "driver_groups",
        "delay_windows",
    ]


async def test_import_refuses_a_database_that_holds_a_site(
    db: Database, rich: LoadedSite, small: LoadedSite, contents: Contents
) -> None:
    await import_site(db, rich)
    before = await contents(db)
    with pytest.raises(
        ConflictError,
        match="database already holds site 'garage-1'; export it or use a fresh data",
    ):
        await import_site(db, small)
    assert await contents(db) == before


async def test_export_of_an_empty_database_is_a_conflict(db: Database) -> None:
    with pytest.raises(ConflictError, match="holds no site"):
        await export_site(db)


def test_dump_yaml_keeps_key_order_and_round_trips() -> None:
    data = {"zeta": 1, "alpha": ["16:00", "on", None, 1.5], "mid": {"b": True, "a": ""}}
    text = dump_yaml(data)
    assert text.index("zeta") < text.index("alpha") < text.index("mid")
    assert yaml.safe_load(text) == data
