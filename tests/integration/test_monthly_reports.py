"""Monthly reports over a hand-computed month (September 2026, Beijing time) on SQLite and
PostgreSQL. Everything goes in through the real code: queue events through the call tracker's
state machine into the visit store, work orders through ``SqlWorkOrders`` (deadlines on the real
holiday calendar), callbacks through the dialer's own store (claim → originate → answer →
conversation → hang-up). The expected figures are written out by hand below."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.calendar_cn import china_is_workday
from ivr.db.agent_states import SqlAgentStates
from ivr.db.callback_store import SqlCallbacks
from ivr.db.dispatch_store import SqlDispatch
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.engine import create_engine
from ivr.db.report_rows import SqlReportRows
from ivr.db.tokens import SqlTokenStore
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository, datetime_to_us
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.access import Principal, Role
from ivr.domain.agent_state import AgentState, StateChange
from ivr.domain.agents import AFTER_CALL_WORK_REASON, Agent, phone_member_interface
from ivr.domain.callbacks import AttemptResult, CallbackPolicy, Conversation
from ivr.domain.dispatch import DispatchPolicy
from ivr.domain.phone import PhoneNumber
from ivr.domain.queue_calls import (
    AgentAnswered,
    AgentCompleted,
    AgentRingNoAnswer,
    AgentRung,
    CallerAbandoned,
    CallerJoined,
    HangupRequested,
    QueueCallTracker,
    QueueEvent,
)
from ivr.domain.report_columns import seconds_by
from ivr.domain.reports import Month
from ivr.domain.workorders import OrderKind, OrderStatus
from ivr.services.agent_control import AgentControl
from ivr.services.call_tracking import CallTracking
from ivr.services.dashboard import DashboardSource
from ivr.services.monthly_reports import MonthlyReports
from ivr.web.auth import auth_middleware
from ivr.web.dashboard import add_dashboard_routes
from ivr.web.reports_api import add_report_routes
from ivr_sandbox.browser import Browser
from tests.integration.test_dashboard import _browser_or_fail, until

BJ = ZoneInfo("Asia/Shanghai")
A1001, A1002 = "Local/1001@sim-agents/n", "Local/1002@sim-agents/n"
MS = 1000  # µs


def bj(*parts: int) -> datetime:
    """A Beijing wall-clock time, as the aware UTC instant the stores keep."""
    return datetime(*parts, tzinfo=BJ).astimezone(UTC)  # type: ignore[misc]


class Clock:
    def __init__(self) -> None:
        self.now = bj(2026, 8, 1, 9, 0)

    def __call__(self) -> datetime:
        return self.now


class Env(NamedTuple):
    client: TestClient
    tokens: dict[str, str]
    clock: Clock
    agents: SqlAgentDirectory


# ---------------------------------------------------------------------- calls


def answered_call(
    uid: str, joined: datetime, agent: str, ring_ms: int, rang_first: tuple[str, int] | None = None
) -> list[QueueEvent]:
    """Join, optionally an unanswered ring of another agent, then ``agent`` rings ``ring_ms``."""
    j = datetime_to_us(joined)
    events: list[QueueEvent] = [CallerJoined(j, uid, "q-repair", "13900000001")]
    start = j
    if rang_first:
        other, after_ms = rang_first
        events += [AgentRung(j, uid, other), AgentRingNoAnswer(j + after_ms * MS, uid, other)]
        start = j + after_ms * MS
    answer = start + ring_ms * MS
    events += [
        AgentRung(start, uid, agent),
        AgentAnswered(answer, uid, agent, agent_channel_uid=uid + "-agent"),
        AgentCompleted(answer + 60_000 * MS, uid, "caller"),
    ]
    return events


def abandoned_call(
    uid: str, joined: datetime, after_ms: int, ringing: tuple[str, int] | None = None
) -> list[QueueEvent]:
    """The caller hangs up after ``after_ms``; ``ringing``: (agent, ms after joining) rung
    from then until the caller gave up."""
    j = datetime_to_us(joined)
    at = j + after_ms * MS
    events: list[QueueEvent] = [CallerJoined(j, uid, "q-repair", "13900000002")]
    if ringing:
        events.append(AgentRung(j + ringing[1] * MS, uid, ringing[0]))
    return [*events, HangupRequested(at, uid), CallerAbandoned(at, uid)]


CALLS = [
    # V1 00:30 on 1 Sep in Beijing is still 31 Aug in UTC: September by local time
    answered_call("v1", bj(2026, 9, 1, 0, 30), A1001, 2_000),  # ring 2 000, wait 2 000
    answered_call("v2", bj(2026, 9, 2, 10, 0), A1001, 15_000),  # exactly 15 s: within
    answered_call("v3", bj(2026, 9, 3, 10, 0), A1002, 15_001),  # 15.001 s: not within
    # V4: 1001 rang 10.002 s unanswered, then 1002 answered after 3.999 s (wait 14 001)
    answered_call("v4", bj(2026, 9, 4, 10, 0), A1002, 3_999, rang_first=(A1001, 10_002)),
    # V5 abandoned after 30 s while 1002 had rung 20 s: a ring over 15 s, against 1002
    abandoned_call("v5", bj(2026, 9, 5, 10, 0), 30_000, ringing=(A1002, 10_000)),
    # V6 short abandon (< 5 s) while 1001 had rung 2 s: not against 1001
    abandoned_call("v6", bj(2026, 9, 6, 10, 0), 3_000, ringing=(A1001, 1_000)),
    # V7 joined 23:59:59 on 30 Sep, answered after midnight: counts where it joined
    answered_call("v7", bj(2026, 9, 30, 23, 59, 59), A1001, 1_000),
    # not September: 1 Oct 00:00 Beijing (30 Sep 16:00 UTC), and 31 Aug 23:59:59 Beijing
    answered_call("v8", bj(2026, 10, 1, 0, 0), A1002, 500),
    abandoned_call("v9", bj(2026, 8, 31, 23, 59, 59), 20_000),
]


async def record_calls(visits: SqlVisitRepository) -> None:
    tracker = QueueCallTracker()
    finished = 0
    for events in CALLS:
        for event in events:
            done = tracker.handle(event)
            assert done.ignored is None, done.ignored
            for visit in done.finished:
                await visits.save(visit)
                finished += 1
    assert finished == len(CALLS)


# ---------------------------------------------------------------------- work orders


def new_order(kind: OrderKind, owner: str, phone: str) -> NewOrder:
    return NewOrder(kind, None, owner, "王", "先生", PhoneNumber(phone), "测试工单")


async def callback(
    callbacks: SqlCallbacks, clock: Clock, at: datetime, satisfied: bool, phone: str
) -> None:
    """One real callback attempt through the dialer's store, completed at ``at``."""
    clock.now = at
    [claim] = await callbacks.claim("report-test", 5, 0.0, 600, 5)
    assert claim.phone.digits == phone
    assert await callbacks.start_originate(claim.action_id, "report-test", 600)
    await callbacks.answered(claim.action_id, "cb-" + phone, 600)
    await callbacks.conversation_done(
        claim.action_id,
        Conversation(AttemptResult.COMPLETED, True, True, satisfied),
    )
    await callbacks.channel_ended("cb-" + phone, 15)


