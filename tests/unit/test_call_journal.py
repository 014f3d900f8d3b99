"""The journal: writes leave the call's path at once, land in order and complete, survive a
database that is down for a while (retried, kept in memory within a bound, spooled beyond it
and at shutdown) and are stored exactly once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.db.spool import FileSpool
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, SpooledCall, StepKind
from ivr.services import call_journal
from ivr.services.call_journal import CallJournal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_journal, "RETRY_MIN_S", 0.01)
    monkeypatch.setattr(call_journal, "RETRY_MAX_S", 0.04)
    monkeypatch.setattr(call_journal, "SPOOL_CHECK_S", 0.05)


class Repository:
    """Idempotent like SqlCallRepository.save; ``down`` makes every write fail; ``release``
    holds writes back (a stalled database)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.rows: dict[str, CallRecord] = {}
        self.steps: dict[str, list[CallStep]] = {}
        self.ends: dict[str, tuple[datetime, str | None, str | None]] = {}
        self.release = asyncio.Event()
        self.release.set()
        self.down = False
        self.failures = 0

    async def _gate(self) -> None:
        await self.release.wait()
        if self.down:
            self.failures += 1
            raise ConnectionError("database down")

    async def save(self, record: CallRecord) -> None:
        await self._gate()
        stored = self.steps.setdefault(record.call_id, [])
        if len(record.steps) < len(stored):
            return
        self.log.append(("save", len(record.steps) - len(stored)))
        stored.extend(record.steps[len(stored) :])
        self.rows[record.call_id] = record

    async def mark_ended(
        self, call_id: str, ended_at: datetime, status: str | None, agent: str | None
    ) -> bool:
        await self._gate()
        if call_id not in self.rows:
            return False
        self.log.append(("ended", status))
        self.ends[call_id] = (ended_at, status, agent)
        return True


def record(n: int = 0) -> CallRecord:
    return CallRecord(f"{n:032x}", f"1.{n}", "13800000001", "95598", "Local/x", T0)


async def test_writes_do_not_block_and_land_in_order() -> None:
    repo, call = Repository(), record()
    repo.release.clear()
    journal = CallJournal(repo)
    call.steps.append(CallStep(T0, StepKind.PROMPT))
    journal.opened(call)  # returns at once although the database is stalled
    call.steps.append(CallStep(T0, StepKind.KEY, key="0"))
    call.outcome = CallOutcome.ROUTED
    journal.closed(call)
    journal.ended(call.call_id, T0, "TIMEOUT", None)
    call.steps.append(CallStep(T0, StepKind.HANGUP))  # after it was handed over
    assert repo.log == []
    repo.release.set()
    await journal.drain()
    # the latest snapshot handed over (two steps, not three), then the end
    assert repo.log == [("save", 2), ("ended", "TIMEOUT")]
    assert repo.rows[call.call_id].outcome is CallOutcome.ROUTED


async def test_an_outage_is_retried_until_the_database_returns_and_nothing_is_doubled() -> None:
    repo = Repository()
    repo.down = True
    journal = CallJournal(repo)
    calls = [record(n) for n in range(5)]
    for call in calls:
        call.steps.append(CallStep(T0, StepKind.PROMPT))
        journal.opened(call)
        call.steps.append(CallStep(T0 + timedelta(seconds=1), StepKind.ROUTE))
        call.outcome = CallOutcome.ROUTED
        journal.closed(call)
        journal.ended(call.call_id, T0 + timedelta(seconds=9), None, "Local/1@a/n")
        journal.ended(call.call_id, T0 + timedelta(seconds=8), "COMPLETED", None)
    assert not await journal.drain(timeout_s=0.3)
    assert repo.failures >= 5 and journal.unwritten == 5  # retried, kept
    repo.down = False
    assert await journal.drain(timeout_s=5)
    for call in calls:
        assert [s.kind for s in repo.steps[call.call_id]] == [StepKind.PROMPT, StepKind.ROUTE]
        # both hang-up reports merged as the repository would: earliest end, non-empty fields
        assert repo.ends[call.call_id] == (T0 + timedelta(seconds=8), "COMPLETED", "Local/1@a/n")
    assert journal.unwritten == 0


