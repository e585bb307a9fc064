"""The validator factories: what they accept, normalise and how they refuse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from typing import Any

import pytest
import voluptuous as vol

from evsite.config.models import Phase
from evsite.config.validators import (
    amps,
    boolean,
    choice,
    clock_time,
    entity_id,
    integer,
    nullable,
    one_of,
    pattern,
    text,
    timezone_name,
    unique_list,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("21:00", "21:00"),
        ("7:05", "07:05"),
        ("00:00", "00:00"),
        ("24:00", "24:00"),
        (1260, "21:00"),  # YAML 1.1: unquoted 21:00 = 21 * 60
        (420, "07:00"),  # unquoted 7:00
        (0, "00:00"),
        (1440, "24:00"),
        (time(6, 30), "06:30"),
    ],
)
def test_clock_time_accepts(value: Any, expected: str) -> None:
    assert clock_time(value) == expected


@pytest.mark.parametrize(
    "value",
    ["25:00", "21:60", "2100", "21:00\n", " 21:00", "24:01", -1, 1441, True, 1.5],
)
def test_clock_time_refuses_with_the_value(value: Any) -> None:
    with pytest.raises(vol.Invalid) as info:
        clock_time(value)
    assert repr(value) in str(info.value) or str(value) in str(info.value)


@pytest.mark.parametrize("value", ["charger-1", "A", "x" * 48, "CC:P1.07_b"])
def test_entity_id_accepts(value: str) -> None:
    assert entity_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "-lead", "x" * 49, "sp ace", "trailing\n", "é", 7, None]
)
def test_entity_id_refuses(value: Any) -> None:
    with pytest.raises(vol.Invalid, match="invalid id"):
        entity_id(value)


@pytest.mark.parametrize("value", ["", "Mars/Base", "../etc/passwd", "/UTC", "x" * 300])
def test_timezone_refuses_without_crashing(value: str) -> None:
    with pytest.raises(vol.Invalid, match="unknown timezone"):
        timezone_name(value)


def test_amps_range_and_types() -> None:
    limit = amps(6, 32)
    assert limit(16) == 16.0
    assert isinstance(limit(16), float)
    for bad in (5.9, 32.1, float("nan"), float("inf"), True, "16", None):
        with pytest.raises(vol.Invalid):
            limit(bad)


def test_integer_refuses_floats_and_booleans() -> None:
    port = integer(0, 65535)
    assert port(8099) == 8099
    for bad in (80.0, False, "80", 70000):
        with pytest.raises(vol.Invalid):
            port(bad)


def test_choice_quotes_the_value_and_refuses_booleans() -> None:
    phases = choice([1, 3])
    assert phases(3) == 3
    with pytest.raises(vol.Invalid, match="expected one of 1, 3, got True"):
        phases(True)  # True == 1 in Python, but is not a phase count
    with pytest.raises(vol.Invalid, match="got 'L4'"):
        one_of(Phase)("L4")


def test_nullable_keeps_the_inner_message() -> None:
    schema = vol.Schema({"line": nullable(one_of(Phase))})
    assert schema({"line": None}) == {"line": None}
    with pytest.raises(vol.MultipleInvalid) as info:
        schema({"line": "L9"})
    assert "got 'L9'" in str(info.value)
    assert info.value.path == ["line"]


def test_pattern_must_match_the_whole_string() -> None:
    currency = pattern(r"^[A-Z]{3}$", "expected a currency")
    assert currency("EUR") == "EUR"
    for bad in ("EUR\n", "EURO", "eur", 978):
        with pytest.raises(vol.Invalid, match="expected a currency"):
            currency(bad)


def test_text_length_and_type() -> None:
    name = text(4)
    assert name("abcd") == "abcd"
    for bad in ("abcde", 5, None):
        with pytest.raises(vol.Invalid):
            name(bad)


def test_boolean_refuses_numbers_and_strings() -> None:
    assert boolean(False) is False
    for bad in (0, 1, "true", None):
        with pytest.raises(vol.Invalid, match="expected true or false"):
            boolean(bad)


@pytest.mark.parametrize(
    ("validator", "value", "path"),
    [
        (unique_list(entity_id, what="group"), ["a", "b", "a"], [2]),
        (
            unique_list(vol.Schema({"id": int}), "id", "panel id"),
            [{"id": 1}, {"id": 1}],
            [1, "id"],
        ),
    ],
)
def test_unique_list_names_the_duplicate(
    validator: Callable[[Any], Any], value: list[Any], path: list[Any]
) -> None:
    with pytest.raises(vol.Invalid) as info:
        validator(value)
    assert info.value.path == path
    assert "duplicate" in str(info.value)
    assert "also at [0]" in str(info.value)


def test_unique_list_refuses_a_mapping() -> None:
    with pytest.raises(vol.Invalid, match="expected a list"):
        unique_list(entity_id)({"a": 1})
