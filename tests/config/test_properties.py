"""Properties: valid trees always parse; corrupted files only ever raise ConfigError."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsite.config.build import build_site_config, site_config_dict
from evsite.config.load import parse_site
from evsite.errors import ConfigError

from .conftest import EXAMPLES_DIR, eu_site, us_site

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SERVICE_KEYS = {"web", "ocpp", "api", "mqtt", "cloud", "zeroconf"}
LINES = ["L1", "L2", "L3"]
PAIRS = ["L1-L2", "L2-L3", "L3-L1"]
# On 208Y/120 V a single line gives 120 V: a charger there is wired line-to-line
# (a single line is valid but warned, and these sites must parse without warnings).
LINE_TO_NEUTRAL = {400: 230, 208: 120}
# The examples add meters, scheduled limits, connector lists and overrides.
BASES = [us_site(), eu_site()] + [
    yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted(EXAMPLES_DIR.glob("*.yaml"))
]
SCHEMA = jsonschema.Draft202012Validator(
    json.loads((EXAMPLES_DIR / "schema.json").read_text(encoding="utf-8"))
)


@st.composite
def panel_trees(draw: st.DrawFn, offline: bool = False) -> dict[str, Any]:
    """A random valid site: random parents, breakers, phases and chargers.

    With ``offline`` chargers get random offline allocations that may not fit.
    """
    three_phase = draw(st.booleans())
    if three_phase:
        voltage = draw(st.sampled_from(sorted(LINE_TO_NEUTRAL)))
    else:
        voltage = draw(st.sampled_from([120, 208, 230, 240]))
    root_breaker = draw(st.integers(40, 1000))
    panels: list[dict[str, Any]] = [
        {
            "id": "p0",
            "breaker_a": root_breaker,
            "phases": 3 if three_phase else 1,
            "voltage": voltage,
        }
    ]
    for index in range(1, draw(st.integers(1, 8))):
        parent = panels[draw(st.integers(0, index - 1))]
        panel: dict[str, Any] = {"id": f"p{index}", "parent": parent["id"]}
        panel["breaker_a"] = draw(st.integers(10, int(parent["breaker_a"])))
        panel["phases"] = draw(st.sampled_from([1, 3])) if parent["phases"] == 3 else 1
        if panel["phases"] == 1 and parent["phases"] == 3:
            connection = draw(st.sampled_from(LINES + PAIRS))
            panel["phase_connection"] = connection
            # One line: line-to-neutral; a line pair: line-to-line.
            pair = "-" in connection
            panel["voltage"] = voltage if pair else LINE_TO_NEUTRAL[voltage]
        else:
            panel["voltage"] = parent["voltage"]
        panels.append(panel)
    chargers = [
        _charger(draw, index, draw(st.sampled_from(panels)), offline)
        for index in range(draw(st.integers(0, 12)))
    ]
    order = draw(st.permutations(range(len(panels))))
    return {
        "site": {
            "id": "random-site",
            "name": "Random site",
            "timezone": draw(st.sampled_from(["UTC", "Europe/Oslo", "Asia/Tokyo"])),
            "main_service": {
                "voltage": voltage,
                "phases": 3 if three_phase else 1,
                "main_breaker_a": root_breaker + draw(st.integers(0, 200)),
            },
        },
        "panels": [panels[i] for i in order],  # validation must not need order
        "chargers": chargers,
        "driver_groups": [{"id": "crew", "name": "Crew"}],
    }


def _charger(
    draw: st.DrawFn, index: int, panel: dict[str, Any], offline: bool
) -> dict[str, Any]:
    charger: dict[str, Any] = {
        "id": f"c{index}",
        "parent": panel["id"],
        "limit_a": draw(st.integers(6, min(80, int(panel["breaker_a"])))),
        "connectors": draw(st.integers(1, 2)),
        "scope": draw(st.sampled_from(["closed", "open", "private", "account",
                                       "groups", "public"])),
    }  # fmt: skip
    if charger["scope"] == "groups":
        charger["driver_groups"] = ["crew"]
    if panel["phases"] == 3:
        charger["phases"] = draw(st.sampled_from([1, 3]))
        if charger["phases"] == 1:
            single = LINES if panel["voltage"] > 300 else []
            charger["phase_connection"] = draw(st.sampled_from(single + PAIRS))
    if offline:
        value = draw(st.none() | st.integers(6, int(charger["limit_a"])))
        charger["overrides"] = {"offline_allocation_a": value}
    elif draw(st.booleans()):
        # 0 A offline (stop charging) always fits, whatever the tree.
        charger["overrides"] = {"offline_allocation_a": 0}
    return charger


@SETTINGS
@given(panel_trees())
def test_random_valid_trees_parse_and_round_trip(data: dict[str, Any]) -> None:
    loaded = parse_site(copy.deepcopy(data))
    assert loaded.warnings == []
    assert len(loaded.config.panels) == len(data["panels"])
    exported = site_config_dict(build_site_config(loaded.normalized))
    site_only = {k: v for k, v in loaded.normalized.items() if k not in SERVICE_KEYS}
    assert exported == site_only
    assert list(SCHEMA.iter_errors(data)) == []


def _over_capacity(data: dict[str, Any]) -> set[str]:
    """Panels whose offline sum on some line exceeds breaker x 0.8 (SPEC §2.3)."""
    panels = {p["id"]: p for p in data["panels"]}

    def lines_of(panel_id: str) -> list[str]:
        """A 1-phase panel's line(s): its connection, else its parent's."""
        panel = panels[panel_id]
        if panel.get("phase_connection"):
            return str(panel["phase_connection"]).split("-")
        return lines_of(panel["parent"]) if panel.get("parent") else ["L1"]

    sums: dict[tuple[str, str], float] = defaultdict(float)
    for charger in data["chargers"]:
        value = charger.get("overrides", {}).get("offline_allocation_a")
        if value is None:
            continue
        if charger.get("phases", 1) == 3:
            lines = LINES
        elif charger.get("phase_connection"):
            # A line pair (line-to-line) counts on both of its lines.
            lines = str(charger["phase_connection"]).split("-")
        else:
            lines = lines_of(charger["parent"])
        panel_id = charger["parent"]
        while panel_id:
            for one in lines:
                sums[panel_id, one] += value
            panel_id = panels[panel_id].get("parent")
    return {
        panel_id
        for (panel_id, _), total in sums.items()
        if total > panels[panel_id]["breaker_a"] * 0.8 + 1e-9
    }


@SETTINGS
@given(panel_trees(offline=True))
def test_offline_sums_are_rejected_exactly_when_a_panel_is_over(
    data: dict[str, Any],
) -> None:
    over = _over_capacity(data)
    if not over:
        parse_site(data)
        return
    with pytest.raises(ConfigError) as info:
        parse_site(data)
    index = {p["id"]: i for i, p in enumerate(data["panels"])}
    named = {
        panel_id
        for problem in info.value.problems
        for panel_id in over
        if problem.path == f"panels[{index[panel_id]}]"
        and f"'{panel_id}'" in problem.message
    }
    assert named == over


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict value or list item in ``node``."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        found.append((*prefix, key))
        if isinstance(value, dict | list):
            found += _paths(value, (*prefix, key))
    return found


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.sampled_from(["", "L2", "private", "21:00", "p1", "garage-a", "main", "24:00"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


@st.composite
def corrupted_sites(draw: st.DrawFn) -> dict[str, Any]:
    """A valid site with one field replaced, removed, or one unknown field added."""
    base: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    path = draw(st.sampled_from(_paths(base)))
    node: Any = base
    for key in path[:-1]:
        node = node[key]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "replace":
        node[path[-1]] = draw(JUNK)
    elif action == "remove":
        del node[path[-1]]
    elif isinstance(node, dict):
        node[draw(st.text(min_size=1, max_size=10))] = draw(JUNK)
    else:
        node.append(draw(JUNK))
    return base


@SETTINGS
@given(corrupted_sites())
def test_corrupted_sites_only_raise_config_error(data: dict[str, Any]) -> None:
    rejected_by_editor = bool(list(SCHEMA.iter_errors(data)))
    try:
        loaded = parse_site(data)
    except ConfigError as err:
        problems = err.problems
    else:
        # Accepted: the editor schema must have accepted it too; it round-trips.
        assert not rejected_by_editor
        exported = site_config_dict(loaded.config)
        assert _site_only(parse_site(exported).normalized) == exported
        return
    assert problems
    for problem in problems:
        assert isinstance(problem.path, str)
        assert problem.message
        assert "\n" not in str(problem)


def _site_only(normalized: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in normalized.items() if k not in SERVICE_KEYS}
