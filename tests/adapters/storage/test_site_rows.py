from __future__ import annotations

import dataclasses
import json

import pytest

from evsite.adapters.storage.site_rows import (
    charger_params,
    config_from_rows,
    energy_params,
    group_params,
    panel_params,
    site_params,
    to_json,
    window_params,
)
from evsite.config.load import LoadedSite
from evsite.config.models import ServiceSettings, SiteConfig
from evsite.errors import StorageError


def _rows(config: SiteConfig) -> list[tuple[str, str]]:
    return [
        ("site", site_params(config.site)[1]),
        ("energy", energy_params(config.energy)[0]),
        *(("panel", panel_params(p)[2]) for p in config.panels),
        *(("charger", charger_params(c)[2]) for c in config.chargers),
        *(("group", group_params(g)[1]) for g in config.driver_groups),
        *(("window", window_params(w)[1]) for w in config.delay_windows),
    ]


def test_model_to_rows_and_back_is_the_identity(rich: LoadedSite) -> None:
    config = rich.config
    assert config_from_rows(_rows(config)) == dataclasses.replace(
        config, service=ServiceSettings()
    )


def test_row_columns_match_the_json(rich: LoadedSite) -> None:
    for panel in rich.config.panels:
        pid, parent, data = panel_params(panel)
        assert json.loads(data)["id"] == pid
        assert json.loads(data)["parent"] == parent
    assert site_params(rich.config.site)[0] == "garage-1"


def test_no_site_row_means_no_site(rich: LoadedSite) -> None:
    assert config_from_rows(_rows(rich.config)[1:]) is None
    assert config_from_rows([]) is None


@pytest.mark.parametrize(
    "bad", ['{"id": "main"}', "not json", '{"id": "x", "unexpected": 1}']
)
def test_unreadable_rows_are_storage_errors(rich: LoadedSite, bad: str) -> None:
    rows = _rows(rich.config)
    kind = "panel" if bad != '{"id": "x", "unexpected": 1}' else "group"
    with pytest.raises(StorageError, match="stored site data is unreadable"):
        config_from_rows([*rows, (kind, bad)])


def test_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        to_json({"x": float("nan")})
