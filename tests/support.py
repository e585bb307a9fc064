"""Helpers shared by test packages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from evsite.adapters.storage.db import Database
from evsite.adapters.storage.site_repo import SiteRepository
from evsite.config.load import parse_site
from evsite.config.models import ServiceSettings
from evsite.context import Services, SiteHolder
from evsite.control.clock import Clock
from evsite.control.events import EventBus
from evsite.control.live import LiveState


async def stored_services(
    tmp_path: Path,
    data: dict[str, Any],
    *,
    clock: Clock,
    token: str,
    settings: ServiceSettings | None = None,
    commit_window_s: float = 0.0,
) -> Services:
    """Services over a real SQLite file holding the site ``data`` describes."""
    loaded = parse_site(data)
    db = await Database.open(tmp_path / "evsite.db", commit_window_s=commit_window_s)
    repo = SiteRepository(db)
    await repo.create(loaded.config)
    stored = await repo.load()
    assert stored is not None
    settings = settings or loaded.config.service
    return Services(
        settings=settings,
        data_dir=tmp_path,
        db=db,
        sites=repo,
        site=SiteHolder(replace(stored, service=settings)),
        bus=EventBus(),
        live=LiveState(),
        clock=clock,
        token=token,
    )