async def record_orders(
    orders: SqlWorkOrders, callbacks: SqlCallbacks, dispatch: SqlDispatch, clock: Clock
) -> None:
    # O5 (August, owner 1002): consultation never answered; reply due 23 Aug 10:00 (72 h).
    clock.now = bj(2026, 8, 20, 10, 0)
    await orders.create(new_order(OrderKind.CONSULTATION, "1002", "13800000005"), "t", None)

    # O1 (1001) repair: dispatched at 4:59, closed, called back the same afternoon, satisfied.
    clock.now = bj(2026, 9, 10, 10, 0)
    o1, _ = await orders.create(new_order(OrderKind.REPAIR, "1001", "13800000001"), "t", None)
    clock.now = bj(2026, 9, 10, 10, 4, 59)
    await dispatch.record_acceptance(o1.order_no, "crew", "电台接令", None)
    clock.now = bj(2026, 9, 10, 12, 0)
    await orders.close(o1.order_no, "已修复", "t", None)  # callback due 11 Sep 12:00
    await callback(callbacks, clock, bj(2026, 9, 10, 15, 0), True, "13800000001")

    # O2 (1002) repair: dispatched at 5:01 (late); callback due 12 Sep 13:00, done 14 Sep: late.
    clock.now = bj(2026, 9, 11, 10, 0)
    o2, _ = await orders.create(new_order(OrderKind.REPAIR, "1002", "13800000002"), "t", None)
    clock.now = bj(2026, 9, 11, 10, 5, 1)
    await dispatch.record_acceptance(o2.order_no, "crew", "电台接令", None)
    clock.now = bj(2026, 9, 11, 13, 0)
    await orders.close(o2.order_no, "已修复", "t", None)
    await callback(callbacks, clock, bj(2026, 9, 14, 10, 0), True, "13800000002")

    # O4 (1002) consultation: reply due 18 Sep 10:00, never answered: overdue, open at month end.
    clock.now = bj(2026, 9, 15, 10, 0)
    await orders.create(new_order(OrderKind.CONSULTATION, "1002", "13800000004"), "t", None)

    # O3 (1001) complaint recorded on 30 Sep, the day before National Day (1-7 Oct off,
    # Sat 10 Oct a make-up working day). 5 working days: 8, 9, 10, 12, 13 Oct, so the reply
    # and callback are due 14 Oct 00:00; contact (1 working day) due 9 Oct 00:00.
    clock.now = bj(2026, 9, 30, 10, 0)
    o3, _ = await orders.create(new_order(OrderKind.COMPLAINT, "1001", "13800000003"), "t", None)
    due = {d["name"]: d["due_at"] for d in o3.deadlines}
    assert due["reply"] == due["callback"] == bj(2026, 10, 14, 0, 0)
    assert due["contact"] == bj(2026, 10, 9, 0, 0)
    assert due["pass_on"] == bj(2026, 10, 1, 10, 0)
    clock.now = bj(2026, 9, 30, 15, 0)
    await orders.update(o3.order_no, "t", status=OrderStatus.DISPATCHED)  # passed on
    clock.now = bj(2026, 10, 8, 9, 0)
    await orders.update(o3.order_no, "t", status=OrderStatus.IN_PROGRESS)  # contacted
    # closed 12 Oct 16:00: 12 calendar days after recording, late by "5 days", on time by
    # "5 working days" only because of the holiday
    clock.now = bj(2026, 10, 12, 16, 0)
    await orders.close(o3.order_no, "已答复", "t", None)
    # the customer is called back on 13 Oct 10:00 (on time) and is NOT satisfied
    await callback(callbacks, clock, bj(2026, 10, 13, 10, 0), False, "13800000003")

    # O6 (1001): a repair recorded at 00:10 on 1 Oct Beijing (30 Sep UTC): October's.
    clock.now = bj(2026, 10, 1, 0, 10)
    await orders.create(new_order(OrderKind.REPAIR, "1001", "13800000006"), "t", None)


