"""Provisional deadlines recomputed on a real database (SQLite and PostgreSQL) once the calendar
knows their year: orders made on Monday 28 Dec 2026 through the work-order store reach 2027,
which chinesecalendar 1.11 does not know; a (MADE UP, not the State Council's) 2027 schedule then
makes them exact. Met and exact deadlines stay, a second run changes nothing, two bridges at once
record each change once, and the watch's alerts follow the new due time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.calendar_cn import china_is_workday
from ivr.db.alert_models import alerts_table
from ivr.db.alerts import SqlAlerts
from ivr.db.deadline_source import SqlDeadlineSource
from ivr.db.engine import create_engine, writer
from ivr.db.recompute import SqlDeadlineRecompute
from ivr.db.workorder_models import deadlines_table, history_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.deadline_watch import WarningPolicy
from ivr.domain.holidays import combined, parse_schedule
from ivr.domain.phone import PhoneNumber
from ivr.domain.recompute import RecomputeResult
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import CustomerClass, OrderKind, deadlines_for
from ivr.services.deadline_watch import DeadlineWatch

T0 = datetime(2026, 12, 28, 9, 0, tzinfo=CHINA)  # Monday
OLD_DUE = datetime(2027, 1, 5, tzinfo=CHINA)  # 5 working days, 1 Jan and 4 Jan counted (guess)
NEW_DUE = datetime(2027, 1, 7, tzinfo=CHINA)  # with the made-up 2027: 1 and 4 Jan off
# MADE UP for the tests: Fri 1 Jan and Mon 4 Jan off, Sat 9 Jan worked
FAKE_2027 = parse_schedule(
    {"2027": {"holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-09"]}}
)
KNOWN = combined(FAKE_2027, china_is_workday)
POLICY = WarningPolicy()  # warns 24 h before these limits


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def new_order(kind: OrderKind, customer_class: CustomerClass | None = None) -> NewOrder:
    return NewOrder(
        kind=kind,
        customer_class=customer_class,
        owner_job_number="1024",
        customer_surname="王",
        customer_title="女士",
        customer_phone=PhoneNumber("13800138000"),
        summary="投诉：多次停电",
    )


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[tuple[AsyncEngine, SqlWorkOrders, Clock]]:
    clock = Clock()
    engine = create_engine(db_url)
    # orders made while 2027 is unknown: what the bridge stores today
    yield engine, SqlWorkOrders(engine, china_is_workday, CallbackPolicy(), clock), clock
    await engine.dispose()


def recomputer(engine: AsyncEngine, clock: Clock) -> SqlDeadlineRecompute:
    return SqlDeadlineRecompute(engine, KNOWN, POLICY, clock)


async def deadlines_of(engine: AsyncEngine, order_no: str) -> dict[str, Any]:
    query = (
        select(deadlines_table)
        .join(orders_table, orders_table.c.id == deadlines_table.c.order_id)
        .where(orders_table.c.order_no == order_no)
    )
    async with engine.connect() as conn:
        return {r.name: r for r in (await conn.execute(query)).all()}


async def calendar_history(engine: AsyncEngine) -> list[Any]:
    query = select(history_table).where(history_table.c.actor == "calendar")
    async with engine.connect() as conn:
        return list((await conn.execute(query.order_by(history_table.c.id))).all())


async def test_open_provisional_deadlines_become_exact_and_nothing_else_moves(env) -> None:  # type: ignore[no-untyped-def]
    engine, orders, clock = env
    open_complaint, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    closed, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    consultation, _ = await orders.create(new_order(OrderKind.CONSULTATION), "agent:1024", None)
    business, _ = await orders.create(
        new_order(OrderKind.BUSINESS, CustomerClass.HIGH_VOLTAGE_DUAL), "agent:1024", None
    )
    clock.now = T0 + timedelta(hours=1)
    await orders.close(closed.order_no, "已处理", "agent:1024", None)  # reply met; callback open
    before = {o.order_no: await deadlines_of(engine, o.order_no) for o in (consultation, closed)}
    assert before[closed.order_no]["reply"].provisional  # met while provisional: history

    clock.now = T0 + timedelta(days=2)
    result = await recomputer(engine, clock).recompute()
    assert result == RecomputeResult(checked=3, orders=3, deadlines=4, exact=4, superseded=0)

    a = await deadlines_of(engine, open_complaint.order_no)
    for name in ("reply", "callback"):
        assert (a[name].due_at, a[name].provisional, a[name].revision) == (NEW_DUE, False, 1)
    assert (a["contact"].revision, a["contact"].provisional) == (0, False)  # exact: untouched
    b = await deadlines_of(engine, closed.order_no)
    assert b["reply"] == before[closed.order_no]["reply"]  # met: left as it was
    assert (b["callback"].due_at, b["callback"].provisional) == (NEW_DUE, False)
    async with engine.connect() as conn:
        due_by = (
            await conn.execute(
                select(tasks_table.c.due_by).where(tasks_table.c.order_id == b["callback"].order_id)
            )
        ).scalar_one()
    assert due_by == NEW_DUE  # the callback task is due by the moved limit
    assert await deadlines_of(engine, consultation.order_no) == before[consultation.order_no]
    [plan] = (await deadlines_of(engine, business.order_no)).values()
    # 30 working days: 29-31 Dec, then 5-8 Jan, Sat 9 Jan (made-up 调休) … 9 Feb
    assert plan.due_at == datetime(2027, 2, 10, tzinfo=CHINA) and not plan.provisional
    [fresh] = deadlines_for(OrderKind.BUSINESS, CustomerClass.HIGH_VOLTAGE_DUAL, T0, KNOWN)
    assert plan.due_at == fresh.due_at  # the same as creating it with the calendar known

    # a supervisor sees what moved in the order's history
    view = await orders.get(open_complaint.order_no)
    notes = [h["note"] for h in view.history if h.get("actor") == "calendar"]
    assert sorted(notes) == [
        f"{name} due 2027-01-05 00:00 → 2027-01-07 00:00 (recomputed: calendar year now known; "
        "exact)"
        for name in ("callback", "reply")
    ]
    assert all(not d["provisional"] for d in view.deadlines)
    assert len(await calendar_history(engine)) == 4

    again = await recomputer(engine, clock).recompute()  # idempotent
    assert again == RecomputeResult()
    assert len(await calendar_history(engine)) == 4
    assert (await deadlines_of(engine, open_complaint.order_no))["reply"].revision == 1


async def test_a_year_still_unknown_changes_nothing(env) -> None:  # type: ignore[no-untyped-def]
    engine, orders, clock = env
    order, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    before = await deadlines_of(engine, order.order_no)
    result = await SqlDeadlineRecompute(engine, china_is_workday, POLICY, clock).recompute()
    assert result == RecomputeResult(checked=1)
    assert await deadlines_of(engine, order.order_no) == before
    assert await calendar_history(engine) == []


async def test_two_bridges_recomputing_at_once_record_each_change_once(db_url: str) -> None:
    clock = Clock()
    first, second = create_engine(db_url), create_engine(db_url)
    try:
        orders = SqlWorkOrders(first, china_is_workday, CallbackPolicy(), clock)
        made = [
            (await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None))[0]
            for _ in range(30)
        ]
        results = await asyncio.gather(
            recomputer(first, clock).recompute(), recomputer(second, clock).recompute()
        )
        assert sum(r.deadlines for r in results) == 60  # reply and callback of each, once
        assert sum(r.orders for r in results) == 30
        lines = await calendar_history(first)
        assert len(lines) == 60
        assert len({(h.order_id, h.note.split()[0]) for h in lines}) == 60
        for order in made:
            stored = await deadlines_of(first, order.order_no)
            assert stored["reply"].revision == 1 and stored["reply"].due_at == NEW_DUE
    finally:
        await first.dispose()
        await second.dispose()


# --- alerts raised under the old due time ----------------------------------------------


async def alerts_by_key(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {r.key: r for r in (await conn.execute(select(alerts_table))).all()}


def four_keys(order_id: int) -> list[str]:
    """The warning and breach of the complaint's reply and callback limits."""
    levels = ("warning", "breach")
    return [f"deadline:{order_id}:{n}:{lv}" for n in ("reply", "callback") for lv in levels]


