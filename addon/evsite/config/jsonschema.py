"""JSON Schema (draft 2020-12) of the site file, derived from the voluptuous schemas.

Editors (VS Code's YAML extension, JetBrains) use it for completion and inline
errors. It is generated, never written by hand, so it cannot drift from
:mod:`evsite.config.schema`; cross-checks (tree, offline sums, scopes) are only
in ``evsite check-config``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

import voluptuous as vol

from evsite.config import schema
from evsite.config.jsonschema_docs import DESCRIPTIONS
from evsite.config.validators import JSON_SCHEMA_ATTR

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://evsite.local/schema/site-file.json"

# Named parts become ``$defs`` so the output stays readable and each part is
# described once; keyed by identity because schemas are not hashable by value.
_DEFS: tuple[tuple[str, Any], ...] = (
    ("site", schema.SITE),
    ("panel", schema.PANEL),
    ("meter", schema.METER),
    ("register", schema.REGISTER),
    ("location", schema.LOCATION),
    ("charger", schema.CHARGER),
    ("connector", schema.CONNECTOR),
    ("driver_group", schema.DRIVER_GROUP),
    ("delay_window", schema.DELAY_WINDOW),
    ("energy", schema.ENERGY),
    ("web", schema.WEB),
    ("ocpp", schema.OCPP),
    ("api", schema.API),
    ("mqtt", schema.MQTT),
    ("cloud", schema.CLOUD),
)


class _Walker:
    """Converts voluptuous schema parts to JSON Schema, collecting ``$defs``."""

    def __init__(self, named: Mapping[int, str]) -> None:
        self.named = named
        self.defs: dict[str, dict[str, Any]] = {}

    def __call__(self, node: Any) -> dict[str, Any]:
        """The JSON Schema of one schema part (a ``$ref`` for named parts)."""
        name = self.named.get(id(node))
        if name is None:
            return self.convert(node)
        if name not in self.defs:
            self.defs[name] = {}  # Placeholder first: guards against recursion.
            self.defs[name] = self.convert(node)
        return {"$ref": f"#/$defs/{name}"}

    def convert(self, node: Any) -> dict[str, Any]:
        """Convert without looking up names."""
        for kind, convert in self._converters():
            if isinstance(node, kind):
                return convert(node)
        fragment = getattr(node, JSON_SCHEMA_ATTR, None)
        if isinstance(fragment, dict):
            return dict(fragment)
        if callable(fragment):
            result: dict[str, Any] = fragment(self)
            return result
        return self._scalar(node)

    def _converters(self) -> tuple[tuple[type, Callable[[Any], dict[str, Any]]], ...]:
        return (
            (vol.Schema, lambda s: self(s.schema)),
            (dict, self._mapping),
            (list, self._sequence),
            (vol.Any, lambda a: {"anyOf": [self(v) for v in a.validators]}),
            (vol.All, self._all),
            (vol.In, lambda i: {"enum": list(i.container)}),
            (vol.Match, self._match),
            (vol.Length, self._length),
            (vol.Range, self._range),
        )

    def _mapping(self, node: Mapping[Any, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key, value in node.items():
            name = str(key.schema if isinstance(key, vol.Marker) else key)
            prop = self(value)
            if isinstance(key, vol.Required):
                required.append(name)
            elif isinstance(key, vol.Optional) and callable(key.default):
                # voluptuous wraps every default in a factory (UNDEFINED is not one).
                prop = {**prop, "default": key.default()}
            properties[name] = prop
        result: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if required:
            result["required"] = required
        return result

    def _sequence(self, node: list[Any]) -> dict[str, Any]:
        if len(node) != 1:
            raise TypeError(f"cannot export a list schema of {len(node)} items")
        return {"type": "array", "items": self(node[0])}

    def _all(self, node: vol.All) -> dict[str, Any]:
        # Normalising steps (defaults filled in) export as {}: they accept anything.
        parts = [part for part in map(self, node.validators) if part]
        return parts[0] if len(parts) == 1 else {"allOf": parts}

    @staticmethod
    def _match(node: vol.Match) -> dict[str, Any]:
        regex = node.pattern
        text = regex.pattern if isinstance(regex, re.Pattern) else str(regex)
        return {"type": "string", "pattern": text}

    @staticmethod
    def _length(node: vol.Length) -> dict[str, Any]:
        # Length checks strings and lists alike; JSON Schema splits the two.
        result: dict[str, Any] = {}
        if node.min is not None:
            result |= {"minLength": node.min, "minItems": node.min}
        if node.max is not None:
            result |= {"maxLength": node.max, "maxItems": node.max}
        return result

    @staticmethod
    def _range(node: vol.Range) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if node.min is not None:
            result["minimum" if node.min_included else "exclusiveMinimum"] = node.min
        if node.max is not None:
            result["maximum" if node.max_included else "exclusiveMaximum"] = node.max
        return result

    @staticmethod
    def _scalar(node: Any) -> dict[str, Any]:
        if node is None:
            return {"type": "null"}
        types = {bool: "boolean", int: "integer", float: "number", str: "string"}
        if isinstance(node, type) and node in types:
            return {"type": types[node]}
        if isinstance(node, str | int | float | bool):
            return {"const": node}
        raise TypeError(
            f"validator {getattr(node, '__qualname__', node)!r} has no JSON Schema; "
            "decorate it with evsite.config.validators.with_json_schema"
        )


def to_json_schema(node: Any, named: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Convert one voluptuous schema (a panel, a charger...) to JSON Schema.

    Args:
        node: a ``vol.Schema``, dict, list or validator from the config schemas.
        named: parts to emit as ``$defs`` entries, by name.

    Returns:
        A JSON Schema document (with ``$defs`` when ``named`` is given).

    Raises:
        TypeError: a validator carries no JSON Schema fragment.
    """
    walker = _Walker({id(part): name for name, part in (named or {}).items()})
    result = {"$schema": DRAFT, **walker.convert(node)}
    if walker.defs:
        result["$defs"] = dict(sorted(walker.defs.items()))
    return result


