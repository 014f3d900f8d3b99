"""PostgreSQL becomes unavailable for a while under a running bridge (dialer, tracker, journal).

Only this test's own database is touched: ``ALLOW_CONNECTIONS false`` on it and
``pg_terminate_backend`` of its sessions, so every connection fails as if the server had gone;
the shared server and everyone else's databases stay up. While it is down, callbacks fall due:
the dialer must neither crash nor spin, and once the database is back it places each of them
exactly once (one ring per customer on AMI, one completed attempt per task). Call records handed
to the journal during the outage are kept and written once when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from ivr.app import Bridge, callback_policy
from ivr.calendar_cn import china_is_workday
from ivr.config import CallbackSettings
from ivr.db.engine import create_engine
from ivr.db.workorder_models import attempts_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr.flows.inbound import utc_now
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.asterisk_fixtures import dialer_settings, running_bridge

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AGI_PORT = 4578
NUMBERS = [f"1399140{n:04d}" for n in range(1, 4)]
DUE_AFTER_S = 6.0
OUTAGE_S = 15.0


@contextlib.asynccontextmanager
async def database_down(url: str) -> AsyncIterator[None]:
    """This database refuses connections and loses the open ones; back on exit, whatever
    happens. Acts on the test database named in ``url`` only."""
    name = make_url(url).database or ""
    assert name.startswith("ivr_test"), name
    admin = create_engine(make_url(url).set(database="postgres")).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        await admin.dispose()


@pytest.fixture
async def pg_bridge(postgres_url: str, sandbox) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    settings = dialer_settings(sandbox, postgres_url, AGI_PORT, max_concurrent=3, rate_per_s=2)
    async with running_bridge(settings) as bridge:
        yield bridge


def menu_call(n: int) -> CallRecord:
    at = datetime.now(UTC)
    record = CallRecord(uuid.uuid4().hex, f"9.{n}", f"1360000030{n}", "95598", "Local/x", at)
    record.steps.append(CallStep(at, StepKind.PROMPT, "main"))
    return record


async def test_database_outage_dialer_resumes_and_records_are_kept(
    pg_bridge: Bridge, postgres_url: str, ami
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    bridge = pg_bridge
    assert bridge.dialer is not None
    for number in NUMBERS:
        await set_up_customer(client, SimulatedCustomer(number, keys="1wwww1wwww1wwww2", hold_s=5))
    policy = callback_policy(
        CallbackSettings(
            window_start="00:00", window_end="24:00", after_close_hours=DUE_AFTER_S / 3600
        )
    )
    engine = create_engine(postgres_url)
    orders = SqlWorkOrders(engine, china_is_workday, policy, utc_now)
    start = len(events.events)
    calls = [menu_call(n) for n in range(1, 3)]
    try:
        for number in NUMBERS:
            new = NewOrder(
                OrderKind.REPAIR, None, "1024", "李", "先生", PhoneNumber(number), "停电"
            )
            view, _ = await orders.create(new, "test", None)
            await orders.close(view.order_no, "已修复", "test", None)
        due_at = datetime.now(UTC) + timedelta(seconds=DUE_AFTER_S)
        async with database_down(postgres_url):
            # calls go on meanwhile: their records are handed to the journal
            for record in calls:
                bridge.journal.opened(record)
                record.steps.append(CallStep(datetime.now(UTC), StepKind.KEY, "main", "0"))
                record.steps.append(CallStep(datetime.now(UTC), StepKind.ROUTE, "main"))
                record.outcome, record.route, record.choice = (
                    CallOutcome.ROUTED,
                    "q-general",
                    "agent",
                )
                bridge.journal.closed(record)
                bridge.journal.ended(record.call_id, datetime.now(UTC), "TIMEOUT", None)
            await asyncio.sleep(OUTAGE_S)  # the callbacks fall due while it is down
            assert datetime.now(UTC) > due_at
            assert bridge.journal.unwritten == len(calls)
            assert not [
                e for e in events.events[start:] if e.get("UserEvent") == "SimCustomerRinging"
            ]
            # the dialer and the tracker are still running, not crashed
            assert bridge.dialer._runner is not None and not bridge.dialer._runner.done()
            assert bridge.tracking._writer is not None and not bridge.tracking._writer.done()

        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(Exception):  # the pool may still hold dead connections
                async with engine.connect() as conn:
                    tasks = (await conn.execute(select(tasks_table))).all()
                    attempts = (await conn.execute(select(attempts_table))).all()
                    phone_of = dict(
                        (
                            await conn.execute(
                                select(tasks_table.c.id, orders_table.c.customer_phone).join(
                                    orders_table, orders_table.c.id == tasks_table.c.order_id
                                )
                            )
                        ).all()
                    )
                if (
                    len(tasks) == len(NUMBERS)
                    and all(t.state == "done" for t in tasks)
                    and all(a.state == "finished" for a in attempts)
                    and bridge.journal.unwritten == 0
                ):
                    break
            assert time.monotonic() < deadline, "callbacks or records not done after the outage"
            await asyncio.sleep(1)
        stored = [await bridge.repository.get(r.call_id) for r in calls]
    finally:
        await engine.dispose()

    # each callback placed once, after the outage, and completed
    assert Counter(a.task_id for a in attempts) == {t.id: 1 for t in tasks}
    assert {a.result for a in attempts} == {"completed"}
    rang = Counter(
        e["Number"]
        for e in events.events[start:]
        if e.get("UserEvent") == "SimCustomerRinging" and e["Number"] in NUMBERS
    )
    assert rang == Counter(phone_of[a.task_id] for a in attempts) == dict.fromkeys(NUMBERS, 1)
    # the records handed over during the outage: stored once, complete
    for row in stored:
        assert row is not None and row.outcome is CallOutcome.ROUTED
        assert [s.kind for s in row.steps] == [StepKind.PROMPT, StepKind.KEY, StepKind.ROUTE]
        assert row.ended_at is not None and row.queue_status == "TIMEOUT"
