"""Quality inspection (质检): the standard's items are on the form, the error rate is judged
against "under 0.5 %", every complaint call and every dissatisfied 回访 is inspected, and each
agent's monthly assessment carries the error rate and the quality score."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ivr.config import InspectionSettings
from ivr.domain.agents import Agent
from ivr.domain.inspection import (
    ERROR_RATE_TARGET,
    Candidate,
    InspectionFact,
    SampleReason,
    draw,
    score,
)
from ivr.domain.report_columns import AGENT_COLUMNS, CENTRE_COLUMNS
from ivr.domain.reports import Month, MonthRows, monthly_report

BJ = ZoneInfo("Asia/Shanghai")


def test_the_form_scores_the_standards_six_items() -> None:
    standard = InspectionSettings().standard()
    assert [i.label for i in standard.items] == [
        "标准开场白",
        "普通话",
        "礼貌用语",
        "首问负责",
        "业务准确",
        "规范结束语",
    ]
    full = {i.key: i.weight for i in standard.items}
    assert score(standard, full).score == 100.0


def test_an_error_rate_of_0_5_percent_misses_the_target_and_just_under_meets_it() -> None:
    assert ERROR_RATE_TARGET == 0.005
    at = datetime(2026, 12, 31, tzinfo=UTC)
    agents = [Agent("1001", "张", "Local/1001@agents/n", ("q-repair",))]

    def report(errors: int, inspected: int):  # type: ignore[no-untyped-def]
        facts = [InspectionFact("1001", 100.0, n < errors) for n in range(inspected)]
        rows = MonthRows(visits=[], orders=[], agents=agents, inspections=facts)
        return monthly_report(Month(2026, 12), BJ, rows, at)

    assert report(1, 200).centre.error_rate_target_met is False  # exactly 0.5 %: not under
    assert report(1, 201).centre.error_rate_target_met is True
    agent = report(1, 200).agents[0]
    assert (agent.inspected, agent.inspected_with_errors, agent.error_rate) == (200, 1, 0.005)


def test_every_complaint_call_and_every_dissatisfied_callback_is_inspected() -> None:
    calls = [Candidate(n, "1001") for n in range(1, 101)]
    calls += [Candidate(200 + n, "1001", complaint=True) for n in range(5)]
    calls += [Candidate(300 + n, "1002", dissatisfied=True) for n in range(5)]
    drawn = {d.recording_id: d.reasons for d in draw(calls, 0.0, b"k" * 32, "2026-12")}
    assert set(drawn) == {200 + n for n in range(5)} | {300 + n for n in range(5)}
    assert all(
        SampleReason.COMPLAINT in drawn[200 + n] and SampleReason.DISSATISFIED in drawn[300 + n]
        for n in range(5)
    )


def test_the_monthly_report_files_carry_the_error_rate_and_quality_score() -> None:
    centre = {key for key, _, _ in CENTRE_COLUMNS}
    agent = {key for key, _, _ in AGENT_COLUMNS}
    assert {"error_rate", "error_rate_target_met", "quality_score"} <= centre
    assert {"inspected", "error_rate", "quality_score"} <= agent
