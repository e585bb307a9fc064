"""The format documentation covers every field the schema accepts."""

from __future__ import annotations

import re
from typing import Any

import pytest

from evsite.config import defaults
from evsite.config.jsonschema import site_json_schema

from .conftest import EXAMPLES_DIR

README = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
DOCS = (EXAMPLES_DIR.parent / "docs" / "configuration.md").read_text(encoding="utf-8")


def _fields(schema: dict[str, Any]) -> set[str]:
    """Every property name anywhere in a JSON Schema."""
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(node.get("properties", {}))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@pytest.mark.parametrize("field", sorted(_fields(site_json_schema())))
def test_every_field_is_documented(field: str) -> None:
    assert f"`{field}`" in README


def test_every_org_category_is_documented() -> None:
    for category in defaults.ORG_CATEGORIES:
        assert f"`{category}`" in README


def test_documented_defaults_match_defaults_module() -> None:
    rows = {
        "continuous_factor": defaults.CONTINUOUS_LOAD_FACTOR,
        "min_current_a": defaults.MIN_CURRENT_A,
        "rotation_minutes": defaults.ROTATION_MINUTES,
        "deadband_a": defaults.DEADBAND_A,
        "ramp_up_step_a": defaults.RAMP_UP_STEP_A,
        "shed_restore_hysteresis_a": defaults.SHED_RESTORE_HYSTERESIS_A,
        "poll_interval_s": defaults.METER_POLL_INTERVAL_S,
        "stale_after_s": defaults.METER_STALE_AFTER_S,
        "heartbeat_interval_s": defaults.HEARTBEAT_INTERVAL_S,
    }
    for field, value in rows.items():
        row = re.search(rf"^\| `{field}` \|[^|]*\| `([^`]*)` \|", README, re.MULTILINE)
        assert row, field
        assert float(row[1]) == value, field


def test_docs_point_to_the_format_and_the_commands() -> None:
    assert "panel_config/README.md" in DOCS
    for command in ("evsite import", "evsite export", "evsite check-config"):
        assert command in DOCS
