"""The exported JSON Schema: committed, current, and agreeing with voluptuous."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import voluptuous as vol
import yaml

from evsite.config.jsonschema import render, site_json_schema, to_json_schema
from evsite.config.load import parse_site
from evsite.config.models import ServiceSettings
from evsite.config.validators import amps, nullable, with_json_schema
from evsite.errors import ConfigError

from .conftest import EXAMPLES_DIR, eu_site, us_site
from .test_invalid_sites import CASES, Mutation, both, drop, put

SCHEMA_FILE = EXAMPLES_DIR / "schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the committed schema."""
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_committed_schema_is_up_to_date() -> None:
    # Regenerate with: python -m evsite.config.jsonschema > panel_config/schema.json
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render()


def test_schema_is_valid_draft_2020_12() -> None:
    schema = site_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_describes_every_top_level_section() -> None:
    properties = site_json_schema()["properties"]
    site_data = {"site", "panels", "chargers", "energy", "driver_groups"}
    services = {f.name for f in dataclasses.fields(ServiceSettings)}
    assert set(properties) == site_data | {"delay_windows"} | services
    assert site_json_schema()["required"] == ["site", "panels"]


def test_examples_validate(
    example: Path, validator: jsonschema.Draft202012Validator
) -> None:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize("base", [us_site, eu_site], ids=["us", "eu"])
def test_base_sites_validate(
    base: Callable[[], dict[str, Any]], validator: jsonschema.Draft202012Validator
) -> None:
    assert list(validator.iter_errors(base())) == []


def test_fields_carry_hover_descriptions() -> None:
    schema = site_json_schema()
    limit = schema["$defs"]["charger"]["properties"]["limit_a"]
    assert "breaker" in limit["description"]
    assert "each id unique" in schema["properties"]["panels"]["description"]


def test_defaults_are_exported() -> None:
    charger = site_json_schema()["$defs"]["charger"]["properties"]
    assert charger["scope"]["default"] == "closed"
    assert charger["connectors"]["default"] == 1
    assert charger["overrides"]["default"] == {}
    panel = site_json_schema()["$defs"]["panel"]["properties"]
    assert panel["continuous_factor"]["default"] == 0.8


SCHEMA_MISTAKES: list[tuple[str, Mutation]] = [
    ("unknown scope", put("chargers[1].scope", "privat")),
    ("unknown field", put("chargers[0].colour", "red")),
    ("unknown section", put("chargerz", [])),
    ("missing limit", drop("chargers[0].limit_a")),
    ("missing panels", drop("panels")),
    ("negative breaker", put("panels[1].breaker_a", -100)),
    ("limit below 6 A", put("chargers[0].limit_a", 5)),
    ("boolean limit", put("chargers[0].limit_a", True)),
    ("text limit", put("chargers[0].limit_a", "32A")),
    ("lower-case currency", put("site.currency", "usd")),
    ("space in id", put("chargers[1].id", "A 02")),
    ("hour 25", put("delay_windows[0].start", "25:00")),
    ("two phases", put("site.main_service.phases", 2)),
    ("nine connectors", put("chargers[0].connectors", 9)),
    ("unknown weekday", put("delay_windows[0].days", ["funday"])),
    ("same weekday twice", put("delay_windows[0].days", ["mon", "mon"])),
    ("latitude 95", put("site.location", {"latitude": 95})),
    ("unknown meter kind", put("panels[0].meter", {"kind": "sunspec"})),
    ("unknown org category", put("site.org_category", "Apartment")),
    ("string for a flag", put("site.just_charge_allowed", "yes")),
    ("port out of range", put("web", {"port": 70000})),
    # Rules across fields of one object (allOf/if/then in the schema):
    ("Modbus TCP meter without host", put("panels[0].meter", {"kind": "modbus_tcp"})),
    ("MQTT meter without topic", put("panels[0].meter", {"kind": "mqtt"})),
    ("groups scope without groups", drop("chargers[2].driver_groups")),
    ("groups on a public charger", put("chargers[3].driver_groups", ["staff"])),
    ("private driver on public", put("chargers[3].private_driver", "resident-9")),
    ("Just Charge on public", put("chargers[3].just_charge", True)),
    (
        "3-phase panel with a line",
        both(put("panels[0].phases", 3), put("panels[0].phase_connection", "L1")),
    ),
]


@pytest.mark.parametrize(
    "mutate", [m for _, m in SCHEMA_MISTAKES], ids=[n for n, _ in SCHEMA_MISTAKES]
)
def test_schema_mistakes_fail_both_validators(
    mutate: Mutation, validator: jsonschema.Draft202012Validator
) -> None:
    data = us_site()
    mutate(data)
    assert list(validator.iter_errors(data)), "JSON Schema accepted it"
    with pytest.raises(ConfigError):
        parse_site(data)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_json_schema_is_never_stricter_than_evsite(
    case: Any, validator: jsonschema.Draft202012Validator
) -> None:
    # Every mutation is invalid for evsite; an editor may miss cross-field
    # mistakes, but must never flag a file that evsite accepts.
    data = case.base()
    case.mutate(data)
    if list(validator.iter_errors(data)):
        with pytest.raises(ConfigError):
            parse_site(data)


def test_validator_without_fragment_is_refused() -> None:
    def shoe_size(value: Any) -> Any:
        return value

    with pytest.raises(TypeError, match="shoe_size"):
        to_json_schema(vol.Schema({"size": shoe_size}))


def test_generic_voluptuous_parts_convert() -> None:
    schema = vol.Schema(
        {
            vol.Required("kind"): vol.In(["a", "b"]),
            vol.Optional("code", default="x1"): vol.Match(r"^x\d$"),
            vol.Optional("name"): vol.All(str, vol.Length(min=1, max=4)),
            vol.Optional("ratio"): vol.All(float, vol.Range(min=0, max=1)),
            vol.Optional("flag", default=False): bool,
            vol.Optional("count"): vol.Any(None, int),
            vol.Optional("amps"): nullable(amps(6, 32)),
            vol.Optional("tags", default=list): [str],
        }
    )
    result = to_json_schema(schema)
    checker = jsonschema.Draft202012Validator(result)
    good = {"kind": "a", "name": "abc", "ratio": 0.5, "amps": 16.0, "tags": ["t"]}
    assert list(checker.iter_errors(good)) == []
    for bad in (
        {"kind": "c"},
        {"kind": "a", "code": "y1"},
        {"kind": "a", "name": ""},
        {"kind": "a", "ratio": 2.0},
        {"kind": "a", "flag": 1},
        {"kind": "a", "count": "1"},
        {"kind": "a", "amps": 40},
        {"kind": "a", "tags": [1]},
        {"kind": "a", "other": 1},
        {},
    ):
        assert list(checker.iter_errors(bad)), bad
        with pytest.raises(vol.Invalid):
            schema(bad)


def test_decorated_validator_fragment_is_used() -> None:
    @with_json_schema({"type": "string", "enum": ["fast", "slow"]})
    def speed(value: Any) -> Any:
        return value

    assert to_json_schema(vol.Schema({"speed": speed}))["properties"]["speed"] == {
        "type": "string",
        "enum": ["fast", "slow"],
    }