async def test_alerts_the_new_due_time_does_not_justify_are_superseded(env) -> None:  # type: ignore[no-untyped-def]
    engine, orders, clock = env
    order, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    sink = SqlAlerts(engine, clock)
    watch = DeadlineWatch(SqlDeadlineSource(engine), sink, POLICY, clock)
    clock.now = datetime(2027, 1, 4, 12, tzinfo=CHINA)  # 12 h before the provisional limit
    await watch.run_once()
    clock.now = datetime(2027, 1, 5, 12, tzinfo=CHINA)  # 12 h past it
    await watch.run_once()
    oid = (await deadlines_of(engine, order.order_no))["reply"].order_id
    raised = await alerts_by_key(engine)
    assert set(four_keys(oid)) <= set(raised)
    reply_breach = raised[f"deadline:{oid}:reply:breach"]
    await sink.acknowledge(reply_breach.id, "supervisor:张")  # a person had seen it already

    result = await recomputer(engine, clock).recompute()
    # new limit 00:00 7 Jan, warning from 00:00 6 Jan: none of the four is right any more
    assert result.superseded == 4
    after = await alerts_by_key(engine)
    for name in ("reply", "callback"):
        for level in ("warning", "breach"):
            row = after[f"deadline:{oid}:{name}:{level}"]
            assert row.superseded_at == clock.now and row.acknowledged_at is not None
    assert after[f"deadline:{oid}:reply:breach"].acknowledged_by == "supervisor:张"  # kept
    assert after[f"deadline:{oid}:callback:warning"].acknowledged_by == "calendar:recomputed"
    for name in ("pass_on", "contact"):  # exact limits, really broken: untouched and open
        row = after[f"deadline:{oid}:{name}:breach"]
        assert row.superseded_at is None and row.acknowledged_at is None
    assert {a["deadline"] for a in await sink.list()} == {"pass_on", "contact"}

    assert (await watch.run_once()).raised == 0  # not at risk under the new due time
    clock.now = datetime(2027, 1, 6, 0, tzinfo=CHINA)
    assert (await watch.run_once()).raised == 2  # the new warnings, under new keys
    clock.now = NEW_DUE
    assert (await watch.run_once()).raised == 2  # and the new breaches
    assert (await watch.run_once()).raised == 0
    final = await alerts_by_key(engine)
    new = {k for k in final if k.endswith(":r1")}
    assert new == {f"{k}:r1" for k in four_keys(oid)}
    assert final[f"deadline:{oid}:reply:breach:r1"].due_at == NEW_DUE
    assert final[f"deadline:{oid}:reply:breach:r1"].details["revision"] == "1"
    assert (await recomputer(engine, clock).recompute()).superseded == 0  # nothing twice


