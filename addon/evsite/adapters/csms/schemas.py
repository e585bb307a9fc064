"""Fast validation of OCPP payloads against the official JSON schemas.

The schemas are the ones shipped with the ``ocpp`` package; they are compiled
once per action with ``fastjsonschema`` (many times faster than the
interpreter-style ``jsonschema`` the library uses, which was half the CPU of a
MeterValues). Violations map to the OCPP-J error codes as the library maps
them. ``format`` (date-time) is not enforced here: timestamps are parsed, and
refused with a FormatViolation naming the field, by ``translate``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
from ocpp.exceptions import (
    FormatViolationError,
    NotImplementedError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)

Validator = Callable[[Any], Any]

_ERRORS: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "required": ProtocolError,
    "additionalProperties": FormatViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "minItems": OccurenceConstraintViolationError,
    "maxItems": OccurenceConstraintViolationError,
}


def _schema_name(version: str, action: str, response: bool) -> str:
    if version == "1.6":
        return f"{action}Response" if response else action
    return f"{action}Response" if response else f"{action}Request"


@cache
def _validator(version: str, action: str, response: bool) -> Validator:
    folder = "v16" if version == "1.6" else "v201"
    path = resources.files("ocpp").joinpath(
        folder, "schemas", _schema_name(version, action, response) + ".json"
    )
    try:
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as err:
        raise NotImplementedError(details={"cause": f"no schema for {action}"}) from err
    # Accept any string for date-time: see the module docstring.
    compiled: Validator = fastjsonschema.compile(
        _without_multiple_of(schema),
        formats={"date-time": lambda _value: True, "uri": lambda _v: True},
    )
    return compiled


def _without_multiple_of(node: Any) -> Any:
    """Drop ``multipleOf`` (OCPP 1.6 limits: 0.1), which floats cannot check.

    ``16.3 / 0.1`` is not a whole number in binary floating point; the library
    works around it with Decimal parsing. evsite rounds its own limits to 0.1 A
    (or whole W) and tolerates finer precision from chargers.
    """
    if isinstance(node, dict):
        return {
            k: _without_multiple_of(v) for k, v in node.items() if k != "multipleOf"
        }
    if isinstance(node, list):
        return [_without_multiple_of(v) for v in node]
    return node


def validate(version: str, action: str, payload: Any, *, response: bool) -> None:
    """Check a CALL (or CALLRESULT) payload; raise the OCPP error for a violation."""
    try:
        _validator(version, action, response)(payload)
    except fastjsonschema.JsonSchemaValueException as err:
        error = _ERRORS.get(err.rule or "", FormatViolationError)
        field = (err.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise error(
            description=f"{field}: {err.message}",
            details={"cause": err.message, "field": field},
        ) from err