# ---------------------------------------------------------------------- agents' state


async def record_states(engine: Any, directory: SqlAgentDirectory, clock: Clock) -> None:
    """Through AgentControl, as the API does (Asterisk's part stood in by ``_Queues``), and
    after-call work as the wrap-up service records it."""
    control = AgentControl(directory, _Queues(), states=SqlAgentStates(engine), clock=clock)
    control.test_member_context = "sim-agents"
    a1001, a1002 = Principal("agent-1001", Role.AGENT, "1001"), Principal("a", Role.AGENT, "1002")
    steps: list[tuple[datetime, Any]] = [
        (bj(2026, 8, 31, 23, 0), control.log_in(a1001, "1001")),
        (bj(2026, 9, 1, 1, 0), control.pause(a1001, "1001", True, "小休")),
        (bj(2026, 9, 1, 1, 15), control.pause(a1001, "1001", False, "")),
        (bj(2026, 9, 1, 2, 0), control.log_out(a1001, "1001")),
        (bj(2026, 9, 10, 9, 0), control.log_in(a1002, "1002")),
        (bj(2026, 9, 10, 9, 30), control.pause(a1002, "1002", True, "就餐")),
        (bj(2026, 9, 10, 10, 30), control.pause(a1002, "1002", False, "")),
        (bj(2026, 9, 10, 11, 0), control.pause(a1002, "1002", True, "培训")),
        (bj(2026, 9, 10, 11, 20), control.log_out(a1002, "1002")),
        (bj(2026, 9, 30, 23, 0), control.log_in(a1001, "1001")),
    ]
    for at, step in steps:
        clock.now = at
        await step
    for state, at in (
        (AgentState.AFTER_CALL_WORK, bj(2026, 9, 1, 1, 20)),
        (AgentState.READY, bj(2026, 9, 1, 1, 20, 30)),
    ):
        reason = AFTER_CALL_WORK_REASON if state is AgentState.AFTER_CALL_WORK else ""
        assert await control.record_change(StateChange("1001", state, at, reason, "bridge"))
    # the same change seen by a second bridge is stored once
    twice = StateChange("1001", AgentState.READY, bj(2026, 9, 1, 1, 20, 30), "", "bridge")
    assert not await control.record_change(twice)


# ---------------------------------------------------------------------- expected, by hand

