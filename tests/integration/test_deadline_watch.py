"""The time-limit watch on a real database (SQLite and PostgreSQL): orders made through the
work-order store with a controllable clock get their warnings and breaches exactly once, even
with two watches (two bridges, two engines) looking at the same moment; the running watch
sleeps until the next moment, wakes when poked, and survives a database that fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.calendar_cn import china_is_workday
from ivr.db.alert_models import alerts_table
from ivr.db.alerts import SqlAlerts
from ivr.db.deadline_source import SqlDeadlineSource
from ivr.db.dispatch_store import SqlDispatch
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.deadline_watch import WarningPolicy
from ivr.domain.dispatch import DispatchPolicy
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import CustomerClass, OrderKind
from ivr.services.deadline_watch import DeadlineWatch, WatchTiming

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, delta: timedelta) -> None:
        self.now = T0 + delta


def new_order(kind: OrderKind, customer_class: CustomerClass | None = None) -> NewOrder:
    return NewOrder(
        kind=kind,
        customer_class=customer_class,
        owner_job_number="1024",
        customer_surname="王",
        customer_title="先生",
        customer_phone=PhoneNumber("13800138000"),
        summary="整栋楼停电",
    )


async def crew_accepts(engine: AsyncEngine, clock: Clock, order_no: str) -> None:
    """A crew's 接令 (recorded: the only thing that meets a repair's dispatch limit)."""
    dispatch = SqlDispatch(engine, SqlDutyRoster(engine, clock), DispatchPolicy(), clock)
    await dispatch.record_acceptance(order_no, "crew", "电台接令", None)


class Bridge:
    """What one bridge has for the watch: its own engine, sink and watch."""

    def __init__(self, url: str, clock: Clock, policy: WarningPolicy) -> None:
        self.engine = create_engine(url)
        self.alerts = SqlAlerts(self.engine, clock)
        self.watch = DeadlineWatch(SqlDeadlineSource(self.engine), self.alerts, policy, clock)


@pytest.fixture
async def two(db_url: str) -> AsyncIterator[tuple[SqlWorkOrders, Bridge, Bridge, Clock]]:
    clock = Clock()
    a, b = Bridge(db_url, clock, WarningPolicy()), Bridge(db_url, clock, WarningPolicy())
    orders = SqlWorkOrders(a.engine, china_is_workday, CallbackPolicy(), clock)
    yield orders, a, b, clock
    await a.engine.dispose()
    await b.engine.dispose()


async def stored(engine: AsyncEngine) -> list[dict[str, Any]]:
    query = select(alerts_table).order_by(alerts_table.c.id)
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(query)).all()]


async def both(a: Bridge, b: Bridge) -> int:
    rounds = await asyncio.gather(a.watch.run_once(), b.watch.run_once())
    return sum(r.raised for r in rounds)


async def test_two_watches_raise_each_warning_and_breach_exactly_once(two) -> None:  # type: ignore[no-untyped-def]
    orders, a, b, clock = two
    repair, _ = await orders.create(new_order(OrderKind.REPAIR), "test", None)
    on_time, _ = await orders.create(new_order(OrderKind.REPAIR), "test", None)
    late, _ = await orders.create(new_order(OrderKind.REPAIR), "test", None)
    complaint, _ = await orders.create(new_order(OrderKind.COMPLAINT), "test", None)
    first = await a.watch.run_once()
    assert first.raised == 0 and first.next_at == T0 + timedelta(minutes=3)

    clock.at(timedelta(minutes=2))
    await crew_accepts(a.engine, clock, on_time.order_no)  # in time
    clock.at(timedelta(minutes=3) - timedelta(seconds=1))
    assert await both(a, b) == 0
    clock.at(timedelta(minutes=3))
    assert await both(a, b) == 2  # repair and late: one warning each, whichever watch was first
    clock.at(timedelta(minutes=4))
    assert await both(a, b) == 0
    clock.at(timedelta(minutes=5))
    assert await both(a, b) == 2  # both breached at the limit
    clock.at(timedelta(minutes=6))
    await crew_accepts(a.engine, clock, late.order_no)  # met late
    assert await both(a, b) == 0  # its breach exists already: nothing twice
    # its warning needs nobody now: settled by the watch; the repair's stays open, and breaches
    # stay open until a person acknowledges them
    open_now = {(r["order_no"], r["level"]) for r in await a.alerts.list()}
    assert open_now == {(repair.order_no, "warning"), (repair.order_no, "breach"),
                        (late.order_no, "breach")}  # fmt: skip
    [settled] = await a.alerts.list(acknowledged=True)
    assert settled["order_no"] == late.order_no and settled["level"] == "warning"
    assert settled["acknowledged_by"] == "watch:limit met"
    rid, oid, lid, cid = await order_ids(
        a.engine, repair.order_no, on_time.order_no, late.order_no, complaint.order_no
    )
    assert sorted(r["key"] for r in await stored(a.engine)) == sorted(
        f"deadline:{i}:dispatch:{level}" for i in (rid, lid) for level in ("warning", "breach")
    )
    # the complaint's pass_on (24 h): warned at 18 h (25 % of the window), breached at 24 h
    clock.at(timedelta(hours=18) - timedelta(seconds=1))
    assert await both(a, b) == 0
    clock.at(timedelta(hours=18))
    assert await both(a, b) == 1
    clock.at(timedelta(hours=24))
    assert await both(a, b) == 1
    rows = await stored(a.engine)
    assert {(r["deadline"], r["level"]) for r in rows if r["order_id"] == cid} == {
        ("pass_on", "warning"),
        ("pass_on", "breach"),
    }
    assert oid not in {r["order_id"] for r in rows}
    assert len(rows) == len({r["key"] for r in rows}) == 6
    for row in rows:  # no personal data in what goes to dashboards and webhooks
        assert "13800138000" not in row["message"] and "王" not in row["message"]
        assert row["raised_at"] in (
            T0 + timedelta(minutes=3), T0 + timedelta(minutes=5),
            T0 + timedelta(hours=18), T0 + timedelta(hours=24),
        )  # fmt: skip


async def test_a_deadline_met_late_between_two_looks_is_one_breach(two) -> None:  # type: ignore[no-untyped-def]
    orders, a, b, clock = two
    order, _ = await orders.create(new_order(OrderKind.REPAIR), "test", None)
    clock.at(timedelta(minutes=6, seconds=30))  # nobody looked at 3 or 5 minutes
    await crew_accepts(a.engine, clock, order.order_no)
    clock.at(timedelta(minutes=10))
    assert await both(a, b) == 1
    [row] = await stored(a.engine)
    assert row["level"] == "breach" and "met 1 min late" in row["message"]
    assert row["details"]["late_by_s"] == "90"
    assert await both(a, b) == 0


async def test_residential_connection_warns_at_its_target(two) -> None:  # type: ignore[no-untyped-def]
    orders, a, b, clock = two
    view, _ = await orders.create(
        new_order(OrderKind.CONNECTION, CustomerClass.RESIDENTIAL), "test", None
    )
    [deadline] = view.deadlines
    target, due = deadline["target_at"], deadline["due_at"]
    assert (await a.watch.run_once()).next_at is None  # days away: not even read now
    clock.now = target - timedelta(seconds=20)  # within the watch's 30 s look-ahead
    assert (await a.watch.run_once()).next_at == target
    clock.now = target - timedelta(seconds=1)
    assert await both(a, b) == 0
    clock.now = target
    assert await both(a, b) == 1
    [warning] = await stored(a.engine)
    assert "target passed" in warning["message"]
    assert (await a.watch.run_once()).next_at == due


async def test_provisional_deadlines_are_flagged(db_url: str) -> None:
    clock = Clock(datetime(2027, 3, 1, 1, 0, tzinfo=UTC))  # a year the calendar does not know
    bridge = Bridge(db_url, clock, WarningPolicy())
    orders = SqlWorkOrders(bridge.engine, china_is_workday, CallbackPolicy(), clock)
    try:
        view, _ = await orders.create(new_order(OrderKind.METER_TEST), "test", None)
        [deadline] = view.deadlines
        assert deadline["provisional"] is True
        clock.now = deadline["due_at"] - timedelta(hours=24)  # max_lead: a day before
        assert (await bridge.watch.run_once()).raised == 1
        [row] = await stored(bridge.engine)
        assert row["details"]["provisional"] == "true" and "provisional" in row["message"]
        assert (await bridge.alerts.list())[0]["provisional"] is True
    finally:
        await bridge.engine.dispose()


async def test_the_running_watch_sleeps_to_the_moment_and_wakes_when_poked(
    sqlite_url: str,
) -> None:
    """Real time: the watch sleeps up to 60 s, so only its own wake-up moment or a poke can
    make it raise within a few seconds."""
    clock = datetime.now
    policy = WarningPolicy(leads={"dispatch": timedelta(seconds=298)})  # warn 2 s after create
    engine = create_engine(sqlite_url)
    alerts = SqlAlerts(engine, lambda: clock(UTC))
    orders = SqlWorkOrders(engine, china_is_workday, CallbackPolicy(), lambda: clock(UTC))
    watch = DeadlineWatch(
        SqlDeadlineSource(engine), alerts, policy, lambda: clock(UTC), WatchTiming(max_sleep_s=60)
    )
    try:
        await orders.create(new_order(OrderKind.REPAIR), "test", None)
        watch.start()  # sees the order: sleeps until its warning moment, 2 s from now
        await until(lambda: count(engine), 10, "the warning at its moment")
        await asyncio.sleep(0.5)  # sleeping now until the breach, 5 min away
        await orders.create(new_order(OrderKind.REPAIR), "test", None)
        watch.poke()  # a new order: look again now, learn its moment
        await until(lambda: count(engine, 2), 10, "the new order's warning")
    finally:
        await watch.stop()
        await engine.dispose()


async def test_the_watch_survives_a_failing_database_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"  # not migrated yet: every read fails
    engine = create_engine(url)
    now = lambda: datetime.now(UTC)  # noqa: E731
    policy = WarningPolicy(leads={"dispatch": timedelta(seconds=299)})
    watch = DeadlineWatch(
        SqlDeadlineSource(engine), SqlAlerts(engine, now), policy, now,
        WatchTiming(max_sleep_s=1.0, retry_s=0.1),
    )  # fmt: skip
    try:
        with caplog.at_level(logging.ERROR, logger="ivr.services.deadline_watch"):
            watch.start()
            await until(lambda: _logged(caplog, "round failed"), 10, "a failed round logged")
            await upgrade(url)  # the database comes back
            orders = SqlWorkOrders(engine, china_is_workday, CallbackPolicy(), now)
            await orders.create(new_order(OrderKind.REPAIR), "test", None)
            await until(lambda: count(engine), 10, "the warning after the database came back")
    finally:
        await watch.stop()
        await engine.dispose()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


async def count(engine: AsyncEngine, at_least: int = 1) -> bool:
    return len(await stored(engine)) >= at_least


async def until(check: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.1)


async def order_ids(engine: AsyncEngine, *order_nos: str) -> list[int]:
    from ivr.db.workorder_models import orders_table

    async with engine.connect() as conn:
        found = dict((await conn.execute(select(orders_table.c.order_no, orders_table.c.id))).all())
    return [found[n] for n in order_nos]
