"""1-phase loads wired line-to-line (208 V on 208Y/120 V): accepted, and meant."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from evsite.config.build import site_config_dict
from evsite.config.load import parse_site
from evsite.config.models import LinePair, Phase, parse_phase_connection
from evsite.core.tree import PanelTree
from evsite.errors import ConfigError

from .conftest import EXAMPLES_DIR, eu_site, na_site

L1, L2, L3 = Phase.L1, Phase.L2, Phase.L3


def test_line_pairs_parse_to_both_lines() -> None:
    config = parse_site(na_site()).config
    tree = PanelTree.from_config(config)
    lines = {c.id: tree.charger_phases(c) for c in config.chargers}
    assert lines == {
        "L-1": (L1, L2),
        "L-2": (L2, L3),
        "L-3": (L3, L1),
        "W-1": (L2, L3),  # no connection of its own: across its panel's pair
        "W-2": (L2, L3),
    }
    assert tree.panel_phases("wall") == (L2, L3)
    assert config.chargers[0].phase_connection is LinePair.L1_L2


def test_single_lines_keep_their_meaning() -> None:
    config = parse_site(eu_site()).config
    tree = PanelTree.from_config(config)
    lines = {c.id: tree.charger_phases(c) for c in config.chargers}
    assert lines == {"E-1": (L1, L2, L3), "E-2": (L1,), "W-1": (L2,)}
    assert config.chargers[1].phase_connection is Phase.L1


def test_line_pairs_round_trip_through_export() -> None:
    config = parse_site(na_site()).config
    exported = site_config_dict(config)
    assert exported["chargers"][0]["phase_connection"] == "L1-L2"
    assert exported["panels"][2]["phase_connection"] == "L2-L3"
    assert parse_site(exported).config == config


@pytest.mark.parametrize(
    ("text", "lines"),
    [("L2", (L2,)), ("L1-L2", (L1, L2)), ("L2-L3", (L2, L3)), ("L3-L1", (L3, L1))],
)
def test_parse_phase_connection(text: str, lines: tuple[Phase, ...]) -> None:
    assert parse_phase_connection(text).lines == lines


def test_a_120_v_charger_on_one_line_of_a_208_v_panel_counts_there_only() -> None:
    data = na_site()
    data["chargers"][4]["phase_connection"] = "L3"
    loaded = parse_site(data)
    tree = PanelTree.from_config(loaded.config)
    assert tree.charger_phases(loaded.config.chargers[4]) == (L3,)
    loads = tree.load_per_phase({"W-2": 12.0})
    assert loads["wall"] == {L2: 0.0, L3: 12.0}
    assert loads["main"] == {L1: 0.0, L2: 0.0, L3: 12.0}


def test_a_line_to_line_charger_counts_on_both_lines_of_every_ancestor() -> None:
    tree = PanelTree.from_config(parse_site(na_site()).config)
    loads = tree.load_per_phase({"L-1": 32.0, "W-1": 40.0})
    assert loads["wall"] == {L2: 40.0, L3: 40.0}
    for panel in ("ev", "main"):
        assert loads[panel] == {L1: 32.0, L2: 72.0, L3: 40.0}


def _warnings(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(w.path, w.message) for w in parse_site(data).warnings]


def test_a_208_v_panel_on_one_line_is_valid_but_warned() -> None:
    data = na_site()
    data["panels"][2]["phase_connection"] = "L2"  # as written before line pairs
    data["chargers"][4]["phase_connection"] = "L2"
    warnings = _warnings(data)
    assert [path for path, _ in warnings] == ["panels[2].phase_connection"]
    assert "L2-L3" in warnings[0][1]


def test_a_charger_on_one_120_v_line_is_valid_but_warned() -> None:
    data = na_site()
    data["chargers"][0]["phase_connection"] = "L1"
    warnings = _warnings(data)
    assert [path for path, _ in warnings] == ["chargers[0].phase_connection"]
    assert "120 V" in warnings[0][1]
    assert "L1-L2" in warnings[0][1]


def test_a_230_v_line_on_a_400_v_board_is_not_warned() -> None:
    assert _warnings(eu_site()) == []


def test_offline_allocations_count_on_both_lines() -> None:
    data = na_site()
    data["panels"][2]["breaker_a"] = 50  # 40 A continuous per line
    data["chargers"][3]["overrides"] = {"offline_allocation_a": 24}
    data["chargers"][4]["overrides"] = {"offline_allocation_a": 16}
    parse_site(data)  # 24 + 16 = 40 A on L2 and on L3: fits
    data["chargers"][4]["overrides"] = {"offline_allocation_a": 16.5}
    with pytest.raises(ConfigError, match="on L2") as info:
        parse_site(data)
    assert "panels[2]" in str(info.value)


def test_the_documented_208y120_example_loads_as_described() -> None:
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Line-to-line loads", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = parse_site(yaml.safe_load(block))
    assert loaded.warnings == []
    tree = PanelTree.from_config(loaded.config)
    limits = {c.id: c.limit_a for c in loaded.config.chargers if c.parent == "ev"}
    # "With three chargers at 32 A, one per pair, each line of ev carries 64 A."
    assert tree.load_per_phase(limits)["ev"] == {L1: 64.0, L2: 64.0, L3: 64.0}
    wall = next(c for c in loaded.config.chargers if c.id == "W-1")
    assert tree.charger_phases(wall) == (L2, L3)