def site_json_schema() -> dict[str, Any]:
    """The JSON Schema of a whole site file (``panel_config/*.yaml``).

    Returns:
        A draft 2020-12 JSON Schema document, ready for ``json.dumps``.
    """
    result = to_json_schema(schema.SITE_FILE, dict(_DEFS))
    _describe(result)
    for name, rules in _conditions().items():
        result["$defs"][name]["allOf"] = rules
    return {
        "$schema": result.pop("$schema"),
        "$id": SCHEMA_ID,
        "title": "evsite site file",
        "description": (
            "A site, its panel tree, chargers, access and energy settings, and "
            "optional service settings. See panel_config/README.md. Checks "
            "across fields (one root panel, offline allocations within every "
            "panel) run in `evsite check-config`."
        ),
        **result,
    }


def _describe(document: dict[str, Any]) -> None:
    """Attach the one-line field descriptions editors show on hover."""
    for name, fields in DESCRIPTIONS.items():
        part = document["$defs"][name] if name else document
        for field, text in fields.items():
            prop = part["properties"][field]  # KeyError: a stale description.
            extra = prop.get("description")
            prop["description"] = f"{text} ({extra})" if extra else text


def _when(field: str, matches: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    """``if field matches then ...``: a rule across fields of one object."""
    condition = {"properties": {field: matches}, "required": [field]}
    return {"if": condition, "then": then}


def _needs(field: str, fragment: dict[str, Any]) -> dict[str, Any]:
    return {"properties": {field: fragment}, "required": [field]}


def _conditions() -> dict[str, list[dict[str, Any]]]:
    """Cross-field rules within one object, mirrored from evsite.config.validate.

    Only rules that hold whatever the rest of the file says belong here, so the
    editor never flags a file that ``evsite check-config`` accepts.
    """
    text_ = {"type": "string", "minLength": 1}
    not_null = {"not": {"type": "null"}}
    three = {"const": 3}
    return {
        "meter": [
            _when("kind", {"const": "modbus_tcp"}, _needs("host", text_)),
            _when("kind", {"const": "modbus_rtu"}, _needs("serial_port", text_)),
            _when("kind", {"const": "mqtt"}, _needs("topic", text_)),
        ],
        "panel": [
            _when(
                "phases", three, {"properties": {"phase_connection": {"type": "null"}}}
            ),
        ],
        "charger": [
            _when(
                "scope", {"const": "groups"}, _needs("driver_groups", {"minItems": 1})
            ),
            _when(
                "driver_groups", {"minItems": 1}, _needs("scope", {"const": "groups"})
            ),
            _when("private_driver", not_null, _needs("scope", {"const": "private"})),
            _when(
                "just_charge",
                {"const": True},
                {"properties": {"scope": {"not": {"const": "public"}}}},
            ),
            _when(
                "phases", three, {"properties": {"phase_connection": {"type": "null"}}}
            ),
        ],
    }


def render() -> str:
    """The schema as committed in ``panel_config/schema.json``."""
    return json.dumps(site_json_schema(), indent=2) + "\n"


# Regenerate: python -m evsite.config.jsonschema > panel_config/schema.json
if __name__ == "__main__":
    sys.stdout.write(render())
