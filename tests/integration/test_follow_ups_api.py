"""The supervisor's follow-up API on a real aiohttp server over a real database (SQLite and
PostgreSQL). Follow-ups are made the way production makes them: a closed repair's callback is
claimed and fails until it is flagged for a human, or is answered by a dissatisfied customer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from ivr.calendar_cn import china_is_workday
from ivr.db.callback_store import SqlCallbacks
from ivr.db.do_not_call import SqlDoNotCall
from ivr.db.engine import create_engine
from ivr.db.follow_ups import SqlFollowUps
from ivr.db.tokens import SqlTokenStore
from ivr.db.workorder_models import attempts_table, dialer_state_table, tasks_table
from ivr.db.workorders import NewOrder, OrderConflict, SqlWorkOrders
from ivr.domain.access import Role
from ivr.domain.callbacks import (
    AttemptResult,
    CallbackPolicy,
    CallingWindow,
    Conversation,
    RetryPolicy,
)
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind, OrderStatus
from ivr.web import follow_ups_api
from ivr.web.auth import auth_middleware

POLICY = CallbackPolicy(
    window=CallingWindow(time(8), time(20)),
    retry=RetryPolicy(2, (timedelta(minutes=10),)),
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing

    def __call__(self) -> datetime:
        return self.now


class Env:
    def __init__(self, client: TestClient, tokens: dict[str, str], clock: Clock, engine: Any):
        self.client, self.tokens, self.clock, self.engine = client, tokens, clock, engine
        self.orders = SqlWorkOrders(engine, china_is_workday, POLICY, clock)
        self.callbacks = SqlCallbacks(engine, POLICY, clock)

    def headers(self, role: str = "supervisor") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def get(self, url: str, role: str = "supervisor") -> tuple[int, Any]:
        response = await self.client.get(url, headers=self.headers(role))
        return response.status, await response.json()

    async def post(self, url: str, body: Any, role: str = "supervisor") -> tuple[int, Any]:
        response = await self.client.post(url, json=body, headers=self.headers(role))
        return response.status, await response.json()

    async def closed_repair(self, phone: str = "13800138000") -> str:
        new = NewOrder(OrderKind.REPAIR, None, "1024", "王", "先生", PhoneNumber(phone), "停电")
        view, _ = await self.orders.create(new, "test", None)
        await self.orders.close(view.order_no, "已修复", "test", None)
        return view.order_no

    async def fail_once(self, result: AttemptResult = AttemptResult.NO_ANSWER) -> None:
        [claim] = await self.callbacks.claim("bridge", 3, 0.0, 30, 10)
        await self.callbacks.originate_failed(claim.action_id, result, result.value)
        self.clock.now += timedelta(minutes=11)

    async def flagged(self) -> str:
        """A repair whose callback rang out twice (the maximum): flagged for a human."""
        order_no = await self.closed_repair()
        await self.fail_once()
        await self.fail_once()
        return order_no

    async def dissatisfied(self) -> str:
        order_no = await self.closed_repair("13900139000")
        [claim] = await self.callbacks.claim("bridge", 3, 0.0, 30, 10)
        assert await self.callbacks.start_originate(claim.action_id, "bridge", 30)
        await self.callbacks.answered(claim.action_id, "uid-1", 300)
        done = Conversation(AttemptResult.COMPLETED, True, True, False, detail="等太久")
        await self.callbacks.conversation_done(claim.action_id, done)
        self.clock.now += timedelta(minutes=1)
        return order_no

    async def task_of(self, order_no: str) -> Any:
        view = await self.orders.get(order_no)
        return view.callback


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    engine = create_engine(db_url)
    clock = Clock()
    async with engine.begin() as conn:  # the migration stamped the real time
        await conn.execute(update(dialer_state_table).values(next_slot_at=clock.now))
    store = SqlTokenStore(engine)
    tokens = {
        "supervisor": await store.create("sup", Role.SUPERVISOR),
        "admin": await store.create("root", Role.ADMIN),
        "agent": await store.create("agent-1024", Role.AGENT, "1024"),
        "integration": await store.create("wo-system", Role.INTEGRATION),
    }
    app = web.Application(middlewares=[auth_middleware(store)])
    follow_ups_api.add_routes(app, SqlFollowUps(engine, POLICY, clock))
    async with TestClient(TestServer(app)) as client:
        yield Env(client, tokens, clock, engine)
    await engine.dispose()


async def test_only_supervisors_and_admin(env: Env) -> None:
    await env.flagged()
    assert (await env.get("/api/follow-ups"))[0] == 200
    assert (await env.get("/api/follow-ups", "admin"))[0] == 200
    assert (await env.get("/api/follow-ups", "agent"))[0] == 403
    assert (await env.get("/api/follow-ups", "integration"))[0] == 403
    assert (await env.post("/api/follow-ups/1/resolve", {"note": "x"}, "agent"))[0] == 403
    assert (await env.client.get("/api/follow-ups")).status == 401


async def test_lists_open_follow_ups_and_flagged_callbacks(env: Env) -> None:
    flagged_no = await env.flagged()
    unhappy_no = await env.dissatisfied()
    status, body = await env.get("/api/follow-ups")
    assert status == 200
    assert [(f["order_no"], f["reason"], f["flagged"]) for f in body["follow_ups"]] == [
        (flagged_no, "callback_no_answer", True),  # oldest first
        (unhappy_no, "dissatisfied", False),
    ]
    first = body["follow_ups"][0]
    assert first["open"] and first["owner_job_number"] == "1024"
    assert first["callback"]["state"] == "needs_human" and first["callback"]["attempts_made"] == 2
    assert "13800138000" not in str(body) and "王" not in str(body)  # no customer data here
    _, only_flagged = await env.get("/api/follow-ups?flagged=true")
    assert [f["order_no"] for f in only_flagged["follow_ups"]] == [flagged_no]
    _, not_flagged = await env.get("/api/follow-ups?flagged=false")
    assert [f["detail"] for f in not_flagged["follow_ups"]] == ["等太久"]
    for bad in ("state=closed", "flagged=yes", "limit=0", "limit=x"):
        assert (await env.get(f"/api/follow-ups?{bad}"))[0] == 400


async def test_resolve_with_a_note_is_idempotent(env: Env) -> None:
    await env.dissatisfied()
    [follow] = (await env.get("/api/follow-ups"))[1]["follow_ups"]
    url = f"/api/follow-ups/{follow['id']}"
    assert (await env.post(url + "/resolve", {}))[0] == 422  # the note is required
    assert (await env.post(url + "/resolve", {"note": "   "}))[0] == 422
    answers = await asyncio.gather(
        *(env.post(url + "/resolve", {"note": f"已致电道歉 {i}"}) for i in range(3))
    )
    assert [status for status, _ in answers] == [200, 200, 200]
    bodies = [body for _, body in answers]
    assert all(b == bodies[0] for b in bodies)  # one decision; the retries echo it
    resolved = bodies[0]
    assert resolved["resolution"] == "resolved" and resolved["resolved_by"] == "supervisor:sup"
    assert resolved["note"].startswith("已致电道歉") and not resolved["open"]
    assert (await env.get("/api/follow-ups"))[1]["follow_ups"] == []
    _, done = await env.get("/api/follow-ups?state=resolved")
    assert [f["id"] for f in done["follow_ups"]] == [follow["id"]]
    status, conflict = await env.post(url + "/requeue", {})
    assert status == 409 and "already resolved" in conflict["error"]
    assert (await env.get(url))[1] == resolved


async def test_requeue_gives_a_flagged_callback_exactly_one_more_attempt(env: Env) -> None:
    order_no = await env.flagged()
    [follow] = (await env.get("/api/follow-ups?flagged=true"))[1]["follow_ups"]
    url = f"/api/follow-ups/{follow['id']}/requeue"
    answers = await asyncio.gather(*(env.post(url, {"note": "客户说下午在家"}) for _ in range(3)))
    assert [status for status, _ in answers] == [200, 200, 200]
    requeued = answers[0][1]
    assert requeued["resolution"] == "requeued" and not requeued["flagged"]
    assert requeued["callback"]["state"] == "pending"
    task = await env.task_of(order_no)
    assert task["next_attempt_at"] == env.clock.now  # inside the calling window: at once

    claims = await env.callbacks.claim("bridge", 3, 0.0, 30, 10)
    assert len(claims) == 1  # three requests, one attempt
    assert await env.callbacks.claim("bridge", 3, 0.0, 30, 10) == []
    await env.callbacks.originate_failed(claims[0].action_id, AttemptResult.BUSY, "busy")
    # past the retry maximum: flagged for a human again at once, with a new follow-up
    _, again = await env.get("/api/follow-ups?flagged=true")
    [new] = again["follow_ups"]
    assert new["id"] != follow["id"] and new["reason"] == "callback_busy"
    assert new["callback"]["attempts_made"] == 3
    async with env.engine.connect() as conn:
        numbers = (await conn.execute(select(attempts_table.c.attempt_no))).scalars().all()
    assert sorted(numbers) == [1, 2, 3]
    status, conflict = await env.post(f"/api/follow-ups/{follow['id']}/resolve", {"note": "x"})
    assert status == 409 and "already requeued" in conflict["error"]


async def test_requeue_at_night_waits_for_the_calling_window(env: Env) -> None:
    order_no = await env.flagged()
    env.clock.now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Beijing
    [follow] = (await env.get("/api/follow-ups"))[1]["follow_ups"]
    assert (await env.post(f"/api/follow-ups/{follow['id']}/requeue", {}))[0] == 200
    task = await env.task_of(order_no)
    assert task["next_attempt_at"] == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    assert await env.callbacks.claim("bridge", 3, 0.0, 30, 10) == []


async def test_requeue_refused_where_another_call_would_be_wrong(env: Env) -> None:
    await env.dissatisfied()
    flagged_no = await env.flagged()
    phone = PhoneNumber((await env.orders.get(flagged_no)).customer_phone)
    await SqlDoNotCall(env.engine, env.clock).add(phone, "客户要求不再回访", None, "sup")
    by_order = {f["order_no"]: f for f in (await env.get("/api/follow-ups"))[1]["follow_ups"]}
    for order_no, needle in [
        (next(n for n in by_order if n != flagged_no), "callback state: done"),
        (flagged_no, "not to be called again"),
    ]:
        status, body = await env.post(f"/api/follow-ups/{by_order[order_no]['id']}/requeue", {})
        assert status == 409 and needle in body["error"]
    async with env.engine.connect() as conn:
        states = (await conn.execute(select(tasks_table.c.state))).scalars().all()
    assert sorted(states) == ["done", "needs_human"]  # nothing moved
    assert (await env.get("/api/follow-ups"))[1]["follow_ups"][0]["open"]


async def test_unknown_or_malformed_ids(env: Env) -> None:
    assert (await env.get("/api/follow-ups/999"))[0] == 404
    assert (await env.get("/api/follow-ups/abc"))[0] == 404
    assert (await env.post("/api/follow-ups/999/resolve", {"note": "x"}))[0] == 404
    assert (await env.post("/api/follow-ups/999/requeue", {}))[0] == 404
    response = await env.client.post("/api/follow-ups/1/resolve", data="{", headers=env.headers())
    assert response.status == 400


async def test_a_flagged_callback_blocks_archiving_until_its_follow_up_is_settled(
    env: Env,
) -> None:
    order_no = await env.flagged()
    with pytest.raises(OrderConflict, match="still owes its callback"):
        await env.orders.update(order_no, "sup", status=OrderStatus.ARCHIVED)
    [follow] = (await env.get("/api/follow-ups"))[1]["follow_ups"]
    await env.post(f"/api/follow-ups/{follow['id']}/resolve", {"note": "已人工回访"})
    archived = await env.orders.update(order_no, "sup", status=OrderStatus.ARCHIVED)
    assert archived.status == "archived"
