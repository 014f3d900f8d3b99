"""Token authentication and roles on a real aiohttp server with tokens in a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.models import tokens_table
from ivr.db.tokens import SqlTokenStore, TokenError
from ivr.domain.access import Role
from ivr.web.auth import auth_middleware, principal, public, requires


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlTokenStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
    await upgrade(url)
    engine = create_engine(url)
    yield SqlTokenStore(engine)
    await engine.dispose()


@pytest.fixture
async def client(store: SqlTokenStore) -> AsyncIterator[TestClient]:
    @public
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @requires(Role.SUPERVISOR)
    async def figures(request: web.Request) -> web.Response:
        return web.json_response({"who": principal(request).name})

    async def undeclared(_request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application(middlewares=[auth_middleware(store)])
    app.router.add_get("/health", health)
    app.router.add_get("/figures", figures)
    app.router.add_get("/undeclared", undeclared)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_health_is_public(client: TestClient) -> None:
    assert (await client.get("/health")).status == 200


async def test_no_or_bad_token_is_401(client: TestClient) -> None:
    response = await client.get("/figures")
    assert response.status == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    assert (await response.json())["error"]
    assert (await client.get("/figures", headers=bearer("nope"))).status == 401
    assert (await client.get("/figures", headers={"Authorization": "Basic eDp5"})).status == 401


async def test_roles_are_least_privilege(client: TestClient, store: SqlTokenStore) -> None:
    supervisor = await store.create("sup-li", Role.SUPERVISOR)
    agent = await store.create("agent-1024", Role.AGENT, job_number="1024")
    admin = await store.create("admin", Role.ADMIN)
    response = await client.get("/figures", headers=bearer(supervisor))
    assert response.status == 200 and (await response.json()) == {"who": "sup-li"}
    assert (await client.get("/figures", headers=bearer(agent))).status == 403
    assert (await client.get("/figures", headers=bearer(admin))).status == 200
    # a route that declares no roles is admin-only: forgetting fails closed
    assert (await client.get("/undeclared", headers=bearer(supervisor))).status == 403
    assert (await client.get("/undeclared", headers=bearer(admin))).status == 200


async def test_revoked_tokens_stop_working(client: TestClient, store: SqlTokenStore) -> None:
    token = await store.create("integration-wo", Role.INTEGRATION)
    assert await store.authenticate(token) is not None
    assert await store.revoke("integration-wo")
    assert (await client.get("/figures", headers=bearer(token))).status == 401
    assert not await store.revoke("integration-wo")


async def test_only_hashes_are_stored(store: SqlTokenStore) -> None:
    token = await store.create("sup-wang", Role.SUPERVISOR)
    async with store._engine.connect() as conn:
        stored = (await conn.execute(select(tokens_table))).all()
    assert token not in repr(stored) and len(stored[0].token_sha256) == 64


async def test_bad_token_requests_are_refused(store: SqlTokenStore) -> None:
    with pytest.raises(TokenError, match="exists"):
        await store.create("x", Role.ADMIN)
        await store.create("x", Role.ADMIN)
    with pytest.raises(TokenError, match="job number"):
        await store.create("agent", Role.AGENT)
    with pytest.raises(TokenError, match="name"):
        await store.create("bad name; drop table", Role.ADMIN)
    assert await store.authenticate("x" * 10_000) is None
