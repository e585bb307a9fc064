"""One error envelope for every failed request, produced in one middleware.

Every failure, whatever raised it, reaches the client as::

    {"error": {"status": 400, "code": "invalid_input", "message": "...",
               "problems": [{"path": "limit_a", "message": "..."}]}}

Handlers raise the project's exceptions (:mod:`evsite.errors`) or
:class:`ApiError`; :func:`error_middleware` maps them here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from evsite.errors import (
    AuthError,
    ChargerError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Problem,
    StorageError,
)

_LOGGER = logging.getLogger(__name__)

# Codes of aiohttp's own HTTP errors (routing, body size) in the envelope.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An HTTP-level failure a handler raises (bad media type, bad query, ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        problems: Sequence[Problem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        """Describe the failure; ``code`` is a stable snake_case identifier."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = list(problems)
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class ErrorMapping:
    """How one exception type becomes an HTTP error."""

    status: int
    code: str


@dataclass(slots=True)
class ErrorMap:
    """Exception type → (status, code); the most specific registered type wins."""

    mappings: dict[type[BaseException], ErrorMapping] = field(default_factory=dict)

    def add(self, exc_type: type[BaseException], status: int, code: str) -> None:
        """Map ``exc_type`` (and subclasses without their own entry) to an error."""
        self.mappings[exc_type] = ErrorMapping(status, code)

    def lookup(self, err: BaseException) -> ErrorMapping | None:
        """The mapping of the nearest registered class in ``err``'s MRO."""
        for klass in type(err).__mro__:
            found = self.mappings.get(klass)
            if found is not None:
                return found
        return None


def default_error_map() -> ErrorMap:
    """The mapping of the project's exception tree (SPEC §11.2)."""
    errors = ErrorMap()
    errors.add(ConfigError, 400, "invalid_input")
    errors.add(AuthError, 401, "unauthorized")
    errors.add(ForbiddenError, 403, "forbidden")
    errors.add(NotFoundError, 404, "not_found")
    errors.add(ConflictError, 409, "conflict")
    errors.add(ChargerError, 502, "charger_error")
    errors.add(StorageError, 503, "storage_unavailable")
    return errors


def problem_dicts(problems: Iterable[Problem]) -> list[dict[str, str]]:
    """Problems as JSON objects."""
    return [{"path": p.path, "message": p.message} for p in problems]


def error_response(
    status: int,
    code: str,
    message: str,
    problems: Iterable[Problem] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    """The envelope as a JSON response."""
    body = {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "problems": problem_dicts(problems),
        }
    }
    return web.json_response(body, status=status, headers=headers)


def _problems_of(err: BaseException) -> list[Problem]:
    if isinstance(err, ConfigError):
        return list(err.problems)
    if isinstance(err, ConflictError) and err.path:
        return [Problem(err.path, str(err))]
    return []


def _message_of(err: BaseException) -> str:
    if isinstance(err, ConfigError) and err.problems:
        # The first problem in the message helps clients that show only that.
        first, more = str(err.problems[0]), len(err.problems) - 1
        return f"{first} (and {more} more)" if more else first
    return str(err) or type(err).__name__


def _headers_of(err: BaseException) -> dict[str, str]:
    if isinstance(err, AuthError):
        # RFC 6750 §3: a 401 names the scheme the client must use.
        return {"WWW-Authenticate": 'Bearer realm="evsite"'}
    return {}


def _from_http_exception(err: web.HTTPException) -> web.Response:
    headers = {}
    if isinstance(err, web.HTTPMethodNotAllowed):
        headers["Allow"] = ",".join(sorted(err.allowed_methods))
    code = _HTTP_CODES.get(err.status, "http_error")
    message = (
        err.reason
        if err.text is None or err.text.startswith(f"{err.status}:")
        else err.text
    )
    return error_response(err.status, code, message, headers=headers)


def make_error_middleware(errors: ErrorMap) -> Middleware:
    """The middleware turning every failure into the envelope."""

    @web.middleware
    async def error_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as err:
            return error_response(
                err.status, err.code, err.message, err.problems, err.headers
            )
        except web.HTTPException as err:
            if err.status < 400:  # redirects and the like are not failures
                raise
            return _from_http_exception(err)
        except Exception as err:
            mapping = errors.lookup(err)
            if mapping is None:  # a bug: keep the traceback, show nothing of it
                _LOGGER.exception("%s %s failed", request.method, request.path)
                return error_response(500, "internal_error", "internal server error")
            if mapping.status >= 500:
                _LOGGER.warning("%s %s failed: %r", request.method, request.path, err)
            message = _message_of(err) if mapping.status < 500 else _safe_message(err)
            return error_response(
                mapping.status,
                mapping.code,
                message,
                _problems_of(err),
                _headers_of(err),
            )

    return error_middleware


def _safe_message(err: BaseException) -> str:
    """A 5xx message: the project's own errors are written to be shown."""
    if isinstance(err, ChargerError | StorageError):
        return str(err) or type(err).__name__
    return "internal server error"
