"""The OpenAPI document describes exactly the routes the server answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator

from evsite.context import Services
from evsite.web.api import Registry, create_app
from evsite.web.openapi import build_openapi

from .conftest import AiohttpClient

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


@pytest.fixture
async def document(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def router_operations(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }


def document_operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


async def test_document_lists_exactly_the_router_routes(
    app: web.Application, document: dict[str, Any]
) -> None:
    served = router_operations(app)
    documented = document_operations(document)
    assert served == documented
    # The routes this issue promises are all there.
    for op in [
        ("get", "/api/v1/health"),
        ("get", "/api/v1/openapi.json"),
        ("patch", "/api/v1/site"),
        ("post", "/api/v1/panels"),
        ("delete", "/api/v1/panels/{panel_id}"),
        ("put", "/api/v1/chargers/{charger_id}"),
    ]:
        assert op in documented


async def test_extra_route_modules_are_documented(
    aiohttp_client: AiohttpClient, services: Services
) -> None:
    extra = Registry()

    @extra.get("/api/v1/things/{thing_id}", summary="A thing", tag="things")
    async def get_thing(request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": request.match_info["thing_id"]})

    app = create_app(services, [extra.register])
    client = await aiohttp_client(app)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert router_operations(app) == document_operations(doc)
    op = doc["paths"]["/api/v1/things/{thing_id}"]["get"]
    assert op["operationId"] == "get_thing"
    assert op["parameters"][0] == {
        "name": "thing_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_document_is_well_formed_openapi_31(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]
    assert document["info"]["version"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert document["security"] == [{"bearerAuth": []}]
    operation_ids = []
    for path, item in document["paths"].items():
        assert path.startswith("/api/v1/")
        params_in_path = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            assert method in METHODS
            operation_ids.append(op["operationId"])
            assert op["summary"]
            assert op["tags"]
            assert any(code.startswith("2") for code in op["responses"]), path
            for response in op["responses"].values():
                assert response["description"]
            declared = {
                p["name"] for p in op.get("parameters", []) if p["in"] == "path"
            }
            assert declared == params_in_path
            if method in {"post", "put", "patch"}:
                assert "application/json" in op["requestBody"]["content"]
    assert len(operation_ids) == len(set(operation_ids))


async def test_every_reference_resolves_and_schemas_are_valid(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in schemas, ref
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)


async def test_security_and_roles_per_operation(document: dict[str, Any]) -> None:
    health = document["paths"]["/api/v1/health"]["get"]
    assert health["security"] == []
    assert "401" not in health["responses"]
    create = document["paths"]["/api/v1/chargers"]["post"]
    assert create["x-roles"] == ["admin"]
    assert {"201", "400", "401", "403", "409"} <= set(create["responses"])
    delete = document["paths"]["/api/v1/panels/{panel_id}"]["delete"]
    assert "content" not in delete["responses"]["204"]


async def test_request_bodies_come_from_the_config_schemas(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/v1/chargers/{charger_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/charger"
    }
    charger = schemas["charger"]
    assert {"id", "parent", "limit_a"} <= set(charger["required"])
    assert charger["properties"]["limit_a"]["minimum"] == 6
    patch = document["paths"]["/api/v1/chargers/{charger_id}"]["patch"]
    partial = patch["requestBody"]["content"]["application/json"]["schema"]
    assert "required" not in partial
    assert "default" not in partial["properties"]["scope"]
    Draft202012Validator(partial).validate({"limit_a": 20})


def test_document_is_generated_from_the_registry_alone() -> None:
    registry = Registry()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response()

    registry.get("/api/v1/a", summary="A", tag="x")(handler)
    registry.post("/api/v1/a", summary="B", tag="x", public=True)(handler)
    doc = build_openapi(registry)
    assert document_operations(doc) == {("get", "/api/v1/a"), ("post", "/api/v1/a")}
    ids = {op["operationId"] for op in doc["paths"]["/api/v1/a"].values()}
    assert ids == {"handler", "handler_2"}


def _response_validator(
    doc: dict[str, Any], path: str, method: str, status: int
) -> Any:
    from referencing import Registry as RefRegistry
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    refs = RefRegistry().with_resource("urn:evsite-openapi", resource)
    pointer = "/".join(
        part.replace("~", "~0").replace("/", "~1")
        for part in (
            "paths",
            path,
            method,
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )
    )
    return Draft202012Validator(
        {"$ref": f"urn:evsite-openapi#/{pointer}"}, registry=refs
    )


@pytest.mark.parametrize(
    "case",
    [
        ("get", "/api/v1/site", "/api/v1/site", 200, None),
        ("get", "/api/v1/panels", "/api/v1/panels", 200, None),
        ("get", "/api/v1/panels/garage", "/api/v1/panels/{panel_id}", 200, None),
        ("get", "/api/v1/panels/nope", "/api/v1/panels/{panel_id}", 404, None),
        ("patch", "/api/v1/site", "/api/v1/site", 200, {"name": "N"}),
        (
            "patch",
            "/api/v1/panels/spare",
            "/api/v1/panels/{panel_id}",
            200,
            {"breaker_a": 125},
        ),
        (
            "patch",
            "/api/v1/chargers/CP-1",
            "/api/v1/chargers/{charger_id}",
            400,
            {"limit_a": 1},
        ),
        ("post", "/api/v1/chargers", "/api/v1/chargers", 409, {"id": "CP-1"}),
        ("get", "/api/v1/health", "/api/v1/health", 200, None),
    ],
)
async def test_responses_match_the_documented_schemas(
    api: TestClient[Any, Any],
    document: dict[str, Any],
    case: tuple[str, str, str, int, Any],
) -> None:
    method, url, path, status, body = case
    resp = await api.request(method.upper(), url, json=body)
    assert resp.status == status
    validator = _response_validator(document, path, method, status)
    validator.validate(await resp.json())
    # The schema constrains something: a made-up body does not pass.
    assert not validator.is_valid({"unexpected": True})
