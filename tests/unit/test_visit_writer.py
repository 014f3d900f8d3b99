"""The tracking's visit writer: a burst of changes is stored in few transactions, each visit
as its latest state, and a batch the database refuses is retried whole until it is stored
(pure: a fake store that counts and fails on demand; the SQL side is in
tests/integration/test_tracking_repository.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
from tenacity import wait_none

from ivr.domain import queue_calls as q
from ivr.services import call_tracking
from ivr.services.call_tracking import WRITE_BATCH, CallTracking, latest_states

S = 1_000_000
SIM = "Local/2001@sim-agents/n"


class FlakyVisits:
    """Stores batches; the first ``failures`` writes raise as a database that is down would."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[int] = []
        self.saved: dict[str, q.QueueVisit] = {}

    async def save(self, visit: q.QueueVisit) -> None:
        await self.save_many([visit])

    async def save_many(self, batch: Sequence[q.QueueVisit]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        self.batches.append(len(batch))
        for visit in batch:
            self.saved[visit.unique_id] = visit

    async def between(self, start: datetime, end: datetime) -> list[q.QueueVisit]:
        return list(self.saved.values())

    async def open_visits(self) -> list[q.QueueVisit]:
        return []


def burst(calls: int) -> list[q.QueueEvent]:
    events: list[q.QueueEvent] = []
    for n in range(calls):
        uid, at = f"c{n}", n * S
        events += [
            q.CallerJoined(at, uid, "q-repair"),
            q.AgentRung(at + S, uid, SIM, "agent-2001"),
            q.AgentAnswered(at + 3 * S, uid, SIM, "agent-2001", uid + "-agent"),
            q.AgentCompleted(at + 60 * S, uid, "caller"),
        ]
    return events


def test_latest_states_keeps_each_visits_last_change_in_first_seen_order() -> None:
    a0, b0 = q.QueueVisit("a", "q-repair", "", 1), q.QueueVisit("b", "q-repair", "", 2)
    a1 = q.QueueVisit("a", "q-repair", "", 1, outcome=q.VisitOutcome.ANSWERED)
    again = q.QueueVisit("a", "q-repair", "", 9)  # the same caller joining again: another visit
    assert latest_states([a0, b0, a1, again]) == [a1, b0, again]


async def test_a_burst_is_stored_in_few_transactions_with_every_visits_last_state() -> None:
    visits = FlakyVisits()
    tracking = CallTracking(visits, lambda: 0)
    await tracking.start()
    try:
        events = burst(1200)  # 4,800 changes handed over at once, as a burst of events does
        for event in events:
            tracking.handle(event)
        await tracking.flushed()
    finally:
        await tracking.stop()
    assert len(visits.saved) == 1200
    assert {v.outcome for v in visits.saved.values()} == {q.VisitOutcome.ANSWERED}
    assert all(v.ended_us is not None for v in visits.saved.values())
    assert max(visits.batches) <= WRITE_BATCH
    assert len(visits.batches) <= 4800 // WRITE_BATCH + 2


async def test_a_refused_batch_is_retried_whole_and_nothing_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(call_tracking, "_RETRY_WAIT", wait_none())
    visits = FlakyVisits(failures=3)
    tracking = CallTracking(visits, lambda: 0)
    await tracking.start()
    try:
        for event in burst(50):
            tracking.handle(event)
        await tracking.flushed()
    finally:
        await tracking.stop()
    assert visits.failures == 0
    assert sorted(visits.saved) == sorted(f"c{n}" for n in range(50))
    assert {v.outcome for v in visits.saved.values()} == {q.VisitOutcome.ANSWERED}
