"""Pure mapping between site models and the rows of migration 0001.

Each row stores the schema-normalised dict of :mod:`evsite.config.build` as
JSON, so ``model -> row -> model`` is the identity (no I/O here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from evsite.config.build import (
    build_charger,
    build_delay_window,
    build_panel,
    build_site,
    charger_dict,
    delay_window_dict,
    energy_dict,
    panel_dict,
    site_dict,
)
from evsite.config.models import (
    Charger,
    DelayWindow,
    DriverGroup,
    EnergySettings,
    Panel,
    Site,
    SiteConfig,
)
from evsite.errors import StorageError


def to_json(data: dict[str, Any]) -> str:
    """Compact JSON of a normalised dict (key order kept, NaN refused)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def site_params(site: Site) -> tuple[str, str]:
    """``(id, data)`` of the site row."""
    return site.id, to_json(site_dict(site))


def energy_params(energy: EnergySettings) -> tuple[str]:
    """``(data,)`` of the energy settings row."""
    return (to_json(energy_dict(energy)),)


def panel_params(panel: Panel) -> tuple[str, str | None, str]:
    """``(id, parent, data)`` of a panel row."""
    return panel.id, panel.parent, to_json(panel_dict(panel))


def charger_params(charger: Charger) -> tuple[str, str, str]:
    """``(id, parent, data)`` of a charger row."""
    return charger.id, charger.parent, to_json(charger_dict(charger))


def group_params(group: DriverGroup) -> tuple[str, str]:
    """``(id, data)`` of a driver group row."""
    data = {"id": group.id, "name": group.name, "description": group.description}
    return group.id, to_json(data)


def window_params(window: DelayWindow) -> tuple[str, str]:
    """``(id, data)`` of a delay window row."""
    return window.id, to_json(delay_window_dict(window))


def config_from_rows(rows: Iterable[tuple[str, str]]) -> SiteConfig | None:
    """Build the site from ``(kind, data)`` rows, each kind in position order.

    Kinds are ``site``, ``energy``, ``panel``, ``charger``, ``group`` and
    ``window``. Service settings are not stored: the defaults are used.

    Raises:
        StorageError: a row is not valid JSON of the expected shape.
    """
    by_kind: dict[str, list[dict[str, Any]]] = {}
    try:
        for kind, data in rows:
            by_kind.setdefault(kind, []).append(json.loads(data))
        if "site" not in by_kind:
            return None
        energy = by_kind.get("energy")
        return SiteConfig(
            site=build_site(by_kind["site"][0]),
            panels=tuple(build_panel(d) for d in by_kind.get("panel", [])),
            chargers=tuple(build_charger(d) for d in by_kind.get("charger", [])),
            energy=EnergySettings(**energy[0]) if energy else EnergySettings(),
            driver_groups=tuple(DriverGroup(**d) for d in by_kind.get("group", [])),
            delay_windows=tuple(
                build_delay_window(d) for d in by_kind.get("window", [])
            ),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise StorageError(f"stored site data is unreadable: {err!r}") from err
