"""The database is locked for a while (SQLite: another connection holds ``BEGIN EXCLUSIVE``)
while callers go through the menu on the real sandbox.

Callers are served as usual meanwhile (they hear the menu and reach their queue: checked on
AMI while the lock is still held); the call records, their steps and how each call ended, and
the tracker's queue visits, are kept by the bridge and written when the lock goes, each exactly
once (one row per call, steps numbered without a gap or a repeat, one visit per queue call).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ivr.db.engine import normalize_url, sqlite_file
from ivr.db.models import steps_table
from ivr.domain.calls import CallOutcome, StepKind
from ivr.domain.queue_calls import VisitOutcome
from ivr_sandbox.simulation import SimulatedCaller, place_call
from tests.integration.asterisk_fixtures import wait_for_records
from tests.integration.test_answer_times import finished_visits

pytestmark = pytest.mark.integration

ROUTED = {  # caller: (keys, queue, choice)
    "13600000201": ("1ww1", "q-repair", "repair.no_power"),
    "13600000202": ("4ww2", "q-complaint", "complaint.report"),
}
HANGS_UP = "13600000203"


async def test_calls_are_served_and_recorded_once_across_a_locked_database(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    path = sqlite_file(normalize_url(bridge.settings.database.url))
    assert path is not None, "the session bridge runs on SQLite"
    since = datetime.now(UTC) - timedelta(seconds=1)
    numbers = {*ROUTED, HANGS_UP}
    retries = bridge.journal.retries
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
    try:
        for number, (keys, _, _) in ROUTED.items():
            await place_call(client, SimulatedCaller(number, keys, hold_s=6))
        await place_call(client, SimulatedCaller(HANGS_UP, "1", hold_s=2))
        # served while the database is locked: each caller reaches the queue of its choice
        deadline = time.monotonic() + 60
        while not all(events.named("QueueCallerJoin", CallerIDNum=n) for n in ROUTED):
            assert time.monotonic() < deadline, "callers not routed while the database is locked"
            await asyncio.sleep(0.2)
        for number, (_, queue, _) in ROUTED.items():
            assert [e["Queue"] for e in events.named("QueueCallerJoin", CallerIDNum=number)] == [
                queue
            ]
        # ...and have left again (hung up in the queue, or in the menu), their ends still unwritten
        deadline = time.monotonic() + 60
        while not all(events.named("Hangup", CallerIDNum=n) for n in numbers):
            assert time.monotonic() < deadline, "calls did not end"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert bridge.journal.unwritten >= 3 and bridge.journal.retries > retries
        stored = [
            r for r in await bridge.repository.list_since(since) if r.caller_number in numbers
        ]
        assert stored == []  # nothing could be written: the records live in the bridge
    finally:
        await asyncio.to_thread(locker.execute, "ROLLBACK")
        locker.close()

    records = await wait_for_records(bridge, numbers, timeout_s=90)
    visits = await finished_visits(bridge, set(ROUTED), 60)
    rows = [r for r in await bridge.repository.list_since(since) if r.caller_number in numbers]
    assert sorted(r.caller_number for r in rows) == sorted(numbers)  # one row per call
    for number, (keys, queue, choice) in ROUTED.items():
        record = records[number]
        assert (record.outcome, record.route, record.choice) == (CallOutcome.ROUTED, queue, choice)
        assert record.keys == keys.replace("w", "")
        kinds = [s.kind for s in record.steps]
        assert kinds == [
            StepKind.PROMPT,
            StepKind.KEY,
            StepKind.PROMPT,
            StepKind.KEY,
            StepKind.ROUTE,
        ], kinds
        assert record.ended_at is not None  # the hang-up handler's report, kept and written
        assert visits[number].outcome is VisitOutcome.ABANDONED
    gone = records[HANGS_UP]
    assert gone.outcome is CallOutcome.ABANDONED_IN_MENU and gone.steps[-1].kind is StepKind.HANGUP
    # steps stored once each, in order, numbered without gaps
    async with bridge.engine.connect() as conn:
        for record in records.values():
            seqs = (
                await conn.execute(
                    select(steps_table.c.seq)
                    .where(steps_table.c.call_id == record.call_id)
                    .order_by(steps_table.c.seq)
                )
            ).scalars()
            assert list(seqs) == list(range(len(record.steps)))
    stored_visits = await bridge.visits.between(since - timedelta(minutes=1), datetime.now(UTC))
    assert Counter(
        v.caller_number for v in stored_visits if v.caller_number in ROUTED
    ) == dict.fromkeys(ROUTED, 1)