EXPECTED_CENTRE: dict[str, Any] = {
    # calls joined in September: V1..V7 (V8 is October's, V9 August's)
    "offered": 7,
    "answered": 5,  # V1 V2 V3 V4 V7
    # within 15 s of the call's first ring: 2 000, 15 000, 14 001 (V4: 10 002 + 3 999),
    # 1 000 (V3's 15 001 is over)
    "answered_in_15s": 4,
    "abandoned": 1,  # V5 after 30 s
    "short_abandoned": 1,  # V6 after 3 s
    "timed_out": 0,
    "lost": 0,
    "service_level": 4 / 6,  # 4 / (7 offered − 1 short abandon)
    "answered_service_level": 4 / 5,  # 4 / 5 answered
    "queue_wait_service_level": 4 / 5,  # waits 2 000, 15 000, 14 001, 1 000 (15 001 over)
    "abandon_rate": 1 / 6,  # 1 / (7 − 1)
    "asa_ms": 9_400,  # (2 000 + 15 000 + 15 001 + 14 001 + 1 000) / 5 = 9 400.4
    "avg_ring_to_answer_ms": 7_400,  # (2 000 + 15 000 + 15 001 + 3 999 + 1 000) / 5
    # every ring: V1 V2 V3 V4×2 V5 V6 V7
    "rings": 8,
    "rings_answered_in_15s": 4,  # V1 2 000, V2 15 000, V4's 1002 3 999, V7 1 000
    "rings_answered_late": 1,  # V3 15 001
    "rings_missed": 1,  # V4: 1001 rang out after 10 002
    "rings_gave_up": 2,  # V5 (rang 20 s), V6 (rang 2 s)
    "rings_taken_by_other": 0,
    "rings_against_agent": 3,  # V3, V4's 1001, V5 (over 15 s before the caller left)
    "ring_service_level": 4 / 7,  # 4 / (4 + 3): V6's 2 s ring is nobody's miss
    "orders_recorded": 4,  # O1 O2 O3 O4 (O5 August, O6 October)
    "repair_orders": 2,  # O1 O2
    "dispatched_in_5min": 1,  # O1 at 4:59; O2 at 5:01 is late
    "dispatch_rate": 0.5,
    "orders_overdue": 2,  # O2 (dispatch late), O4 (reply never given)
    "deadlines_missed": 2,  # the same two deadlines
    "open_past_due_at_month_end": 2,  # O4 and August's O5 (O2's late dispatch was met)
    "callbacks_due": 3,  # O1 O2 O3
    "callbacks_on_time": 2,  # O1, O3 (O2 done 14 Sep, due 12 Sep 13:00)
    "callbacks_on_time_rate": 2 / 3,
    "satisfaction_answers": 3,
    "satisfied": 2,  # O1, O2; O3's customer is dissatisfied
    "satisfaction_rate": 2 / 3,
    "satisfaction_target": 0.9,
    "satisfaction_target_met": False,  # 66.7 % < 90 %
    # how each 回访 of O1 O2 O3 ended: two satisfied, one not
    "callbacks_needed": 3,
    "callbacks_satisfied": 2,
    "callbacks_satisfied_share": 2 / 3,
    "callbacks_dissatisfied": 1,
    "callbacks_dissatisfied_share": 1 / 3,
    "callbacks_no_valid_answer": 0,
    "callbacks_no_valid_answer_share": 0.0,
    "callbacks_refused": 0,
    "callbacks_refused_share": 0.0,
    "callbacks_unreachable": 0,
    "callbacks_unreachable_share": 0.0,
    "callbacks_do_not_call": 0,
    "callbacks_do_not_call_share": 0.0,
    "callbacks_still_owed": 0,
    "callbacks_still_owed_share": 0.0,
    "callers_informed": 0,  # no outage notices this month (tests/integration/test_outages_api.py)
    # no call inspected this month (tests/integration/test_inspection_api.py has inspections)
    "inspected": 0,
    "inspected_with_errors": 0,
    "error_rate": None,
    "error_rate_target": 0.005,
    "error_rate_target_met": None,
    "quality_score": None,
}

EXPECTED_AGENTS: list[dict[str, Any]] = [
    {
        "job_number": "1001",
        "name": "李明",
        "interface": A1001,
        "calls_rung": 5,  # V1 V2 V4 (rang unanswered) V6 (caller left) V7
        "calls_answered": 3,  # V1 V2 V7
        "answer_rate": 3 / 5,
        "answered_in_15s": 3,  # 2 000, 15 000, 1 000
        "answered_in_15s_rate": 1.0,
        "asa_ms": 6_000,  # (2 000 + 15 000 + 1 000) / 3
        "avg_ring_to_answer_ms": 6_000,
        "rings": 5,
        "rings_answered_in_15s": 3,
        "rings_answered_late": 0,
        "rings_missed": 1,  # V4
        "rings_gave_up": 1,  # V6 after 2 s: not against 1001
        "rings_taken_by_other": 0,
        "rings_against_agent": 1,
        "ring_service_level": 3 / 4,
        "orders_owned": 2,  # O1 O3
        "orders_closed_on_time": 2,  # O3 thanks to the National Day holiday
        "callbacks_due": 2,
        "callbacks_on_time": 2,
        "satisfaction_answers": 2,
        "satisfied": 1,
        "satisfaction_rate": 0.5,
        # logged in since 31 Aug 23:00: counted from 1 Sep 00:00 to the 02:00 logout, and
        # 30 Sep 23:00 to the month's end (still logged in)
        "logged_in_s": 7_200 + 3_600,
        "paused_s": 900,  # 小休 01:00-01:15
        "paused_by_reason_s": {"小休": 900},
        "after_call_work_s": 30,  # 01:20:00-01:20:30, set by the bridge
        "inspected": 0,
        "inspected_with_errors": 0,
        "error_rate": None,
        "quality_score": None,
    },
    {
        "job_number": "1002",
        "name": "王芳",
        "interface": A1002,
        "calls_rung": 3,  # V3 V4 V5
        "calls_answered": 2,
        "answer_rate": 2 / 3,
        "answered_in_15s": 1,  # V4's 3 999; V3's 15 001 is over
        "answered_in_15s_rate": 0.5,
        "asa_ms": 14_501,  # (15 001 + 14 001) / 2
        "avg_ring_to_answer_ms": 9_500,  # (15 001 + 3 999) / 2
        "rings": 3,
        "rings_answered_in_15s": 1,  # V4
        "rings_answered_late": 1,  # V3
        "rings_missed": 0,
        "rings_gave_up": 1,  # V5, after 20 s of ringing: against 1002
        "rings_taken_by_other": 0,
        "rings_against_agent": 2,
        "ring_service_level": 1 / 3,
        "orders_owned": 2,  # O2 O4 (O5 is August's)
        "orders_closed_on_time": 0,  # O2 dispatched late, O4 never closed
        "callbacks_due": 1,  # O2 (consultations get none)
        "callbacks_on_time": 0,
        "satisfaction_answers": 1,
        "satisfied": 1,
        "satisfaction_rate": 1.0,
        "logged_in_s": 8_400,  # 10 Sep 09:00-11:20, logging out while paused
        "paused_s": 3_600 + 1_200,
        "paused_by_reason_s": {"就餐": 3_600, "培训": 1_200},
        "after_call_work_s": 0,
        "inspected": 0,
        "inspected_with_errors": 0,
        "error_rate": None,
        "quality_score": None,
    },
]


