"""OCPP-J wire format helpers (pure): key case, payload dicts, frames, message ids.

The ``ocpp`` library turns a call dataclass into a payload with
``dataclasses.asdict`` (a deep copy), then converts keys with regular
expressions and drops ``None`` in two more passes: about 0.1 ms per
SetChargingProfile, most of what evsite spent building one. :func:`payload`
gives the same dict in one pass with cached key conversion.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import secrets
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from json.encoder import encode_basestring_ascii
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import PropertyConstraintViolationError

# OCPP-J: a message id is a string of at most 36 characters.
MAX_MESSAGE_ID = 36

# Message ids of our CALLs: a random prefix per process and one counter for all
# connections, so an id never repeats while evsite runs (not after a reconnect
# either) and a restarted evsite starts from another prefix. 12 + 1 + at most
# 20 digits (a 64-bit counter) stays within MAX_MESSAGE_ID.
_ID_PREFIX = secrets.token_hex(6)
_ID_COUNTER = itertools.count(1)


def next_message_id() -> str:
    """A message id no other CALL of this process used."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER)}"


@cache
def _snake_key(key: str) -> str:
    converted: dict[str, Any] = camel_to_snake_case({key: None})
    return next(iter(converted))


@cache
def _camel_key(key: str) -> str:
    converted: dict[str, Any] = snake_to_camel_case({key: None})
    return next(iter(converted))


def to_snake(data: Any) -> Any:
    """CamelCase keys -> snake_case, recursively (the library's rules, cached).

    Raises:
        PropertyConstraintViolationError: an integer outside 64 bits (SQLite
            could not store it; OCPP integers are 32-bit).
    """
    if isinstance(data, dict):
        return {_snake_key(k): to_snake(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_snake(v) for v in data]
    if type(data) is int and not -(2**63) <= data < 2**63:
        raise PropertyConstraintViolationError(
            details={"cause": f"integer {data} is out of range"}
        )
    return data


def to_camel(data: Any) -> Any:
    """snake_case keys -> camelCase, recursively (the library's rules, cached)."""
    if isinstance(data, dict):
        return {_camel_key(k): to_camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_camel(v) for v in data]
    return data


@cache
def _field_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, camelCase key) of a dataclass's fields, in order."""
    return tuple((f.name, _camel_key(f.name)) for f in dataclasses.fields(cls))


_LEAVES = frozenset({str, int, float, bool})


def payload(value: Any) -> Any:
    """An ``ocpp`` call or result dataclass as its OCPP-J payload.

    The same as the library's ``remove_nones(snake_to_camel_case(
    serialize_as_dict(value)))``: nested dataclasses and dicts become dicts
    with camelCase keys; ``None`` values and list items are left out.
    """
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return {
            _camel_key(k): v if type(v) in _LEAVES else payload(v)
            for k, v in value.items()
            if v is not None
        }
    if kind is list:
        return [v if type(v) in _LEAVES else payload(v) for v in value if v is not None]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            key: payload(item)
            for name, key in _field_names(type(value))
            if (item := getattr(value, name)) is not None
        }
    if isinstance(value, dict | list):  # subclasses
        return payload(dict(value) if isinstance(value, dict) else list(value))
    return value


@dataclass(frozen=True, slots=True)
class Prepared:
    """A CALL given as its OCPP-J payload text, built by a builder proven valid.

    The tests hold such a builder to the library's payload and the official
    schemas for every input it takes, so the payload is not checked again at
    runtime; anything else is (the charger's answer always is). The payload
    is kept as the JSON text the frame carries: a shed writes 1,000 of them.
    """

    action: str
    text: str  # the payload, JSON-encoded as call_frame would encode it

    @property
    def body(self) -> dict[str, Any]:
        """The payload as a dict (for tests and logs; the frame uses ``text``)."""
        body: dict[str, Any] = json.loads(self.text)
        return body


def action_of(request: Any) -> str:
    """The OCPP action of a call dataclass or a :class:`Prepared` payload."""
    return request.action if type(request) is Prepared else type(request).__name__


def _decimal(value: Any) -> Any:
    """Decimals as the library writes them (one decimal place)."""
    if isinstance(value, Decimal):
        return float(round(value, 1))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_decimal)


def call_frame(message_id: str, action: str, body: Any) -> str:
    """The OCPP-J CALL frame ``[2, id, action, payload]``."""
    return _ENCODER.encode([2, message_id, action, body])


def prepared_frame(message_id: str, request: Prepared) -> str:
    """:func:`call_frame` of a :class:`Prepared` payload, around its text."""
    return f"[2,{json_str(message_id)},{json_str(request.action)},{request.text}]"


def json_str(value: str) -> str:
    """A string as JSON text, as :func:`call_frame` writes it (ASCII, escaped)."""
    text: str = encode_basestring_ascii(value)
    return text


def json_number(value: float) -> str:
    """A number as JSON text, as :func:`call_frame` writes it."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return _ENCODER.encode(value)  # NaN, infinities, bool, int and float subclasses


def result_frame(message_id: str, body: Any) -> str:
    """The OCPP-J CALLRESULT frame ``[3, id, payload]``."""
    return _ENCODER.encode([3, message_id, body])
