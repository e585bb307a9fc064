"""Request input: JSON bodies and query parameters, validated by the config schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import voluptuous as vol
from aiohttp import web

from evsite.config.load import normalize
from evsite.config.validators import integer
from evsite.errors import ConfigError, Problem
from evsite.web.errors import ApiError

T = TypeVar("T")
_INT = re.compile(r"[+-]?\d{1,18}")

_JSON_TYPES = ("application/json",)


async def read_json(request: web.Request) -> Any:
    """The request body parsed as JSON.

    Raises:
        ApiError: 415 when the body is not declared JSON, 400 when it is empty
            or not valid JSON (the message names line and column).
    """
    content_type = request.content_type
    if not request.can_read_body:
        raise ApiError(400, "missing_body", "a JSON request body is required")
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"expected Content-Type: application/json, got {content_type or 'none'}",
        )
    text = await request.text()
    if not text.strip():
        raise ApiError(400, "missing_body", "a JSON request body is required")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ApiError(
            400,
            "malformed_json",
            f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}",
        ) from err


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body, which must be a JSON object.

    Raises:
        ApiError: as :func:`read_json`.
        ConfigError: the body is JSON but not an object.
    """
    data = await read_json(request)
    if not isinstance(data, dict):
        kind = type(data).__name__ if data is not None else "null"
        raise ConfigError([Problem("", f"expected a JSON object, got {kind}")])
    return data


async def json_body(request: web.Request, schema: vol.Schema) -> Any:
    """The JSON body validated and normalised by a config ``schema``.

    Raises:
        ApiError: as :func:`read_json`.
        ConfigError: every problem, each named by its path in the body
            (``limit_a``, ``connectors[1].id``).
    """
    return normalize(schema, await read_json(request))


def query_param(
    request: web.Request,
    name: str,
    validator: Callable[[Any], T],
    default: T,
) -> T:
    """A query parameter checked by a config validator, or ``default`` when absent.

    Raises:
        ConfigError: the value is invalid; the problem's path is the parameter name.
    """
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return validator(raw)
    except ConfigError as err:
        raise ConfigError([Problem(name, p.message) for p in err.problems]) from err
    except (vol.Invalid, ValueError, TypeError) as err:
        message = getattr(err, "error_message", "") or str(err) or "invalid value"
        raise ConfigError([Problem(name, message)]) from err


def query_int(
    request: web.Request, name: str, default: int, minimum: int, maximum: int
) -> int:
    """A whole-number query parameter in ``[minimum, maximum]`` (``?limit=50``).

    Raises:
        ConfigError: not a whole number or out of range, named by the parameter.
    """
    raw = request.query.get(name)
    if raw is None:
        return default
    value: Any = int(raw) if _INT.fullmatch(raw.strip()) else raw
    return query_param(
        request, name, lambda _: integer(minimum, maximum)(value), default
    )