# ---------------------------------------------------------------------- fixture


@contextlib.asynccontextmanager
async def environment(db_url: str) -> AsyncIterator[Env]:
    """The month recorded in a fresh database, and a web app serving reports and dashboard."""
    engine = create_engine(db_url)
    clock = Clock()
    store = SqlTokenStore(engine)
    tokens = {
        "supervisor": await store.create("sup", Role.SUPERVISOR),
        "admin": await store.create("adm", Role.ADMIN),
        "agent": await store.create("agent-1002", Role.AGENT, "1002"),
        "integration": await store.create("crm", Role.INTEGRATION),
    }
    directory = SqlAgentDirectory(engine)
    await directory.put(Agent("1001", "李明", A1001, ("q-repair",)))
    await directory.put(Agent("1002", "王芳", A1002, ("q-repair",)))
    visits = SqlVisitRepository(engine)
    await record_calls(visits)
    policy = CallbackPolicy()
    await record_orders(
        SqlWorkOrders(engine, china_is_workday, policy, clock),
        SqlCallbacks(engine, policy, clock),
        SqlDispatch(engine, SqlDutyRoster(engine, clock), DispatchPolicy(), clock),
        clock,
    )
    await record_states(engine, directory, clock)
    clock.now = bj(2026, 11, 2, 9, 0)  # reports are made after the month is over
    app = web.Application(middlewares=[auth_middleware(store)])
    add_report_routes(app, MonthlyReports(SqlReportRows(engine), BJ, clock))
    tracking = CallTracking(visits, lambda: datetime_to_us(clock()))
    add_dashboard_routes(app, DashboardSource(tracking, directory, BJ))
    try:
        async with TestClient(TestServer(app)) as client:
            yield Env(client, tokens, clock, directory)
    finally:
        await engine.dispose()


@pytest.fixture
async def env(db_url: str) -> AsyncIterator[Env]:
    async with environment(db_url) as e:
        yield e


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_figures(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float):
            assert got == pytest.approx(want), key
        else:
            assert got == want, key


# ---------------------------------------------------------------------- tests