async def test_past_the_bound_records_go_to_the_spool_loudly_and_come_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo, spool = Repository(), FileSpool(tmp_path / "spool.jsonl")
    repo.down = True
    journal = CallJournal(repo, max_calls=3, spool=spool)
    await journal.start()
    calls = [record(n) for n in range(5)]
    with caplog.at_level(logging.ERROR):
        for call in calls:
            call.steps.append(CallStep(T0, StepKind.PROMPT))
            journal.opened(call)
    assert journal.unwritten == 3 and journal.spilled == 2
    assert sum("JOURNAL FULL" in r.message for r in caplog.records) == 2
    # a later write of a spooled call follows it to the spool (it must not overtake it)
    calls[4].steps.append(CallStep(T0, StepKind.HANGUP))
    calls[4].outcome = CallOutcome.ABANDONED_IN_MENU
    journal.closed(calls[4])
    assert [e.call_id for e in spool.load()] == [c.call_id for c in (calls[3], calls[4], calls[4])]
    repo.down = False
    for _ in range(200):
        if len(repo.rows) == 5 and spool.empty():
            break
        await asyncio.sleep(0.02)
    assert set(repo.rows) == {c.call_id for c in calls} and spool.empty()
    assert repo.rows[calls[4].call_id].outcome is CallOutcome.ABANDONED_IN_MENU
    assert [s.kind for s in repo.steps[calls[4].call_id]] == [StepKind.PROMPT, StepKind.HANGUP]
    await journal.close()


async def test_unwritten_at_shutdown_is_spooled_and_written_by_the_next_start(
    tmp_path: Path,
) -> None:
    repo, spool = Repository(), FileSpool(tmp_path / "spool.jsonl")
    repo.down = True
    journal = CallJournal(repo, spool=spool)
    await journal.start()
    call = record(7)
    call.steps += [CallStep(T0, StepKind.PROMPT), CallStep(T0, StepKind.KEY, "main", "1", "x")]
    call.menu_path = ["main", "repair"]
    call.keys = "1"
    journal.opened(call)
    journal.ended(call.call_id, T0 + timedelta(seconds=3), "TIMEOUT", None)
    await journal.close(timeout_s=0.1)
    assert not spool.empty() and repo.rows == {}

    left = spool.path.read_text()

    # the next start takes it back without waiting for the database (still down here)
    again = CallJournal(repo, spool=FileSpool(tmp_path / "spool.jsonl"))
    await asyncio.wait_for(again.start(), 1)
    assert again.unwritten == 1
    repo.down = False
    await again.close()
    assert spool.empty()
    stored = repo.rows[call.call_id]
    assert (stored.menu_path, stored.keys, stored.steps) == (call.menu_path, "1", call.steps)
    assert repo.ends[call.call_id][1] == "TIMEOUT"
    # the same spool replayed once more (a crash before it was cleared): nothing doubled
    spool.path.write_text(left)
    third = CallJournal(repo, spool=spool)
    await third.start()
    await third.close()
    assert repo.steps[call.call_id] == call.steps
    assert repo.log == [("save", 2), ("ended", "TIMEOUT"), ("save", 0), ("ended", "TIMEOUT")]


async def test_a_torn_last_line_of_the_spool_is_skipped(tmp_path: Path) -> None:
    spool = FileSpool(tmp_path / "spool.jsonl")
    call = record(1)
    call.steps.append(CallStep(T0, StepKind.PROMPT))
    spool.append(SpooledCall(call.call_id, call, None))
    with spool.path.open("a") as f:
        f.write('{"call_id": "abc", "rec')
    loaded = spool.load()
    assert [e.call_id for e in loaded] == [call.call_id]
    assert loaded[0].record == call
