"""API tokens over their life, on SQLite and PostgreSQL behind the real auth middleware: they
expire, rotate with a grace period for the old secret, record their last use, and a source
that keeps presenting bad tokens is made to wait."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.db.engine import create_engine
from ivr.db.tokens import SqlTokenStore, TokenError
from ivr.domain.access import Role
from ivr.domain.auth_throttle import AuthThrottle
from ivr.web.auth import auth_middleware, principal, requires


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        self.now += step
        self.mono += step.total_seconds()


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[tuple[SqlTokenStore, TestClient, Clock]]:
    engine = create_engine(db_url)
    clock = Clock()
    store = SqlTokenStore(engine, clock)

    @requires(Role.SUPERVISOR)
    async def figures(request: web.Request) -> web.Response:
        return web.json_response({"who": principal(request).name})

    throttle = AuthThrottle(free=3, first_s=2.0, cap_s=60.0)
    app = web.Application(middlewares=[auth_middleware(store, throttle, lambda: clock.mono)])
    app.router.add_get("/figures", figures)
    async with TestClient(TestServer(app)) as client:
        yield store, client, clock
    await engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_stops_working_when_it_expires(env) -> None:  # type: ignore[no-untyped-def]
    store, client, clock = env
    token = await store.create("sup-li", Role.SUPERVISOR, lifetime=timedelta(days=30))
    clock.advance(days=29, hours=23)
    assert (await client.get("/figures", headers=bearer(token))).status == 200
    clock.advance(hours=1)
    assert (await client.get("/figures", headers=bearer(token))).status == 401
    [info] = await store.list()
    assert info.expires_at == datetime(2027, 1, 3, 8, 0, tzinfo=UTC)


async def test_rotation_keeps_the_old_secret_only_for_its_grace_period(env) -> None:  # type: ignore[no-untyped-def]
    store, client, clock = env
    old = await store.create("crm", Role.SUPERVISOR)
    new = await store.rotate("crm", grace=timedelta(hours=2))
    assert new != old
    for token in (old, new):
        response = await client.get("/figures", headers=bearer(token))
        assert response.status == 200 and (await response.json()) == {"who": "crm"}
    clock.advance(hours=2)
    assert (await client.get("/figures", headers=bearer(old))).status == 401
    assert (await client.get("/figures", headers=bearer(new))).status == 200
    # without a grace period the old secret dies at once
    newest = await store.rotate("crm")
    assert (await client.get("/figures", headers=bearer(new))).status == 401
    assert (await client.get("/figures", headers=bearer(newest))).status == 200
    [info] = await store.list()
    assert info.rotated_at == clock.now


async def test_a_revoked_or_expired_token_cannot_be_rotated_back_to_life(env) -> None:  # type: ignore[no-untyped-def]
    store, _client, clock = env
    await store.create("a", Role.ADMIN, lifetime=timedelta(days=1))
    await store.create("b", Role.ADMIN)
    assert await store.revoke("b")
    clock.advance(days=2)
    for name in ("a", "b", "nobody"):
        with pytest.raises(TokenError, match="no live token"):
            await store.rotate(name)
    with pytest.raises(TokenError, match="grace"):
        await store.rotate("a", grace=timedelta(days=31))
    with pytest.raises(TokenError, match="lives"):
        await store.create("c", Role.ADMIN, lifetime=timedelta(days=4000))


async def test_last_use_is_recorded_at_most_once_a_minute(env) -> None:  # type: ignore[no-untyped-def]
    store, client, clock = env
    token = await store.create("wallboard", Role.SUPERVISOR)
    [info] = await store.list()
    assert info.last_used_at is None
    assert (await client.get("/figures", headers=bearer(token))).status == 200
    first = clock.now
    clock.advance(seconds=30)
    assert (await client.get("/figures", headers=bearer(token))).status == 200
    assert (await store.list())[0].last_used_at == first
    clock.advance(seconds=31)
    assert (await client.get("/figures", headers=bearer(token))).status == 200
    assert (await store.list())[0].last_used_at == clock.now


async def test_repeated_bad_tokens_from_one_source_are_slowed(env) -> None:  # type: ignore[no-untyped-def]
    store, client, clock = env
    good = await store.create("sup", Role.SUPERVISOR)
    for _ in range(3):  # the free failures
        assert (await client.get("/figures", headers=bearer("guess"))).status == 401
    assert (await client.get("/figures", headers=bearer("guess"))).status == 401  # now waits 2 s
    refused = await client.get("/figures", headers=bearer(good))
    assert refused.status == 429 and refused.headers["Retry-After"] == "2"
    assert "wait" in (await refused.json())["error"]
    clock.advance(seconds=2)
    assert (await client.get("/figures", headers=bearer("guess"))).status == 401  # 4 s now
    clock.advance(seconds=3)
    assert (await client.get("/figures", headers=bearer(good))).status == 429
    clock.advance(seconds=1)
    assert (await client.get("/figures", headers=bearer(good))).status == 200
    # a success clears the source
    assert (await client.get("/figures", headers=bearer("guess"))).status == 401
    assert (await client.get("/figures", headers=bearer(good))).status == 200