async def test_september_by_hand(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    response = await client.get(
        "/api/reports/monthly?month=2026-09", headers=auth(tokens["supervisor"])
    )
    assert response.status == 200
    report = await response.json()
    assert report["month"] == "2026-09" and report["timezone"] == "Asia/Shanghai"
    assert datetime.fromisoformat(report["start"]) == bj(2026, 9, 1, 0, 0)
    assert datetime.fromisoformat(report["end"]) == bj(2026, 10, 1, 0, 0)
    assert report["final"] is True
    assert set(report["centre"]) == set(EXPECTED_CENTRE)
    assert_figures(report["centre"], EXPECTED_CENTRE)
    assert [a["job_number"] for a in report["agents"]] == ["1001", "1002"]
    for got, want in zip(report["agents"], EXPECTED_AGENTS, strict=True):
        assert set(got) == set(want)
        assert_figures(got, want)


async def test_the_neighbouring_months_get_what_september_left_out(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    sup = auth(tokens["supervisor"])
    october = await (await client.get("/api/reports/monthly?month=2026-10", headers=sup)).json()
    # V8 (answered by 1002 after 0.5 s) and O6 (a repair never dispatched)
    assert october["centre"]["offered"] == 1 and october["centre"]["answered_in_15s"] == 1
    assert october["centre"]["repair_orders"] == 1
    assert october["centre"]["dispatched_in_5min"] == 0
    # at October's end: O4 (Sep), O5 (Aug) and O6 (dispatch due 1 Oct 00:15) are open past due
    assert october["centre"]["open_past_due_at_month_end"] == 3
    august = await (await client.get("/api/reports/monthly?month=2026-08", headers=sup)).json()
    assert august["centre"]["offered"] == 1 and august["centre"]["abandoned"] == 1  # V9
    assert august["centre"]["orders_recorded"] == 1  # O5
    # 1001 logged in at 23:00 on 31 Aug and again at 23:00 on 30 Sep, never out since: one
    # hour of August, and all of October (the report is made after it ended)
    state = {
        m: {a["job_number"]: a for a in r["agents"]} for m, r in (("8", august), ("10", october))
    }
    assert state["8"]["1001"]["logged_in_s"] == 3_600
    assert state["10"]["1001"]["logged_in_s"] == 31 * 86_400
    assert state["10"]["1001"]["paused_by_reason_s"] == {}
    assert state["10"]["1002"]["logged_in_s"] == 0
    series = await (await client.get("/api/reports/series?to=2026-10&months=3", headers=sup)).json()
    assert [m["month"] for m in series["months"]] == ["2026-08", "2026-09", "2026-10"]
    assert series["months"][1]["centre"]["service_level"] == pytest.approx(4 / 6)


async def test_csv_and_xlsx_carry_the_same_figures_as_json(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    sup = auth(tokens["admin"])  # admin may do what supervisors do
    url = "/api/reports/monthly?month=2026-09"
    report = await (await client.get(url, headers=sup)).json()

    response = await client.get(url + "&format=csv", headers=sup)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "95598-report-2026-09.csv" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["95598 月度报表 (month)", "2026-09"]
    centre, agents = _csv_sections(rows)
    _compare(centre, report["centre"])
    assert len(agents) == len(report["agents"])
    for got, want in zip(agents, report["agents"], strict=True):
        _compare(got, want)

    response = await client.get(url + "&format=xlsx", headers=sup)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = openpyxl.load_workbook(io.BytesIO(await response.read()))
    assert book.sheetnames == ["中心", "坐席", "趋势"]
    assert len(book["坐席"]._charts) == 1 and len(book["趋势"]._charts) == 1  # native charts
    sheet_rows = [list(r) for r in book["中心"].iter_rows(values_only=True)]
    start = sheet_rows.index(["指标 (figure)", "数值 (value)"])
    _compare({_key(k): v for k, v in sheet_rows[start + 1 :]}, report["centre"])
    agent_rows = [list(r) for r in book["坐席"].iter_rows(values_only=True)]
    keys = [_key(h) for h in agent_rows[0]]
    for row, want in zip(agent_rows[1:], report["agents"], strict=True):
        _compare(dict(zip(keys, row, strict=True)), want)
    assert book["中心"].cell(row=start + 5, column=2).number_format == "0.0%"  # service level


def _key(header: str) -> str:
    return header.rsplit("(", 1)[1].rstrip(")")


def _csv_sections(rows: list[list[str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    c = rows.index(["中心 (centre)"])
    a = rows.index(["坐席 (agents)"])
    centre = {_key(k): v for k, v in rows[c + 2 : a - 1]}
    keys = [_key(h) for h in rows[a + 1]]
    agents = [dict(zip(keys, r, strict=True)) for r in rows[a + 2 :] if r]
    return centre, agents


def _compare(file_values: dict[str, Any], json_values: dict[str, Any]) -> None:
    """A file's cells (text in CSV, typed in XLSX) against the JSON's values."""
    assert set(file_values) == set(json_values)
    for key, want in json_values.items():
        got = file_values[key]
        if want is None or want == {}:
            assert got in ("", None), key
        elif isinstance(want, dict):  # seconds per reason, one cell
            assert got == seconds_by(want), key
        elif isinstance(want, bool):
            assert got == ("是" if want else "否"), key
        elif isinstance(want, float):
            assert float(got) == pytest.approx(want), key
        elif isinstance(want, int):
            assert int(got) == want, key
        else:
            assert got == want, key


async def test_bad_requests_and_roles(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _, _ = env
    sup = auth(tokens["supervisor"])
    for query, needle in [
        ("", "month is required"),
        ("?month=2026-13", "YYYY-MM"),
        ("?month=2026-9", "YYYY-MM"),
        ("?month=26-09", "YYYY-MM"),
        ("?month=1999-12", "between 2000 and 2100"),
        ("?month=2026-09&format=pdf", "format is one of json, csv, xlsx"),
    ]:
        response = await client.get("/api/reports/monthly" + query, headers=sup)
        assert response.status == 400, query
        assert needle in (await response.json())["error"], query
    bad = await client.get("/api/reports/series?to=2026-09&months=0", headers=sup)
    assert bad.status == 400
    assert (await client.get("/api/reports/monthly?month=2026-09")).status == 401
    for role in ("agent", "integration"):
        denied = await client.get("/api/reports/monthly?month=2026-09", headers=auth(tokens[role]))
        assert denied.status == 403, role
    mine = await client.get("/api/reports/monthly/me?month=2026-09", headers=auth(tokens["agent"]))
    body = await mine.json()
    assert mine.status == 200 and body["agent"]["job_number"] == "1002"
    assert_figures(body["agent"], EXPECTED_AGENTS[1])
    assert "centre" not in body


async def test_the_running_month_is_not_final(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, clock, _ = env
    clock.now = bj(2026, 9, 16, 12, 0)  # mid-September: O4's reply is not due until the 18th
    report = await (
        await client.get("/api/reports/monthly?month=2026-09", headers=auth(tokens["supervisor"]))
    ).json()
    assert report["final"] is False
    # the snapshot is "now": O5 (Aug) is open past due, O4 not yet; O2's dispatch was late
    assert report["centre"]["open_past_due_at_month_end"] == 1
    assert report["centre"]["deadlines_missed"] == 1


async def test_the_dashboard_draws_the_month_in_a_real_browser(sqlite_url: str) -> None:
    _browser_or_fail()
    async with environment(sqlite_url) as (client, tokens, _, agents):
        # a name that would run script if it ever became markup
        evil = "<img src=x onerror=window.__xss=1>"
        await agents.put(Agent("1003", evil, "Local/1003@sim-agents/n", ("q-repair",)))
        browser = await asyncio.to_thread(Browser)
        try:
            url = (
                f"http://{client.host}:{client.port}/dashboard"
                f"#token={tokens['supervisor']}&month=2026-09"
            )
            await asyncio.to_thread(browser.driver.get, url)

            async def shows(element_id: str, needle: str) -> bool:
                return needle in await asyncio.to_thread(browser.text, element_id)

            def js(script: str) -> Any:
                return asyncio.to_thread(browser.driver.execute_script, script)

            await until(lambda: shows("report-status", "2026-09（已结束）"), 15, "report loaded")
            assert await shows("report-centre", "66.7%")  # service level 4/6
            assert await shows("report-centre", "未达标")  # satisfaction 66.7 % < 90 %: not met
            assert await shows("report-agents", evil)  # shown as text
            assert await js("return window.__xss") is None
            bars = await js(
                "return [...document.querySelectorAll('#chart-agents rect.bar')]"
                ".map(b => [b.dataset.job, b.dataset.value, b.getAttribute('width')])"
            )
            # 1001: 3 of 3 within 15 s (the longest bar), 1002: 1 of 2, 1003: none
            assert [(j, v) for j, v, _ in bars] == [("1001", "3"), ("1002", "1"), ("1003", "0")]
            widths = [float(w) for _, _, w in bars]
            assert widths[0] == pytest.approx(3 * widths[1]) and widths[2] == 0
            points = await js(
                "return [...document.querySelectorAll('#chart-trend circle')]"
                ".map(c => [c.getAttribute('class'), c.dataset.month, +c.dataset.value])"
            )
            # six months April-September: service level exists for August (0 of 1) and
            # September (4/6); satisfaction only for September (2/3)
            assert [(c, m) for c, m, _ in points] == [
                ("pt-sl", "2026-08"),
                ("pt-sl", "2026-09"),
                ("pt-sat", "2026-09"),
            ]
            assert [v for _, _, v in points] == pytest.approx([0.0, 4 / 6, 2 / 3])
            target = await js(
                "const l = document.querySelector('#chart-trend line.target');"
                "const g = [...document.querySelectorAll('#chart-trend line.grid')];"
                "return [+l.getAttribute('y1'), +g[0].getAttribute('y1'),"
                " +g[4].getAttribute('y1')]"
            )
            zero, full = target[1], target[2]
            assert target[0] == pytest.approx(zero + 0.9 * (full - zero))  # the 90 % line

            # another month, chosen on the page
            await js(
                "const m = document.getElementById('report-month'); m.value = '2026-10';"
                "document.getElementById('report-load').click();"
            )
            await until(lambda: shows("report-status", "2026-10（已结束）"), 15, "October loaded")
            assert await shows("report-centre", "0.0%")  # October's repair never dispatched
            bars = await js(
                "return [...document.querySelectorAll('#chart-agents rect.bar')]"
                ".map(b => [b.dataset.job, b.dataset.value])"
            )
            assert bars == [["1001", "0"], ["1002", "1"], ["1003", "0"]]  # V8: 1002 in 0.5 s
        finally:
            await asyncio.to_thread(browser.close)


# ------------------------------------------------- an agent whose interface changes mid-month

SIM_2001 = "Local/2001@sim-agents/n"  # 2001's member until 10 November, then 2002's
PHONE_2001 = phone_member_interface("2001")  # Local/2001@agent-dial/n, from 10 November


class _Queues:
    """AMI stand-in for AgentControl: QueueAdd and Setvar accepted, nothing else needed."""

    async def queue_add(
        self, queue: str, interface: str, member_name: str, state_interface: str | None = None
    ) -> None:
        pass

    async def set_agent_device(self, job_number: str, device: str | None) -> None:
        pass

    async def queue_remove(self, queue: str, interface: str) -> None:
        pass

    async def queue_pause(self, queue: str | None, interface: str, paused: bool, r: str) -> None:
        pass


def ringing(
    uid: str, joined: datetime, interface: str, member: str, ring_ms: int
) -> list[QueueEvent]:
    """Rung and answered after ``ring_ms`` (the member name as Asterisk reports it)."""
    j = datetime_to_us(joined)
    return [
        CallerJoined(j, uid, "q-repair", "13900000003"),
        AgentRung(j, uid, interface, member),
        AgentAnswered(j + ring_ms * MS, uid, interface, member, uid + "-agent"),
        AgentCompleted(j + (ring_ms + 30_000) * MS, uid, "caller"),
    ]


def rung_unanswered(uid: str, joined: datetime, interface: str, member: str) -> list[QueueEvent]:
    j = datetime_to_us(joined)
    return [
        CallerJoined(j, uid, "q-repair", "13900000004"),
        AgentRung(j, uid, interface, member),
        AgentRingNoAnswer(j + 15_000 * MS, uid, interface),
        HangupRequested(j + 20_000 * MS, uid),
        CallerAbandoned(j + 20_000 * MS, uid),
    ]


async def test_an_agent_keeps_their_calls_when_their_interface_changes(db_url: str) -> None:
    """November 2026: 2001 answers N1 and is rung for N2 as a simulated member, moves to a desk
    phone on the 10th (logs in there), and 2002 is given the old member interface on the
    12th. Each call stays with who answered or was rung at the time: 2001 gets N1 N2 N3 (and
    N0, stored before job numbers were, by the phone interface that is 2001's now), 2002 only
    N4. By the current interface alone N1 and N2 would be 2002's."""
    engine = create_engine(db_url)
    try:
        directory = SqlAgentDirectory(engine)
        visits = SqlVisitRepository(engine)
        await directory.put(Agent("2001", "张三", SIM_2001, ("q-repair",)))
        tracking = CallTracking(visits, lambda: 0, agents=directory)
        control = AgentControl(directory, _Queues(), logging_in=tracking.agent_noted)
        control.test_member_context = "sim-agents"
        await tracking.start()
        sup = Principal("sup", Role.SUPERVISOR)
        try:
            # a row from before migration 0010: no job numbers, answered at 2001's phone
            n0 = QueueCallTracker()
            for event in ringing("n0", bj(2026, 11, 1, 9, 0), PHONE_2001, "", 6_000):
                for visit in n0.handle(event).finished:
                    await visits.save(visit)

            def play(events: list[QueueEvent]) -> None:
                for event in events:
                    tracking.handle(event)

            # sandbox-style member names ("agent-…"): attributed by the interface at the time
            play(ringing("n1", bj(2026, 11, 3, 10, 0), SIM_2001, "agent-2001", 2_000))
            play(rung_unanswered("n2", bj(2026, 11, 5, 10, 0), SIM_2001, "agent-2001"))
            # 10 Nov: 2001 moves to a desk phone (PUT as the API does) and logs in there
            await directory.put(Agent("2001", "张三", PHONE_2001, ("q-repair",), "PJSIP/8001"))
            tracking.agents_changed()
            await control.log_in(sup, "2001")
            # 12 Nov: a new agent gets the old member interface
            await directory.put(Agent("2002", "李四", SIM_2001, ("q-repair",)))
            tracking.agents_changed()
            await tracking.roster_current()
            play(ringing("n3", bj(2026, 11, 15, 10, 0), PHONE_2001, "2001", 4_000))
            play(ringing("n4", bj(2026, 11, 16, 10, 0), SIM_2001, "agent-2002", 20_000))
            await tracking.flushed()
        finally:
            await tracking.stop()

        stored = {
            v.unique_id: v
            for v in await visits.between(bj(2026, 11, 1, 0, 0), bj(2026, 12, 1, 0, 0))
        }
        assert {u: v.agent_job_number for u, v in stored.items()} == {
            "n0": None,
            "n1": "2001",
            "n2": None,  # not answered
            "n3": "2001",
            "n4": "2002",
        }
        assert [r.job_number for r in stored["n2"].rings] == ["2001"]

        clock = Clock()
        clock.now = bj(2026, 12, 2, 9, 0)
        report = await MonthlyReports(SqlReportRows(engine), BJ, clock).monthly(Month(2026, 11))
        rows = {a.job_number: a for a in report.agents}
        assert set(rows) == {"2001", "2002"}  # no job_number: null row
        mine = rows["2001"]
        assert mine.interface == PHONE_2001
        assert (mine.calls_rung, mine.calls_answered) == (4, 3)  # N0 N1 N2 N3; N0 N1 N3
        assert mine.answered_in_15s == 3  # rings 6 000, 2 000, 4 000
        assert mine.avg_ring_to_answer_ms == 4_000  # (6 000 + 2 000 + 4 000) / 3
        theirs = rows["2002"]
        assert theirs.interface == SIM_2001
        assert (theirs.calls_rung, theirs.calls_answered, theirs.answered_in_15s) == (1, 1, 0)
    finally:
        await engine.dispose()
