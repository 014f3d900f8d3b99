"""SqlCallRepository and the migrations against real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, event, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.calls import SqlCallRepository, UnknownCallError
from ivr.db.engine import create_engine, normalize_url
from ivr.db.migrate import current_revision, head_revision, upgrade
from ivr.db.models import calls_table, steps_table
from ivr.db.schema import metadata
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from tests.integration.db_fixtures import sqlite_url_for

T0 = datetime(2024, 11, 22, 2, 30, 15, 123456, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_record(
    n: int = 0, started_at: datetime = T0, steps: list[CallStep] | None = None
) -> CallRecord:
    return CallRecord(
        call_id=uuid.uuid4().hex,
        unique_id=f"1732242615.{n}",
        caller_number=f"1380013{n:04d}",
        dialed_number="95598",
        channel_name=f"PJSIP/trunk-{n:08x}",
        started_at=started_at,
        steps=list(steps or []),
    )


def step(seconds: float, kind: StepKind = StepKind.KEY, **kw: Any) -> CallStep:
    return CallStep(at=at(seconds), kind=kind, **kw)


@pytest.fixture
def repo(db_engine: AsyncEngine) -> SqlCallRepository:
    return SqlCallRepository(db_engine)


async def seqs_by_call(engine: AsyncEngine) -> dict[str, list[int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(steps_table.c.call_id, steps_table.c.seq).order_by(
                steps_table.c.call_id, steps_table.c.seq
            )
        )
        result: dict[str, list[int]] = {}
        for call_id, seq in rows:
            result.setdefault(call_id, []).append(seq)
        return result


# --- round trips -------------------------------------------------------------------------


async def test_full_record_round_trips(repo: SqlCallRepository) -> None:
    record = CallRecord(
        call_id=uuid.uuid4().hex,
        unique_id="1732242615.42",
        caller_number="13800138000",
        dialed_number="95598",
        channel_name="PJSIP/trunk-0000002a",
        started_at=T0,
        outcome=CallOutcome.ROUTED,
        ended_at=at(95.5),
        route="repair",
        choice="repair.outage",
        menu_path=["main", "repair", "repair.outage"],
        keys="9*12",
        queue_status="COMPLETED",
        agent_interface="PJSIP/agent-1001",
        steps=[
            step(0, StepKind.PROMPT, node="main"),
            step(3.2, StepKind.INVALID, node="main", key="9", detail="无此选项"),
            step(4, StepKind.REPLAY, node="main", key="*"),
            step(7.25, StepKind.KEY, node="main", key="1"),
            step(9, StepKind.KEY, node="repair", key="2"),
            step(9.5, StepKind.ROUTE, node="repair.outage", detail="queue=repair"),
        ],
    )
    await repo.add(record)

    got = await repo.get(record.call_id)

    assert got == record
    assert got is not None
    assert got.outcome is CallOutcome.ROUTED
    assert [s.kind for s in got.steps] == [s.kind for s in record.steps]
    assert all(isinstance(s.kind, StepKind) for s in got.steps)
    assert got.menu_path == ["main", "repair", "repair.outage"]


async def test_empty_fields_round_trip(repo: SqlCallRepository) -> None:
    record = make_record()
    await repo.add(record)

    got = await repo.get(record.call_id)

    assert got == record
    assert got is not None
    assert got.menu_path == []
    assert got.keys == ""
    assert got.steps == []
    assert got.ended_at is None
    assert got.outcome is CallOutcome.IN_MENU


async def test_get_unknown_call_is_none(repo: SqlCallRepository) -> None:
    assert await repo.get("no-such-call") is None


async def test_datetimes_come_back_as_aware_utc(repo: SqlCallRepository) -> None:
    started = datetime(2024, 11, 22, 10, 30, 15, 654321, tzinfo=BEIJING)  # 02:30:15 UTC
    record = make_record(started_at=started)
    record.ended_at = started + timedelta(minutes=3)
    record.steps = [CallStep(at=started + timedelta(seconds=1), kind=StepKind.PROMPT)]
    await repo.add(record)

    got = await repo.get(record.call_id)

    assert got is not None
    for value in (got.started_at, got.ended_at, got.steps[0].at):
        assert value is not None
        assert value.tzinfo is UTC
    assert got.started_at == datetime(2024, 11, 22, 2, 30, 15, 654321, tzinfo=UTC)
    assert got.ended_at == datetime(2024, 11, 22, 2, 33, 15, 654321, tzinfo=UTC)
    assert got.steps[0].at == datetime(2024, 11, 22, 2, 30, 16, 654321, tzinfo=UTC)


async def test_naive_datetime_is_refused(repo: SqlCallRepository) -> None:
    record = make_record(started_at=datetime(2024, 11, 22, 10, 0))

    with pytest.raises(StatementError, match="naive datetime"):
        await repo.add(record)
    assert await repo.get(record.call_id) is None


@pytest.mark.postgres
async def test_sqlite_and_postgres_return_identical_values(
    sqlite_url: str, postgres_url: str
) -> None:
    started = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=BEIJING)
    record = make_record(started_at=started, steps=[step(0.000001, StepKind.PROMPT)])
    record.ended_at = started + timedelta(microseconds=1)
    record.menu_path = ["main", "账单"]

    results = []
    for url in (sqlite_url, postgres_url):
        engine = create_engine(url)
        try:
            repo = SqlCallRepository(engine)
            await repo.add(record)
            results.append(await repo.get(record.call_id))
        finally:
            await engine.dispose()

    from_sqlite, from_postgres = results
    assert from_sqlite is not None
    assert from_postgres is not None
    assert repr(from_sqlite) == repr(from_postgres)
    assert from_sqlite.started_at.isoformat() == "2024-02-29T15:59:59.999999+00:00"
    assert from_postgres.started_at.isoformat() == "2024-02-29T15:59:59.999999+00:00"


# --- steps -------------------------------------------------------------------------------


async def test_add_steps_appends_in_order_across_calls(
    repo: SqlCallRepository, db_engine: AsyncEngine
) -> None:
    first = make_record(1, steps=[step(0, StepKind.PROMPT, node="main")])
    second = make_record(2)
    third = make_record(3, steps=[step(0, StepKind.PROMPT, node="main")])
    for record in (first, second, third):
        await repo.add(record)

    await repo.add_steps(second.call_id, [step(1, StepKind.PROMPT, node="main")])
    await repo.add_steps(first.call_id, [step(2, key="1", node="main"), step(3, node="bill")])
    await repo.add_steps(second.call_id, [step(4, StepKind.TIMEOUT, node="main")])
    await repo.add_steps(first.call_id, [step(5, StepKind.ROUTE, node="bill.query")])
    await repo.add_steps(second.call_id, [])

    got_first = await repo.get(first.call_id)
    got_second = await repo.get(second.call_id)
    got_third = await repo.get(third.call_id)
    assert got_first is not None and got_second is not None and got_third is not None
    assert [(s.at, s.node) for s in got_first.steps] == [
        (at(0), "main"),
        (at(2), "main"),
        (at(3), "bill"),
        (at(5), "bill.query"),
    ]
    assert got_first.steps[1].key == "1"
    assert [s.kind for s in got_second.steps] == [StepKind.PROMPT, StepKind.TIMEOUT]
    assert got_third.steps == third.steps
    assert await seqs_by_call(db_engine) == {
        first.call_id: [0, 1, 2, 3],
        second.call_id: [0, 1],
        third.call_id: [0],
    }


async def test_steps_are_ordered_by_seq_not_by_time(repo: SqlCallRepository) -> None:
    record = make_record(steps=[step(10, StepKind.PROMPT)])
    await repo.add(record)
    await repo.add_steps(record.call_id, [step(5, StepKind.KEY, key="2")])  # clock went back

    got = await repo.get(record.call_id)

    assert got is not None
    assert [s.kind for s in got.steps] == [StepKind.PROMPT, StepKind.KEY]


async def test_add_steps_to_unknown_call_raises(repo: SqlCallRepository) -> None:
    with pytest.raises(UnknownCallError):
        await repo.add_steps("no-such-call", [step(0)])


async def test_duplicate_call_id_is_rejected(repo: SqlCallRepository) -> None:
    record = make_record()
    await repo.add(record)

    with pytest.raises(IntegrityError):
        await repo.add(replace(record, unique_id="other"))
    got = await repo.get(record.call_id)
    assert got is not None
    assert got.unique_id == record.unique_id


# --- update and mark_ended ---------------------------------------------------------------


async def test_update_stores_outcome_but_not_steps(repo: SqlCallRepository) -> None:
    record = make_record(steps=[step(0, StepKind.PROMPT, node="main")])
    await repo.add(record)

    record.outcome = CallOutcome.ROUTED
    record.route = "billing"
    record.choice = "bill.query"
    record.menu_path = ["main", "bill"]
    record.keys = "21"
    record.ended_at = at(40)
    record.queue_status = "TIMEOUT"
    record.steps.append(step(1, node="main", key="2"))  # not stored by update
    assert await repo.update(record) is True

    got = await repo.get(record.call_id)
    assert got is not None
    assert got.outcome is CallOutcome.ROUTED
    assert (got.route, got.choice, got.menu_path, got.keys) == (
        "billing",
        "bill.query",
        ["main", "bill"],
        "21",
    )
    assert got.ended_at == at(40)
    assert got.queue_status == "TIMEOUT"
    assert got.agent_interface is None
    assert got.steps == [step(0, StepKind.PROMPT, node="main")]


async def test_update_unknown_call_returns_false(repo: SqlCallRepository) -> None:
    assert await repo.update(make_record()) is False


async def test_update_after_mark_ended_keeps_what_asterisk_said(repo: SqlCallRepository) -> None:
    record = make_record()
    await repo.add(record)
    await repo.mark_ended(record.call_id, at(30), "COMPLETED", "PJSIP/agent-1001")

    record.outcome = CallOutcome.ROUTED  # the flow's copy knows no end and no agent
    assert await repo.update(record) is True
    got = await repo.get(record.call_id)
    assert got is not None
    assert (got.outcome, got.ended_at, got.queue_status, got.agent_interface) == (
        CallOutcome.ROUTED,
        at(30),
        "COMPLETED",
        "PJSIP/agent-1001",
    )

    record.ended_at = at(35)  # later than the stored end: the earlier one stays
    await repo.update(record)
    got = await repo.get(record.call_id)
    assert got is not None
    assert got.ended_at == at(30)


async def test_mark_ended_keeps_earliest_end(repo: SqlCallRepository) -> None:
    record = make_record()
    await repo.add(record)

    assert await repo.mark_ended(record.call_id, at(60), "COMPLETED", "PJSIP/agent-1001")
    got = await repo.get(record.call_id)
    assert got is not None
    assert (got.ended_at, got.queue_status, got.agent_interface) == (
        at(60),
        "COMPLETED",
        "PJSIP/agent-1001",
    )

    # Later end, empty details: nothing changes.
    assert await repo.mark_ended(record.call_id, at(90), "", None)
    got = await repo.get(record.call_id)
    assert got is not None
    assert (got.ended_at, got.queue_status, got.agent_interface) == (
        at(60),
        "COMPLETED",
        "PJSIP/agent-1001",
    )

    # Later end with a status: the status is stored, the end is not.
    assert await repo.mark_ended(record.call_id, at(120), "LEAVEEMPTY", "")
    got = await repo.get(record.call_id)
    assert got is not None
    assert (got.ended_at, got.queue_status, got.agent_interface) == (
        at(60),
        "LEAVEEMPTY",
        "PJSIP/agent-1001",
    )

    # Earlier end (given in another time zone): it wins.
    assert await repo.mark_ended(record.call_id, at(45).astimezone(BEIJING), None, None)
    got = await repo.get(record.call_id)
    assert got is not None
    assert got.ended_at == at(45)
    assert got.ended_at is not None and got.ended_at.tzinfo is UTC
    assert got.queue_status == "LEAVEEMPTY"


async def test_mark_ended_unknown_call_is_quiet(repo: SqlCallRepository) -> None:
    assert await repo.mark_ended("no-such-call", at(1), "COMPLETED", None) is False
    assert await repo.get("no-such-call") is None


# --- list_since --------------------------------------------------------------------------


async def test_list_since_oldest_first_with_steps(
    repo: SqlCallRepository, db_engine: AsyncEngine
) -> None:
    offsets = [300, -60, 0, 120, -1, 60]  # minutes from T0, inserted out of order
    records = {}
    for n, minutes in enumerate(offsets):
        record = make_record(n, started_at=T0 + timedelta(minutes=minutes))
        record.steps = [
            CallStep(at=record.started_at + timedelta(seconds=s), kind=StepKind.PROMPT, node=str(s))
            for s in range(n % 3 + 1)
        ]
        await repo.add(record)
        records[minutes] = record

    statements: list[str] = []

    def record_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db_engine.sync_engine, "before_cursor_execute", record_statement)
    try:
        got = await repo.list_since(T0.astimezone(BEIJING))  # inclusive bound, any time zone
    finally:
        event.remove(db_engine.sync_engine, "before_cursor_execute", record_statement)

    assert [r.started_at for r in got] == [T0 + timedelta(minutes=m) for m in (0, 60, 120, 300)]
    assert got == [records[m] for m in (0, 60, 120, 300)]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects  # calls, then all their steps: no N+1


async def test_list_since_filters_everything_out(repo: SqlCallRepository) -> None:
    await repo.add(make_record(started_at=T0))

    assert await repo.list_since(at(0.000001)) == []
    assert len(await repo.list_since(T0 - timedelta(days=365))) == 1


# --- concurrency -------------------------------------------------------------------------


async def test_fifty_concurrent_calls(repo: SqlCallRepository, db_engine: AsyncEngine) -> None:
    async def one_call(n: int) -> CallRecord:
        record = make_record(n, started_at=at(n), steps=[step(n, StepKind.PROMPT, node="main")])
        await repo.add(record)
        for batch in range(3):
            await asyncio.sleep(0)
            new = [step(n + batch + 0.1, node="main", key=str(batch)), step(n + batch + 0.2)]
            await repo.add_steps(record.call_id, new)
            record.steps.extend(new)
        record.outcome = CallOutcome.ROUTED
        record.route = f"queue-{n % 4}"
        await asyncio.gather(
            repo.update(record),
            repo.mark_ended(record.call_id, at(n + 30), "COMPLETED", f"PJSIP/agent-{n}"),
        )
        return record

    records = await asyncio.gather(*(one_call(n) for n in range(50)))

    async with db_engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(calls_table)) == 50
        assert await conn.scalar(select(func.count()).select_from(steps_table)) == 50 * 7
    seqs = await seqs_by_call(db_engine)
    assert seqs == {r.call_id: list(range(7)) for r in records}
    stored = {r.call_id: r for r in await repo.list_since(T0)}
    assert len(stored) == 50
    for n, record in enumerate(records):
        got = stored[record.call_id]
        assert got.steps == record.steps
        assert (got.outcome, got.route, got.ended_at, got.agent_interface) == (
            CallOutcome.ROUTED,
            f"queue-{n % 4}",
            at(n + 30),
            f"PJSIP/agent-{n}",
        )


async def test_concurrent_add_steps_to_one_call_keep_seq_contiguous(
    repo: SqlCallRepository, db_engine: AsyncEngine
) -> None:
    record = make_record()
    await repo.add(record)

    await asyncio.gather(
        *(
            repo.add_steps(record.call_id, [step(i, detail=f"{i}a"), step(i, detail=f"{i}b")])
            for i in range(20)
        )
    )

    got = await repo.get(record.call_id)
    assert got is not None
    assert len(got.steps) == 40
    details = [s.detail for s in got.steps]
    for i in range(20):  # each batch stays together and in order
        position = details.index(f"{i}a")
        assert details[position + 1] == f"{i}b"
    assert await seqs_by_call(db_engine) == {record.call_id: list(range(40))}


# --- schema and migrations ---------------------------------------------------------------


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def _check_constraints(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    return {
        table: {c["name"] for c in inspector.get_check_constraints(table)}
        for table in ("calls", "call_steps")
    }


async def test_models_match_migrations(db_engine: AsyncEngine) -> None:
    async with db_engine.connect() as conn:
        diff = await conn.run_sync(_schema_diff)
        checks = await conn.run_sync(_check_constraints)

    assert diff == []
    expected = {
        table.name: {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
        for table in (calls_table, steps_table)
    }
    assert expected == {
        "calls": {"ck_calls_call_outcome"},
        "call_steps": {"ck_call_steps_step_kind"},
    }
    assert checks == expected


async def test_constraints_are_enforced(repo: SqlCallRepository, db_engine: AsyncEngine) -> None:
    record = make_record(steps=[step(0, StepKind.PROMPT), step(1)])
    await repo.add(record)

    with pytest.raises(IntegrityError):
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE calls SET outcome = 'bogus' WHERE call_id = :id"),
                {"id": record.call_id},
            )
    with pytest.raises(IntegrityError):
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE call_steps SET seq = 0 WHERE call_id = :id"), {"id": record.call_id}
            )

    async with db_engine.begin() as conn:  # ON DELETE CASCADE (needs foreign_keys=ON on SQLite)
        await conn.execute(delete(calls_table).where(calls_table.c.call_id == record.call_id))
    async with db_engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(steps_table)) == 0


async def test_upgrade_is_idempotent(db_url: str, repo: SqlCallRepository) -> None:
    head = head_revision()
    # the packaged migrations are found (numbered revisions: 0001_calls, …)
    assert head is not None and head[:4].isdigit() and head > "0001"
    assert await current_revision(db_url) == head
    record = make_record(steps=[step(0, StepKind.PROMPT)])
    await repo.add(record)

    await upgrade(db_url)
    await upgrade(db_url)

    assert await current_revision(db_url) == head
    assert await repo.get(record.call_id) == record


async def test_a_spoken_answer_is_stored_as_a_speech_step(repo: SqlCallRepository) -> None:
    """0005_speech widened the CHECK on call_steps.kind (SQLite rebuilds the table for it)."""
    record = make_record(
        steps=[
            step(0, StepKind.PROMPT, node="main"),
            step(1, StepKind.SPEECH, node="main", detail="投诉 -> 4 (0.93)"),
            step(2, StepKind.KEY, node="main", detail="complaint"),
        ]
    )
    await repo.add(record)
    assert await repo.get(record.call_id) == record


async def test_upgrade_from_elsewhere_creates_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "somewhere-else"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    db_file = tmp_path / "a" / "b" / "ivr.db"
    url = sqlite_url_for(db_file)

    assert await current_revision(url) is None
    await upgrade(url)

    assert db_file.is_file()
    assert await current_revision(url) == head_revision()
    assert sorted(p.name for p in workdir.iterdir()) == []  # nothing written to the cwd


async def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            values = {
                name: await conn.scalar(text(f"PRAGMA {name}"))
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        await engine.dispose()

    assert values == {
        "journal_mode": "wal",
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "synchronous": 1,
    }


def test_bare_urls_get_async_drivers() -> None:
    assert normalize_url("sqlite:////tmp/x.db").drivername == "sqlite+aiosqlite"
    assert normalize_url("postgresql://u:p@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("postgresql+asyncpg://u:p@h/db").drivername == "postgresql+asyncpg"


async def test_save_is_idempotent_and_never_undoes_a_newer_snapshot(
    repo: SqlCallRepository, db_engine: AsyncEngine
) -> None:
    record = make_record(1, steps=[step(0, StepKind.PROMPT)])
    await repo.save(replace(record, steps=list(record.steps)))
    await repo.save(replace(record, steps=list(record.steps)))  # a retry after a lost reply
    newer = replace(
        record,
        steps=[*record.steps, step(1, key="1"), step(2, StepKind.ROUTE)],
        outcome=CallOutcome.ROUTED,
        route="q-repair",
        keys="1",
    )
    await repo.save(newer)
    await repo.save(newer)
    await repo.save(replace(record, steps=list(record.steps)))  # stale: changes nothing
    stored = await repo.get(record.call_id)
    assert stored is not None and stored.outcome is CallOutcome.ROUTED
    assert [s.kind for s in stored.steps] == [StepKind.PROMPT, StepKind.KEY, StepKind.ROUTE]
    assert (await seqs_by_call(db_engine))[record.call_id] == [0, 1, 2]


async def test_close_lost_after_a_restart_and_a_late_hangup_report(repo: SqlCallRepository) -> None:
    routed_open = replace(make_record(1), outcome=CallOutcome.ROUTED, route="q-general")
    cut_in_menu = replace(make_record(2), outcome=CallOutcome.ABANDONED_IN_MENU, ended_at=at(50))
    abandoned_before = replace(
        make_record(3), outcome=CallOutcome.ABANDONED_IN_MENU, ended_at=at(10)
    )
    answered = replace(
        make_record(4), outcome=CallOutcome.ROUTED, route="q-repair", ended_at=at(50),
        agent_interface="Local/1001@sim-agents/n",
    )  # fmt: skip
    still_up = replace(make_record(5), outcome=CallOutcome.ROUTED, route="q-repair")
    for record in (routed_open, cut_in_menu, abandoned_before, answered, still_up):
        await repo.add(record)
    closed = await repo.close_lost({still_up.unique_id}, at(60), at(70), cut_since=at(45))
    assert closed == 2
    got = {r.call_id: r for r in [await repo.get(x.call_id) for x in (routed_open, cut_in_menu,
           abandoned_before, answered, still_up)] if r}  # fmt: skip
    assert got[routed_open.call_id].outcome is CallOutcome.LOST
    assert got[routed_open.call_id].ended_at == at(70)
    assert got[cut_in_menu.call_id].outcome is CallOutcome.LOST
    assert got[cut_in_menu.call_id].ended_at == at(50)
    assert got[abandoned_before.call_id].outcome is CallOutcome.ABANDONED_IN_MENU
    assert got[answered.call_id].outcome is CallOutcome.ROUTED
    assert got[still_up.call_id].outcome is CallOutcome.ROUTED
    # the routed call's own hang-up report arrives after all: it was not lost
    assert await repo.mark_ended(routed_open.call_id, at(65), "TIMEOUT", None)
    late = await repo.get(routed_open.call_id)
    assert late is not None and late.outcome is CallOutcome.ROUTED
    assert (late.ended_at, late.queue_status) == (at(65), "TIMEOUT")


async def test_a_failed_insert_does_not_echo_its_values(db_engine: AsyncEngine) -> None:
    """The driver's error names the statement, never the caller's number it carried (the
    engine hides parameters), on either backend: that error is what reaches the log."""
    table = f"privacy_{uuid.uuid4().hex[:8]}"
    async with db_engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (phone VARCHAR(20) UNIQUE)"))
        await conn.execute(text(f"INSERT INTO {table} VALUES (:p)"), {"p": "13800138000"})
    try:
        with pytest.raises(IntegrityError) as caught:
            async with db_engine.begin() as conn:
                await conn.execute(text(f"INSERT INTO {table} VALUES (:p)"), {"p": "13800138000"})
        assert "13800138000" not in str(caught.value)
        assert "hidden due to hide_parameters" in str(caught.value)
    finally:
        async with db_engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))
