"""PostgreSQL becomes unavailable for a while under a running bridge (dialer, tracker, journal).

Only this test's own database is touched: ``ALLOW_CONNECTIONS false`` on it and
``pg_terminate_backend`` of its sessions, so every connection fails as if the server had gone;
the shared server and everyone else's databases stay up. While it is down, callbacks fall due:
the dialer must neither crash nor spin, and once the database is back it places each of them
exactly once (one ring per customer on AMI, one completed attempt per task). Call records handed
to the journal during the outage are kept and written once when it returns, and so are the
recording events Asterisk reports meanwhile (spooled, replayed with the time they came).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import wave
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from ivr.app import Bridge, callback_policy, finding_rules
from ivr.calendar_cn import china_is_workday
from ivr.config import CallbackSettings, RecordingSettings
from ivr.db.engine import create_engine
from ivr.db.recordings import SqlRecordings
from ivr.db.spool import RecordingEventSpool
from ivr.db.tracking import SqlAgentDirectory
from ivr.db.workorder_models import attempts_table, orders_table, tasks_table
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from ivr.domain.phone import PhoneNumber
from ivr.domain.recordings import RecordingState
from ivr.domain.workorders import OrderKind
from ivr.flows.inbound import utc_now
from ivr.recording_files import RecordingFilesOnDisk
from ivr.services.recordings import RecordingService
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


def _wav(path: str, seconds: int) -> None:
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * 8000 * seconds)


async def _no_greeting(_job_number: str) -> None:
    return None


async def test_recording_events_during_an_outage_are_spooled_and_applied(
    postgres_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """IvrRecording and IvrRecordingEnded arrive while the database is down: neither is lost.
    They wait in the spool file (in order, with the time they came), a replay while it is still
    down keeps them, and once it is back the keeper's replay writes the row as if nothing had
    happened, and the recording is sealed."""
    engine = create_engine(postgres_url)
    store = SqlRecordings(engine, utc_now)
    spool = RecordingEventSpool(tmp_path / "events.spool.jsonl")
    service = RecordingService(
        store,
        RecordingFilesOnDisk(),
        SqlAgentDirectory(engine),
        tmp_path,
        finding_rules(RecordingSettings()),
        _no_greeting,
        utc_now,
        spool,
    )
    call_id = uuid.uuid4().hex
    agent_path, customer_path = service.paths(call_id)
    _wav(agent_path, 3)
    _wav(customer_path, 3)
    try:
        async with database_down(postgres_url):
            await service.started(
                call_id, "Local/2131@sim-agents-0000abcd;1", "SUCCESS", agent_path, customer_path
            )
            await service.ended(call_id)
            spooled = spool.load()
            assert [(e.name, e.call_id) for e in spooled] == [
                ("started", call_id),
                ("ended", call_id),
            ]
            with pytest.raises(Exception):  # noqa: B017 (whatever the driver raises)
                await service.replay_spooled()
            assert spool.load() == spooled  # still down: nothing applied, nothing dropped
        assert await service.replay_spooled() == 2
        assert spool.empty()
        recording = await store.by_call(call_id)
        assert recording is not None and recording.state is RecordingState.RECORDING
        assert recording.started_at == spooled[0].at  # when Asterisk said, not the replay
        assert recording.ended_at == spooled[1].at
        await service.seal(recording)
        sealed = await store.by_call(call_id)
        assert sealed is not None and sealed.state is RecordingState.COMPLETE, sealed
        assert sealed.duration_ms == 3000
    finally:
        await engine.dispose()
