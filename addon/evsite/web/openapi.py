"""The OpenAPI 3.1 document, generated from the route registry.

Request bodies are described by the same voluptuous schemas that validate
them (through :mod:`evsite.config.jsonschema`), so the document cannot drift
from what the server accepts.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from evsite import __version__
from evsite.config import schema
from evsite.web.auth import Role
from evsite.web.registry import ApiRoute, Registry

_LOGGER = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
# Config parts shared by many operations: described once in components.
NAMED_SCHEMAS: dict[str, Any] = {
    "site": schema.SITE,
    "panel": schema.PANEL,
    "charger": schema.CHARGER,
    "meter": schema.METER,
    "register": schema.REGISTER,
    "location": schema.LOCATION,
    "connector": schema.CONNECTOR,
    "driver_group": schema.DRIVER_GROUP,
    "delay_window": schema.DELAY_WINDOW,
    "energy": schema.ENERGY,
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["path", "message"],
    "properties": {
        "path": {
            "type": "string",
            "description": "The field concerned: in the request body, else in the site",
            "examples": ["limit_a", "panels[0].breaker_a"],
        },
        "message": {"type": "string"},
    },
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message", "problems"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string", "examples": ["invalid_input"]},
                "message": {"type": "string"},
                "problems": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Problem"},
                },
            },
        }
    },
}

_ERROR_TEXT = {
    400: "Invalid input: every problem is listed with the field it concerns",
    401: "Missing or invalid bearer token",
    403: "The token's role may not do this",
    404: "No such entity",
    409: "Conflicts with the current state",
    415: "The body is not JSON",
    502: "A charger refused or could not be reached",
    503: "Storage unavailable",
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _Schemas:
    """Converts request schemas, collecting shared parts into components."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {
            "Error": ERROR_SCHEMA,
            "Problem": PROBLEM_SCHEMA,
        }

    def body(self, node: Any, *, partial: bool) -> dict[str, Any]:
        """The JSON Schema of a request body (a ``$ref`` for named parts)."""
        if node is None:
            return {"type": "object"}
        name = next((n for n, s in NAMED_SCHEMAS.items() if s is node), None)
        converted = self._convert(node)
        if partial:
            # PATCH: any subset of the fields, each validated as in PUT; an
            # omitted field keeps its value, so defaults do not apply.
            converted.pop("required", None)
            for prop in converted.get("properties", {}).values():
                prop.pop("default", None)
            return converted
        if name is None:
            return converted
        self.components.setdefault(name, converted)
        return {"$ref": f"#/components/schemas/{name}"}

    def ensure_referenced(self, doc: Any) -> None:
        """Add every named config schema ``doc`` refers to but nobody defined."""
        for name in re.findall(r'"#/components/schemas/([A-Za-z_]+)"', json.dumps(doc)):
            if name not in self.components and name in NAMED_SCHEMAS:
                self.body(NAMED_SCHEMAS[name], partial=False)

    def _convert(self, node: Any) -> dict[str, Any]:
        try:
            from evsite.config.jsonschema import to_json_schema
        except ImportError:  # exporter not installed: still a valid document
            return {"type": "object"}
        try:
            doc = to_json_schema(node, NAMED_SCHEMAS)
        except TypeError as err:
            _LOGGER.warning("no JSON Schema for a request body: %s", err)
            return {"type": "object"}
        doc.pop("$schema", None)
        defs = doc.pop("$defs", {})
        text = json.dumps([doc, defs]).replace('"#/$defs/', '"#/components/schemas/')
        doc, defs = json.loads(text)
        for key, value in defs.items():
            self.components.setdefault(key, value)
        result: dict[str, Any] = doc
        return result


def _error(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_TEXT.get(status, "Error"),
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def _responses(route: ApiRoute) -> dict[str, Any]:
    success: dict[str, Any] = {"description": route.response}
    if route.status != 204:
        body = route.response_schema or {}
        success["content"] = {"application/json": {"schema": dict(body)}}
    statuses = set(route.errors)
    if not route.public:
        statuses |= {401, 403}
    if route.method in _BODY_METHODS and route.request_schema is not None:
        statuses |= {400, 415}
    responses: dict[str, Any] = {str(route.status): success}
    for status in sorted(statuses):
        responses[str(status)] = _error(status)
    responses["default"] = {
        **_error(500),
        "description": "Unexpected error (details are logged, not returned)",
    }
    return responses


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": text,
            "schema": {"type": "string"},
        }
        for name, text in route.query
    ]
    return params


def _operation(route: ApiRoute, schemas: _Schemas, op_id: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": _responses(route),
    }
    if route.description:
        op["description"] = route.description
    params = _parameters(route)
    if params:
        op["parameters"] = params
    if route.method in _BODY_METHODS and route.request_schema is not None:
        body = schemas.body(route.request_schema, partial=route.method == "PATCH")
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if route.public:
        op["security"] = []
    else:
        op["x-roles"] = sorted({r.value for r in route.roles} | {Role.ADMIN.value})
    return op


def _unique_ids(routes: Iterable[ApiRoute]) -> dict[tuple[str, str], str]:
    seen: dict[str, int] = {}
    ids = {}
    for route in routes:
        count = seen.get(route.name, 0)
        seen[route.name] = count + 1
        ids[route.key] = route.name if count == 0 else f"{route.name}_{count + 1}"
    return ids


def build_openapi(registry: Registry, title: str = "evsite API") -> dict[str, Any]:
    """The OpenAPI 3.1 document describing every route of ``registry``."""
    schemas = _Schemas()
    ids = _unique_ids(registry)
    paths: dict[str, dict[str, Any]] = {}
    for route in registry:
        item = paths.setdefault(route.openapi_path, {})
        item[route.method.lower()] = _operation(route, schemas, ids[route.key])
    schemas.ensure_referenced(paths)
    tags = sorted({route.tag for route in registry})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": __version__,
            "description": (
                "Site-local EV charging controller. Every failure answers with "
                "the same error envelope (components.schemas.Error)."
            ),
        },
        "tags": [{"name": t} for t in tags],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token is api.token or EVSITE_TOKEN",
                }
            },
        },
    }
