"""Callback claims, leases and results in a real database (SQLite and PostgreSQL), with a clock
the test moves: the global live-call limit, rate slots, lease recovery without doubling, results
applied exactly once, and two claimers racing on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select, update

from ivr.calendar_cn import china_is_workday
from ivr.db.callback_store import SqlCallbacks
from ivr.db.engine import create_engine
from ivr.db.workorder_models import (
    attempts_table,
    dialer_state_table,
    follow_ups_table,
    orders_table,
    tasks_table,
)
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.callbacks import (
    AttemptResult,
    CallbackPolicy,
    CallingWindow,
    Conversation,
    RetryPolicy,
)
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing

    def __call__(self) -> datetime:
        return self.now


POLICY = CallbackPolicy(
    window=CallingWindow(time(8), time(20)),
    retry=RetryPolicy(2, (timedelta(minutes=10),)),
)


@pytest.fixture
async def setup(db_url: str) -> AsyncIterator[tuple[SqlWorkOrders, SqlCallbacks, Clock, object]]:
    engine = create_engine(db_url)
    clock = Clock()
    async with engine.begin() as conn:  # the migration stamped the real time
        await conn.execute(update(dialer_state_table).values(next_slot_at=clock.now))
    yield (
        SqlWorkOrders(engine, china_is_workday, POLICY, clock),
        SqlCallbacks(engine, POLICY, clock),
        clock,
        engine,
    )
    await engine.dispose()


async def closed_repairs(orders: SqlWorkOrders, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        new = NewOrder(
            OrderKind.REPAIR, None, "1024", "张", "先生", PhoneNumber(f"1380000{i:04d}"), "停电"
        )
        view, _ = await orders.create(new, "test", None)
        await orders.close(view.order_no, "已修复", "test", None)
        numbers.append(view.order_no)
    return numbers


async def test_live_limit_and_rate_slots(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, clock, _ = setup
    await closed_repairs(orders, 5)
    claims = await callbacks.claim("a", max_live=3, min_gap_s=0.5, lease_s=30, limit=10)
    assert len(claims) == 3
    assert [c.originate_at for c in claims] == [
        clock.now + timedelta(seconds=0.5 * i) for i in range(3)
    ]
    assert await callbacks.claim("b", max_live=3, min_gap_s=0.5, lease_s=30, limit=10) == []
    # the next claim's slot continues after the last one given, even for another bridge
    await callbacks.originate_failed(claims[0].action_id, AttemptResult.BUSY, "busy")
    [more] = await callbacks.claim("b", max_live=3, min_gap_s=0.5, lease_s=30, limit=10)
    assert more.originate_at == clock.now + timedelta(seconds=1.5)


async def test_nothing_before_the_window_opens(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, clock, _ = setup
    clock.now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Beijing
    await closed_repairs(orders, 1)
    assert await callbacks.claim("a", 3, 0.5, 30, 10) == []
    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 next morning
    assert len(await callbacks.claim("a", 3, 0.5, 30, 10)) == 1


async def test_a_task_due_before_closing_is_not_dialled_after_it(setup) -> None:  # type: ignore[no-untyped-def]
    """Calling hours are checked when an attempt is claimed, not only when it is scheduled:
    a task due at 19:59 that a backlog or an AMI outage kept until 20:05 waits for 08:00."""
    orders, callbacks, clock, engine = setup
    clock.now = datetime(2026, 3, 2, 11, 59, tzinfo=UTC)  # 19:59 in Beijing
    await closed_repairs(orders, 1)
    async with engine.begin() as conn:
        await conn.execute(update(tasks_table).values(next_attempt_at=clock.now))
    clock.now = datetime(2026, 3, 2, 12, 5, tzinfo=UTC)  # 20:05: the backlog cleared
    assert await callbacks.claim("a", 3, 0.5, 30, 10) == []
    async with engine.connect() as conn:
        task = (await conn.execute(select(tasks_table))).one()
        placed = (await conn.execute(select(attempts_table))).all()
    assert placed == [] and task.attempts_made == 0
    assert task.next_attempt_at.astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 next morning
    assert len(await callbacks.claim("a", 3, 0.5, 30, 10)) == 1


async def test_a_rate_slot_past_closing_time_is_not_dialled(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, clock, _ = setup
    clock.now = datetime(2026, 3, 2, 11, 59, 59, tzinfo=UTC)  # 19:59:59 in Beijing
    await closed_repairs(orders, 3)
    # slots 0.6 s apart from 19:59:59: 19:59:59.0, 19:59:59.6, 20:00:00.2 (after closing)
    claims = await callbacks.claim("a", 5, 0.6, 30, 10)
    assert len(claims) == 2
    assert all(c.originate_at < datetime(2026, 3, 2, 12, 0, tzinfo=UTC) for c in claims)


async def test_expired_claim_is_given_back_not_doubled(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, clock, engine = setup
    await closed_repairs(orders, 1)
    [claim] = await callbacks.claim("dead", 3, 0.5, lease_s=5, limit=10)
    clock.now += timedelta(seconds=6)
    assert await callbacks.recover() == 1
    [again] = await callbacks.claim("alive", 3, 0.5, lease_s=5, limit=10)
    assert again.action_id != claim.action_id
    # the dead bridge wakes up: its claim is gone, so it cannot dial
    assert not await callbacks.start_originate(claim.action_id, "dead", 30)
    assert await callbacks.start_originate(again.action_id, "alive", 30)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(attempts_table))).all()
        task = (await conn.execute(select(tasks_table))).one()
    assert [(r.attempt_no, r.state) for r in rows] == [(1, "originating")]
    assert task.attempts_made == 1


async def test_lost_originate_counts_as_failed_and_is_retried_later(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, clock, engine = setup
    [order_no] = await closed_repairs(orders, 1)
    [claim] = await callbacks.claim("a", 3, 0.5, 5, 10)
    assert await callbacks.start_originate(claim.action_id, "a", 40)
    clock.now += timedelta(seconds=41)
    assert await callbacks.recover() == 1
    view = await orders.get(order_no)
    assert view.callback["state"] == "pending"
    assert view.callback["attempts"][0]["result"] == "failed"
    assert await callbacks.claim("a", 3, 0.5, 5, 10) == []  # spaced 10 minutes
    clock.now += timedelta(minutes=10)
    [second] = await callbacks.claim("a", 3, 0.5, 5, 10)
    await callbacks.originate_failed(second.action_id, AttemptResult.NO_ANSWER, "rang out")
    await callbacks.originate_failed(second.action_id, AttemptResult.NO_ANSWER, "again")  # dup
    view = await orders.get(order_no)
    assert view.callback["state"] == "needs_human"
    async with engine.connect() as conn:
        reasons = (await conn.execute(select(follow_ups_table.c.reason))).scalars().all()
    assert reasons == ["callback_no_answer"]


async def test_dissatisfied_conversation_writes_back_once(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, _, engine = setup
    [order_no] = await closed_repairs(orders, 1)
    [claim] = await callbacks.claim("a", 3, 0.5, 5, 10)
    await callbacks.start_originate(claim.action_id, "a", 40)
    await callbacks.answered(claim.action_id, "1700000000.1", 600)
    ctx = await callbacks.context(claim.action_id)
    assert ctx is not None and (ctx.surname, ctx.title, ctx.job_number) == ("张", "先生", "1024")
    talk = Conversation(AttemptResult.COMPLETED, True, False, False, None)
    await callbacks.conversation_done(claim.action_id, talk)
    await callbacks.conversation_done(claim.action_id, talk)
    await callbacks.channel_ended("1700000000.1", 15)
    view = await orders.get(order_no)
    assert view.status == "callback_done"
    assert view.callback["state"] == "done" and view.callback["satisfied"] is False
    assert view.callback["attempts"][0]["state"] == "finished"
    async with engine.connect() as conn:
        reasons = sorted((await conn.execute(select(follow_ups_table.c.reason))).scalars())
    assert reasons == ["dissatisfied", "power_not_restored"]


async def test_a_bad_stored_number_is_never_dialled(setup) -> None:  # type: ignore[no-untyped-def]
    orders, callbacks, _, engine = setup
    await closed_repairs(orders, 1)
    async with engine.begin() as conn:  # e.g. imported by hand into the database
        await conn.execute(update(orders_table).values(customer_phone="138,Local/evil"))
    assert await callbacks.claim("a", 3, 0.5, 5, 10) == []
    async with engine.connect() as conn:
        task = (await conn.execute(select(tasks_table))).one()
    assert (task.state, task.result) == ("needs_human", "invalid_phone")


async def test_two_claimers_race(setup, db_url: str) -> None:  # type: ignore[no-untyped-def]
    orders, _, clock, engine = setup
    await closed_repairs(orders, 12)
    engines = [create_engine(db_url) for _ in range(2)]
    try:
        stores = [SqlCallbacks(e, POLICY, clock) for e in engines]
        rounds = await asyncio.gather(
            *(s.claim(f"b{i % 2}", 5, 0.1, 30, 5) for i, s in enumerate(stores * 3))
        )
    finally:
        for e in engines:
            await e.dispose()
    claimed = [c.action_id for r in rounds for c in r]
    assert len(claimed) == 5  # the global limit, not 5 per bridge
    async with engine.connect() as conn:
        rows = (await conn.execute(select(attempts_table.c.task_id))).scalars().all()
    assert len(rows) == len(set(rows)) == 5
