"""The monthly report's pure parts: months and their bounds, on-time rules at the boundary,
empty months, members not in the agents table, and calls attributed by the job number stored
with them. The full hand-computed month is in
``tests/integration/test_monthly_reports.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.agents import Agent
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome
from ivr.domain.reports import (
    BadMonth,
    CallbackFact,
    DeadlineFact,
    Month,
    MonthRows,
    OrderFact,
    month_of,
    monthly_report,
    parse_month,
)

BJ = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)


def test_months_parse_strictly_and_bound_at_local_midnight() -> None:
    assert parse_month("2026-09") == Month(2026, 9)
    for bad in ("2026-9", "2026-00", "2026-13", "2026/09", "202609", " ", "2026-09-01", "x"):
        with pytest.raises(BadMonth):
            parse_month(bad)
    with pytest.raises(BadMonth, match="between"):
        parse_month("2101-01")
    start, end = Month(2026, 12).bounds(BJ)
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 1 Dec 00:00 Beijing
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 1 Jan 2027 00:00 Beijing
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 1).previous() == Month(2025, 12)
    # 30 Sep 16:00 UTC is 1 Oct 00:00 in Beijing
    assert month_of(datetime(2026, 9, 30, 16, 0, tzinfo=UTC), BJ) == Month(2026, 10)
    assert month_of(datetime(2026, 9, 30, 15, 59, 59, tzinfo=UTC), BJ) == Month(2026, 9)


def test_on_time_is_at_or_before_the_due_instant() -> None:
    due = T
    assert DeadlineFact("reply", due, due).met_on_time()
    assert not DeadlineFact("reply", due, due + timedelta(microseconds=1)).met_on_time()
    assert not DeadlineFact("reply", due, None).missed(as_of=due)  # overdue only after due
    assert DeadlineFact("reply", due, None).missed(as_of=due + timedelta(seconds=1))
    late = DeadlineFact("reply", due, due + timedelta(days=2))
    assert late.open_past_due(due + timedelta(days=1))
    assert not late.open_past_due(due + timedelta(days=3))
    cb = CallbackFact("done", due, due, True)
    assert cb.on_time() and cb.counts
    assert not CallbackFact("needs_human", due, None, None).on_time()
    assert not CallbackFact("cancelled", due, None, None).counts


def test_an_order_closed_with_a_deadline_unmet_is_not_on_time() -> None:
    met = DeadlineFact("reply", T, T - timedelta(hours=1))
    waiting = DeadlineFact("callback", T + timedelta(days=3), None)
    assert OrderFact("1", "complaint", "1001", "callback_done", T, (met,)).closed_on_time()
    assert not OrderFact("2", "complaint", "1001", "closed", T, (met, waiting)).closed_on_time()
    assert not OrderFact("3", "consultation", "1001", "in_progress", T, ()).closed_on_time()
    assert OrderFact("4", "suggestion", "1001", "archived", T, ()).closed_on_time()


def test_an_empty_month_has_no_rates_and_lists_every_agent() -> None:
    agent = Agent("1001", "李明", "Local/1001@x/n", ())
    report = monthly_report(Month(2026, 9), BJ, MonthRows([], [], [agent]), T)
    centre = report.centre
    assert centre.offered == 0 and centre.service_level is None
    assert centre.satisfaction_rate is None and centre.satisfaction_target_met is None
    assert report.as_dict()["final"] is False  # 10 Sep is inside September
    [row] = report.agents
    assert row.job_number == "1001" and row.calls_answered == 0 and row.answer_rate is None


def test_a_member_not_in_the_agents_table_gets_a_row_of_its_own() -> None:
    ring = RingAttempt("Local/9@x/n", "", 0, 2_000_000, RingEnd.ANSWERED)
    visit = QueueVisit(
        "u", "q", "", 0, VisitOutcome.ANSWERED, (ring,), "Local/9@x/n",
        answered_us=2_000_000, ring_to_answer_ms=2_000, queue_wait_ms=2_000,
        left_us=2_000_000, ended_us=9_000_000, talk_ms=7_000,
    )  # fmt: skip
    report = monthly_report(Month(2026, 9), BJ, MonthRows([visit], [], []), T)
    [row] = report.agents
    assert row.job_number is None and row.interface == "Local/9@x/n"
    assert (row.calls_answered, row.answered_in_15s) == (1, 1)
    assert report.centre.service_level == 1.0


def _answered(uid: str, interface: str, job: str | None, ring_ms: int) -> QueueVisit:
    us = ring_ms * 1000
    ring = RingAttempt(interface, "", 0, us, RingEnd.ANSWERED, job)
    return QueueVisit(
        uid, "q", "", 0, VisitOutcome.ANSWERED, (ring,), interface,
        answered_us=us, ring_to_answer_ms=ring_ms, queue_wait_ms=ring_ms,
        left_us=us, ended_us=us + 9_000_000, talk_ms=9_000, agent_job_number=job,
    )  # fmt: skip


def test_calls_count_for_who_the_agent_was_then_and_unknown_ones_by_the_interface_now() -> None:
    old, phone = "Local/1001@x/n", "Local/1001@agent-dial/n"
    visits = [
        _answered("before", old, "1001", 2_000),  # 1001 at the old interface
        _answered("after", phone, "1001", 3_000),  # 1001 on the desk phone
        _answered("new", old, "1002", 20_000),  # 1002 now has the old interface
        _answered("legacy", phone, None, 4_000),  # stored before job numbers: the phone's now
    ]
    agents = [Agent("1001", "李明", phone, ()), Agent("1002", "王芳", old, ())]
    rows = {
        r.job_number: r
        for r in monthly_report(Month(2026, 9), BJ, MonthRows(visits, [], agents), T).agents
    }
    assert set(rows) == {"1001", "1002"}  # no job_number: null row
    assert (rows["1001"].calls_rung, rows["1001"].calls_answered) == (3, 3)
    assert rows["1001"].answered_in_15s == 3 and rows["1001"].interface == phone
    assert (rows["1002"].calls_rung, rows["1002"].calls_answered) == (1, 1)
    assert rows["1002"].answered_in_15s == 0


def test_a_job_number_no_longer_in_the_table_keeps_its_own_row() -> None:
    visit = _answered("v", "Local/5@x/n", "1005", 1_000)
    [row] = monthly_report(Month(2026, 9), BJ, MonthRows([visit], [], []), T).agents
    assert (row.job_number, row.name, row.calls_answered) == ("1005", None, 1)
