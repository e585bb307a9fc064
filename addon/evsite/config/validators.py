"""Validator factories of the site format, each carrying its JSON Schema fragment.

Every validator refuses bad input with a message that quotes the value, and
records what it accepts (``JSON_SCHEMA_ATTR``) so :mod:`evsite.config.jsonschema`
can export the same rules for editors without a second, drifting definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol

JSON_SCHEMA_ATTR = "json_schema"
"""Attribute holding a JSON Schema fragment, or a function ``walk -> fragment``."""

Walker = Callable[[Any], dict[str, Any]]
Fragment = dict[str, Any] | Callable[[Walker], dict[str, Any]]
F = TypeVar("F", bound=Callable[..., Any])

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,47}$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
TIME_PATTERN = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_MINUTES_PER_DAY = 24 * 60


def with_json_schema(fragment: Fragment) -> Callable[[F], F]:
    """Decorate a validator with the JSON Schema fragment it enforces."""

    def attach(func: F) -> F:
        setattr(func, JSON_SCHEMA_ATTR, fragment)
        return func

    return attach


def _show(value: Any) -> str:
    """A value as quoted in messages, cut short so one problem stays one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@with_json_schema({"type": "string", "pattern": ID_PATTERN.pattern})
def entity_id(value: Any) -> str:
    """An id: 1-48 letters, digits, ``. _ : -``, starting with a letter or digit."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise vol.Invalid(
            f"invalid id {_show(value)}: use 1-48 letters, digits, '.', '_', ':' "
            "or '-', starting with a letter or digit"
        )
    return value


@with_json_schema({"type": "string", "minLength": 1, "examples": ["America/New_York"]})
def timezone_name(value: Any) -> str:
    """An IANA timezone name such as ``Europe/Berlin``."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a timezone name, got {_show(value)}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise vol.Invalid(
            f"unknown timezone {_show(value)}: use an IANA name such as "
            "'America/New_York'"
        ) from err
    return value


@with_json_schema(
    {
        "anyOf": [
            {"type": "string", "pattern": r"^(([01]?\d|2[0-3]):[0-5]\d|24:00)$"},
            {
                "type": "integer",
                "minimum": 0,
                "maximum": _MINUTES_PER_DAY,
                "description": "an unquoted H:MM that YAML 1.1 read as minutes",
            },
        ]
    }
)
def clock_time(value: Any) -> str:
    """A wall-clock time ``HH:MM`` (24 h); ``24:00`` means end of day."""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 21:00 as the sexagesimal number 21*60+0.
        if 0 <= value < _MINUTES_PER_DAY:
            return f"{value // 60:02d}:{value % 60:02d}"
        if value == _MINUTES_PER_DAY:
            return "24:00"
        raise vol.Invalid(
            f"expected a time HH:MM, got {value} (quote times, e.g. '21:00')"
        )
    if value == "24:00":
        return "24:00"
    match = TIME_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise vol.Invalid(f"expected a time HH:MM, got {_show(value)}")
    return f"{int(match.group(1)):02d}:{match.group(2)!s}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def amps(minimum: float = 0.0, maximum: float = 10_000.0) -> Callable[[Any], float]:
    """A current in A within ``[minimum, maximum]``."""

    @with_json_schema({"type": "number", "minimum": minimum, "maximum": maximum})
    def validate(value: Any) -> float:
        if not _is_number(value):
            raise vol.Invalid(f"expected a number of amps, got {_show(value)}")
        if not minimum <= float(value) <= maximum:  # NaN fails this too.
            raise vol.Invalid(
                f"must be between {minimum:g} and {maximum:g} A, got {value}"
            )
        return float(value)

    return validate


def number(minimum: float, maximum: float) -> Callable[[Any], float]:
    """A real number within ``[minimum, maximum]``."""

    @with_json_schema({"type": "number", "minimum": minimum, "maximum": maximum})
    def validate(value: Any) -> float:
        if not _is_number(value):
            raise vol.Invalid(f"expected a number, got {_show(value)}")
        if not minimum <= float(value) <= maximum:
            raise vol.Invalid(
                f"must be between {minimum:g} and {maximum:g}, got {value}"
            )
        return float(value)

    return validate


def integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number within ``[minimum, maximum]`` (booleans refused)."""

    @with_json_schema({"type": "integer", "minimum": minimum, "maximum": maximum})
    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected a whole number, got {_show(value)}")
        if not minimum <= value <= maximum:
            raise vol.Invalid(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return validate


def text(max_length: int) -> Callable[[Any], str]:
    """A string of at most ``max_length`` characters."""

    @with_json_schema({"type": "string", "maxLength": max_length})
    def validate(value: Any) -> str:
        if not isinstance(value, str):
            raise vol.Invalid(f"expected text, got {_show(value)}")
        if len(value) > max_length:
            raise vol.Invalid(f"{_show(value)} is longer than {max_length} characters")
        return value

    return validate


@with_json_schema({"type": "boolean"})
def boolean(value: Any) -> bool:
    """``true`` or ``false`` (no numbers or strings)."""
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {_show(value)}")
    return value


def choice(values: Iterable[Any]) -> Callable[[Any], Any]:
    """One of ``values``; the message lists them and quotes the value given."""
    allowed = list(values)
    listed = ", ".join(map(str, allowed))

    @with_json_schema({"enum": allowed})
    def validate(value: Any) -> Any:
        # ``1 == True`` in Python: refuse booleans where numbers are listed.
        if isinstance(value, bool) or value not in allowed:
            raise vol.Invalid(f"expected one of {listed}, got {_show(value)}")
        return value

    return validate


def one_of(enum: type[Any]) -> Callable[[Any], Any]:
    """One of an enum's values, with the allowed values in the message."""
    return choice(member.value for member in enum)


def pattern(regex: str | re.Pattern[str], hint: str) -> Callable[[Any], str]:
    """A string matching ``regex``; ``hint`` says what is expected."""
    compiled = re.compile(regex)

    @with_json_schema({"type": "string", "pattern": compiled.pattern})
    def validate(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise vol.Invalid(f"{hint}, got {_show(value)}")
        return value

    return validate


def unique_list(
    item: Any, key: str = "", what: str = "value"
) -> Callable[[Any], list[Any]]:
    """A list of ``item`` with no duplicates (by ``key`` for dicts)."""
    schema = vol.Schema([item])

    def fragment(walk: Walker) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "array", "items": walk(item)}
        if key:
            result["description"] = f"each {key} unique"
        else:
            result["uniqueItems"] = True
        return result

    @with_json_schema(fragment)
    def validate(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list, got {_show(value)}")
        result: list[Any] = schema(value)
        seen: dict[Any, int] = {}
        for index, entry in enumerate(result):
            ident = entry[key] if key else entry
            if ident in seen:
                raise vol.Invalid(
                    f"duplicate {what} {_show(ident)} (also at [{seen[ident]}])",
                    path=[index, key] if key else [index],
                )
            seen[ident] = index
        return result

    return validate


def nullable(item: Any) -> Callable[[Any], Any]:
    """``null`` or ``item``; unlike ``vol.Any(None, item)`` it keeps item's message."""
    schema = vol.Schema(item)

    @with_json_schema(lambda walk: {"anyOf": [{"type": "null"}, walk(item)]})
    def validate(value: Any) -> Any:
        return None if value is None else schema(value)

    return validate
