"""Quality inspection's pure rules (``ivr.domain.inspection``): scoring against the standard,
the failed-item rule, the random draw with complaints and dissatisfied calls, periods, the
monthly figures; and signed playback links (``ivr.domain.playback_links``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.access import Principal, Role
from ivr.domain.agents import Agent
from ivr.domain.inspection import (
    DEFAULT_ITEMS,
    BadScores,
    BadStandard,
    Candidate,
    InspectionFact,
    InspectionItem,
    QualityStandard,
    SamplePer,
    SampleReason,
    draw,
    period_bounds,
    period_of,
    quality,
    score,
)
from ivr.domain.playback_links import BadLink, sign, verify
from ivr.domain.reports import Month, MonthRows, monthly_report

BJ = ZoneInfo("Asia/Shanghai")
FULL = {i.key: i.weight for i in DEFAULT_ITEMS}
KEY = b"k" * 32


def test_the_default_standard_is_the_six_items_worth_100_points() -> None:
    standard = QualityStandard()
    assert [i.label for i in standard.items] == [
        "标准开场白",
        "普通话",
        "礼貌用语",
        "首问负责",
        "业务准确",
        "规范结束语",
    ]
    assert standard.points == 100


def test_full_marks_fail_nothing_and_a_low_item_fails_the_call() -> None:
    standard = QualityStandard()
    perfect = score(standard, FULL)
    assert perfect.score == 100.0 and not perfect.failed
    # opening 15 points, pass mark 0.6 × 15 = 9: 9 passes, 8 fails
    assert not score(standard, {**FULL, "opening": 9}).failed
    low = score(standard, {**FULL, "opening": 8, "closing": 0})
    assert low.failed_items == ("opening", "closing")
    assert low.score == 83.0


def test_scores_that_do_not_fit_the_standard_are_refused() -> None:
    standard = QualityStandard()
    without = dict(FULL)
    del without["accuracy"]
    cases = [
        (without, "accuracy"),
        ({**FULL, "tone": 3}, "not items"),
        ({**FULL, "opening": 16}, "0-15"),
        ({**FULL, "opening": -1}, "0-15"),
        ({**FULL, "opening": 7.5}, "whole points"),
        ({**FULL, "opening": True}, "whole points"),
    ]
    for given, message in cases:
        with pytest.raises(BadScores, match=message):
            score(standard, given)


def test_items_and_weights_are_configurable_and_checked() -> None:
    two = QualityStandard((InspectionItem("a", "甲", 30), InspectionItem("b", "乙", 20)), 0.5)
    result = score(two, {"a": 15, "b": 9})
    assert result.score == 48.0 and result.failed_items == ("b",)
    for bad in (
        (),
        (InspectionItem("a", "甲", 10), InspectionItem("a", "乙", 10)),
        (InspectionItem("A b", "甲", 10),),
        (InspectionItem("a", "甲", 0),),
        (InspectionItem("a", " ", 10),),
    ):
        with pytest.raises(BadStandard):
            QualityStandard(bad)
    with pytest.raises(BadStandard):
        QualityStandard(DEFAULT_ITEMS, 0)


def _calls(job: str, first: int, n: int) -> list[Candidate]:
    return [Candidate(first + i, job) for i in range(n)]


def test_the_draw_takes_a_share_of_each_agents_calls_plus_every_complaint_and_dissatisfied() -> (
    None
):
    calls = [
        *_calls("1001", 1, 40),
        *_calls("1002", 100, 3),
        Candidate(200, "1002", complaint=True),
        Candidate(201, "1003", dissatisfied=True),
    ]
    drawn = draw(calls, 0.1, KEY, "2026-12-05")
    sampled = [d for d in drawn if SampleReason.SAMPLED in d.reasons]
    by_agent = {job: sum(d.job_number == job for d in sampled) for job in ("1001", "1002", "1003")}
    assert by_agent == {"1001": 4, "1002": 1, "1003": 1}  # ceil(10 % of 40, 4, 1)
    reasons = {d.recording_id: d.reasons for d in drawn}
    assert SampleReason.COMPLAINT in reasons[200]
    assert SampleReason.DISSATISFIED in reasons[201]
    # the same period draws the same calls; another period (or key) others
    assert draw(calls, 0.1, KEY, "2026-12-05") == drawn
    other_days = [
        {d.recording_id for d in draw(calls, 0.1, KEY, f"2026-12-{day:02d}")}
        for day in range(6, 12)
    ]
    assert any(ids != {d.recording_id for d in drawn} for ids in other_days)
    assert [d.recording_id for d in draw(calls, 0.0, KEY, "2026-12-05")] == [200, 201]
    assert all(SampleReason.SAMPLED not in d.reasons for d in draw(calls, 0.0, KEY, "x"))
    assert len(draw(calls, 1.0, KEY, "x")) == len(calls)
    with pytest.raises(ValueError, match="share"):
        draw(calls, 1.5, KEY, "x")


def test_periods_are_days_or_months_in_the_centres_zone() -> None:
    start, end = period_bounds("2026-12-05", SamplePer.DAY, BJ)
    assert start == datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    start, end = period_bounds("2026-12", SamplePer.MONTH, BJ)
    assert (start, end) == (
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    for text, per in (
        ("2026-12", SamplePer.DAY),
        ("2026-12-05", SamplePer.MONTH),
        ("x", SamplePer.DAY),
    ):
        with pytest.raises(ValueError, match="period"):
            period_bounds(text, per, BJ)
    with pytest.raises(ValueError):
        period_bounds("2026-13", SamplePer.MONTH, BJ)
    late = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)  # 5 Dec 00:30 in Beijing
    assert period_of(late, SamplePer.DAY, BJ) == "2026-12-05"
    assert period_of(late, SamplePer.MONTH, BJ) == "2026-12"


def test_error_rate_is_calls_with_a_failed_item_over_inspected() -> None:
    facts = [InspectionFact("1001", 100.0, False)] * 199 + [InspectionFact("1001", 50.0, True)]
    figures = quality(facts)
    assert figures.inspected == 200 and figures.inspected_with_errors == 1
    assert figures.error_rate == 0.005
    assert figures.quality_score == 99.8
    assert quality([]).error_rate is None


def test_the_monthly_report_carries_the_quality_figures() -> None:
    rows = MonthRows(
        visits=[],
        orders=[],
        agents=[Agent("1001", "张三", "Local/1001@sim-agents/n", ("q-repair",))],
        inspections=[
            InspectionFact("1001", 90.0, False),
            InspectionFact("1001", 70.0, True),
            InspectionFact("1002", 100.0, False),
        ],
    )
    at = datetime(2026, 12, 20, tzinfo=UTC)
    report = monthly_report(Month(2026, 12), BJ, rows, at)
    assert report.centre.inspected == 3 and report.centre.inspected_with_errors == 1
    assert report.centre.error_rate == pytest.approx(1 / 3)
    assert report.centre.error_rate_target == 0.005
    assert report.centre.error_rate_target_met is False
    assert report.centre.quality_score == 86.7
    agents = {a.job_number: a for a in report.agents}
    assert (agents["1001"].inspected, agents["1001"].error_rate) == (2, 0.5)
    assert agents["1001"].quality_score == 80.0
    assert agents["1002"].quality_score == 100.0  # not in the directory, still a row
    empty = monthly_report(Month(2026, 12), BJ, MonthRows(visits=[], orders=[], agents=[]), at)
    assert empty.centre.error_rate is None and empty.centre.error_rate_target_met is None


VIEWER = Principal("t-agent", Role.AGENT, "7301")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_playback_link_names_its_viewer_and_recording() -> None:
    link = sign(KEY, 42, VIEWER, NOW, 300)
    assert verify(KEY, 42, link.query(), NOW + timedelta(seconds=299)) == VIEWER
    supervisor = sign(KEY, 42, Principal("t-sup", Role.SUPERVISOR), NOW, 300)
    assert verify(KEY, 42, supervisor.query(), NOW).job_number is None


def test_a_tampered_foreign_or_expired_link_is_refused() -> None:
    query = sign(KEY, 42, VIEWER, NOW, 300).query()
    tampered = [
        {**query, "viewer": "t-other"},
        {**query, "role": "supervisor"},
        {**query, "job": "7302"},
        {**query, "exp": str(int(query["exp"]) + 60)},
        {**query, "sig": "0" * 64},
        {k: v for k, v in query.items() if k != "sig"},
        {**query, "role": "root"},
        {**query, "exp": "soon"},
    ]
    for bad in tampered:
        with pytest.raises(BadLink):
            verify(KEY, 42, bad, NOW)
    with pytest.raises(BadLink, match="signature"):
        verify(KEY, 43, query, NOW)  # another recording
    with pytest.raises(BadLink, match="signature"):
        verify(b"x" * 32, 42, query, NOW)  # another centre's secret
    with pytest.raises(BadLink, match="expired") as late:
        verify(KEY, 42, query, NOW + timedelta(seconds=300))
    assert late.value.expired
    with pytest.raises(BadLink) as forged:
        verify(KEY, 42, {**query, "sig": "0" * 64}, NOW)
    assert not forged.value.expired
    far = sign(KEY, 42, VIEWER, NOW - timedelta(days=1), 600).query()
    with pytest.raises(BadLink, match="expired"):
        verify(KEY, 42, far, NOW)
    with pytest.raises(ValueError):
        sign(KEY, 42, VIEWER, NOW, 3600)