async def test_a_warning_still_right_is_kept_and_not_raised_twice(env) -> None:  # type: ignore[no-untyped-def]
    engine, orders, clock = env
    order, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    watch = DeadlineWatch(SqlDeadlineSource(engine), SqlAlerts(engine, clock), POLICY, clock)
    clock.now = datetime(2027, 1, 4, 12, tzinfo=CHINA)
    await watch.run_once()  # warnings
    clock.now = datetime(2027, 1, 5, 12, tzinfo=CHINA)
    await watch.run_once()  # breaches of the provisional limit
    clock.now = datetime(2027, 1, 6, 12, tzinfo=CHINA)  # at risk under the new limit too
    result = await recomputer(engine, clock).recompute()
    assert result.superseded == 2  # the two breaches; the two warnings still hold
    oid = (await deadlines_of(engine, order.order_no))["reply"].order_id
    after = await alerts_by_key(engine)
    warning = after[f"deadline:{oid}:reply:warning"]
    assert warning.superseded_at is None and warning.acknowledged_at is None
    assert (await watch.run_once()).raised == 0  # no second warning under the new key
    clock.now = NEW_DUE
    assert (await watch.run_once()).raised == 2  # reply and callback breaches, :r1
    assert f"deadline:{oid}:reply:breach:r1" in await alerts_by_key(engine)
    assert f"deadline:{oid}:reply:warning:r1" not in await alerts_by_key(engine)


async def test_nothing_to_change_takes_no_write_lock(env) -> None:  # type: ignore[no-untyped-def]
    """While the year is still unknown every bridge start finds the same provisional orders;
    it must only read them. Another transaction holds the write lock (SQLite's writer, every
    order row on PostgreSQL) the whole time: a recompute that took it would wait, then fail."""
    engine, orders, clock = env
    view, _ = await orders.create(new_order(OrderKind.COMPLAINT), "agent:1024", None)
    still_unknown = SqlDeadlineRecompute(engine, china_is_workday, POLICY, clock)
    other = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        async with writer(other).begin() as conn:
            await conn.execute(update(orders_table).values(updated_at=orders_table.c.updated_at))
            result = await asyncio.wait_for(still_unknown.recompute(), 20)
    finally:
        await other.dispose()
    assert (result.checked, result.deadlines) == (1, 0)
    assert await calendar_history(engine) == []
    assert (await deadlines_of(engine, view.order_no))["reply"].provisional
