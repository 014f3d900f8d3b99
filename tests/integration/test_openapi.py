"""The OpenAPI document served by the real web app: every /api route of its router is in it,
with the roles the handler declares, and it validates as OpenAPI 3.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from ivr.domain.access import Role
from ivr.web.auth import route_roles
from ivr.web.openapi import OPERATIONS, SPEC_PATH, build_spec
from tests.integration.api_app import Api, api_app


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path) as found:
        yield found


def api_routes(api: Api) -> dict[tuple[str, str], frozenset[Role] | None]:
    found = {}
    for route in api.client.server.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method not in ("HEAD", "OPTIONS") and path.startswith("/api/"):
            found[(route.method, path)] = route_roles(route.handler)
    return found


async def fetch_spec(api: Api, role: Role) -> dict:  # type: ignore[type-arg]
    response = await api.client.get(SPEC_PATH, headers=api.auth(role))
    assert response.status == 200
    return await response.json()  # type: ignore[no-any-return]


async def test_every_api_route_is_in_the_served_document_and_it_validates(api: Api) -> None:
    spec = await fetch_spec(api, Role.AGENT)
    validate(spec)  # raises on an invalid document
    routes = api_routes(api)
    assert len(routes) > 30
    listed = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert listed == set(routes)
    for (method, path), roles in routes.items():
        op = spec["paths"][path][method.lower()]
        assert "x-undocumented" not in op, (method, path)  # a summary and parameters written
        declared = {r.value for r in roles} | {"admin"} if roles is not None else {"public"}
        assert set(op["x-roles"]) == declared, (method, path)
        if roles is None:  # the workspace's WebSocket: authenticated by its first message
            assert op["security"] == [] and path == "/api/agents/me/events"
        for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
            assert any(p["in"] == "path" and p["name"] == name for p in op["parameters"])
    assert set(OPERATIONS) == set(routes), "OPERATIONS names a route the app does not have"


async def test_request_bodies_are_the_handlers_pydantic_models(api: Api) -> None:
    spec = await fetch_spec(api, Role.SUPERVISOR)
    create = spec["paths"]["/api/work-orders"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False  # StrictIn: unknown fields refused
    assert {"kind", "customer", "summary"} <= set(schema["required"])
    assert {p["name"] for p in create["parameters"]} == {"Idempotency-Key"}
    assert "422" in create["responses"] and "401" in create["responses"]


async def test_the_do_not_call_list_is_documented_for_supervisors(api: Api) -> None:
    spec = await fetch_spec(api, Role.SUPERVISOR)
    routes = spec["paths"]["/api/do-not-call"]
    assert set(routes) == {"get", "post", "delete"}
    for op in routes.values():
        assert set(op["x-roles"]) == {"supervisor", "admin"}
    add = routes["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][add.rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"phone", "request"}  # the customer's request, always
    assert "do_not_call" in spec["paths"]["/api/work-orders/{order_no}"]["patch"]["summary"]


async def test_the_document_needs_a_token_of_any_role(api: Api) -> None:
    assert (await api.client.get(SPEC_PATH)).status == 401
    for role in Role:
        assert (await api.client.get(SPEC_PATH, headers=api.auth(role))).status == 200


def test_a_broken_document_is_refused_by_the_validator() -> None:
    """The validator is not a formality: a path parameter missing from its operation fails."""
    from aiohttp import web

    app = web.Application()

    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/work-orders/{order_no}", handler)
    spec = build_spec(app)
    validate(spec)
    del spec["paths"]["/api/work-orders/{order_no}"]["get"]["parameters"]
    with pytest.raises(OpenAPIValidationError):
        validate(spec)
