"""Figures the centre is judged by: service level, average speed of answer, abandon rate,
satisfaction of 90 % or more, and every agent's monthly assessment (answer rate, answered
within 15 s, callbacks on time, satisfaction).

One definition per figure, computed by one function and shown under one name: the live
dashboard's "today", ``/metrics`` and the monthly report give the same number for the same
calls.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.domain.agents import Agent
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome
from ivr.domain.report_columns import AGENT_COLUMNS, CENTRE_COLUMNS
from ivr.domain.reports import CallbackFact, Month, MonthRows, OrderFact, monthly_report
from ivr.domain.service_level import figures, figures_by_agent, figures_by_queue
from ivr.services.metrics import BridgeMetrics

BJ = ZoneInfo("Asia/Shanghai")
S = 1_000_000
ZHANG, LI = "Local/1001@agents/n", "Local/1002@agents/n"
AGENTS = [Agent("1001", "张", ZHANG, ("q-repair",)), Agent("1002", "李", LI, ("q-repair",))]
SEPT = datetime(2026, 9, 10, 2, 0, tzinfo=UTC)


def answered(agent: str, wait_s: float, ring_s: float, first_ring_s: float | None = None) -> Any:
    """Answered after ``wait_s`` in the queue, ``ring_s`` of the answering agent's ring; the
    call first rang ``first_ring_s`` before the answer (another agent missed it) if given."""
    j = int(SEPT.timestamp() * S)
    answer = j + int(wait_s * S)
    rings = [RingAttempt(agent, "", answer - int(ring_s * S), answer, RingEnd.ANSWERED)]
    if first_ring_s is not None:
        other = LI if agent == ZHANG else ZHANG
        start = answer - int(first_ring_s * S)
        rings.insert(0, RingAttempt(other, "", start, answer - int(ring_s * S), RingEnd.NO_ANSWER))
    return QueueVisit(
        f"u{wait_s}{ring_s}", "q-repair", "", j, VisitOutcome.ANSWERED, tuple(rings), agent,
        answered_us=answer, ring_to_answer_ms=int(ring_s * 1000),
        queue_wait_ms=int(wait_s * 1000), left_us=answer, ended_us=answer + 60 * S,
        talk_ms=60_000,
    )  # fmt: skip


def gave_up(after_s: float) -> QueueVisit:
    j = int(SEPT.timestamp() * S)
    at = j + int(after_s * S)
    return QueueVisit(
        f"g{after_s}", "q-repair", "", j, VisitOutcome.ABANDONED, left_us=at, ended_us=at
    )


CALLS = [
    answered(ZHANG, 3, 3),
    answered(ZHANG, 15, 15),  # 15.000 s: within
    answered(LI, 20, 5, first_ring_s=20),  # Li took 5 s; the call rang 20 s: not within
    answered(LI, 16, 16),  # late
    gave_up(40),  # counts against the service level
    gave_up(2),  # a misdial: left out of it
]


def metrics_value(exposition: bytes, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"{name} {labels} not exposed")


def september() -> Any:
    return monthly_report(Month(2026, 9), BJ, MonthRows(CALLS, [], AGENTS), SEPT)


def test_the_service_level_is_answered_in_15_s_of_the_first_ring_over_offered_less_misdials() -> (
    None
):
    got = figures(CALLS, short_abandon_s=5)
    assert got.service_level == pytest.approx(2 / 5)  # 2 within / (6 offered − 1 misdial)


async def test_the_service_level_is_one_number_in_the_dashboard_the_metrics_and_the_report() -> (
    None
):
    today = {
        "total": figures(CALLS).as_dict(),
        "by_queue": {q: f.as_dict() for q, f in figures_by_queue(CALLS).items()},
        "by_agent": {a: f.as_dict() for a, f in figures_by_agent(CALLS).items()},
    }
    snapshot = {"queues": {}, "talking": [], "agents": [], "ami_resyncs": 0, "today": today}

    async def live() -> dict[str, Any]:
        return snapshot

    scraped = await BridgeMetrics().exposition(live)
    report = september()
    assert (
        today["total"]["service_level"]
        == metrics_value(scraped, "ivr_today_service_level", queue="_all")
        == report.centre.service_level
        == pytest.approx(2 / 5)
    )


def test_asterisks_queue_wait_figure_is_shown_beside_it_under_its_own_name() -> None:
    centre = september().centre
    assert centre.queue_wait_service_level == pytest.approx(2 / 4)  # waits 3, 15 ≤ 15 s
    assert centre.answered_service_level == pytest.approx(2 / 4)
    keys = [key for key, _, _ in CENTRE_COLUMNS]
    assert {"service_level", "answered_service_level", "queue_wait_service_level"} <= set(keys)


def test_the_average_speed_of_answer_is_the_mean_queue_wait_of_answered_calls() -> None:
    assert september().centre.asa_ms == round((3 + 15 + 20 + 16) * 1000 / 4)


def test_the_abandon_rate_leaves_misdials_out_of_both_terms() -> None:
    assert september().centre.abandon_rate == pytest.approx(1 / 5)


def test_satisfaction_of_90_percent_or_more_meets_the_target() -> None:
    def month_with(satisfied: int, of: int) -> Any:
        orders = [
            OrderFact(f"A{n}", "repair", "1001", "callback_done", SEPT,
                      callback=CallbackFact("done", SEPT, SEPT, n < satisfied))
            for n in range(of)
        ]  # fmt: skip
        rows = MonthRows([], orders, AGENTS)
        return monthly_report(Month(2026, 9), BJ, rows, SEPT).centre

    assert month_with(9, 10).satisfaction_target_met is True
    assert month_with(8, 10).satisfaction_target_met is False
    assert month_with(0, 0).satisfaction_target_met is None  # nobody asked: no verdict


def test_each_agents_monthly_assessment_has_the_15_second_rule_callbacks_and_satisfaction() -> None:
    rows = {a.job_number: a for a in september().agents}
    zhang, li = rows["1001"], rows["1002"]
    assert (zhang.calls_answered, zhang.answered_in_15s, zhang.answer_rate) == (2, 2, 2 / 3)
    assert (zhang.rings_missed, zhang.rings_against_agent) == (1, 1)  # the call Li then took
    assert (li.calls_answered, li.answered_in_15s, li.rings_answered_late) == (2, 1, 1)
    assert li.ring_service_level == pytest.approx(1 / 2)
    keys = {key for key, _, _ in AGENT_COLUMNS}
    assert {
        "answer_rate", "answered_in_15s", "callbacks_on_time", "satisfaction_rate", "rings",
        "rings_answered_in_15s", "rings_answered_late", "rings_missed", "rings_gave_up",
        "rings_against_agent",
    } <= keys  # fmt: skip
