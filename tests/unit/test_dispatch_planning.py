"""The pure dispatch planner: who is on duty, whom to call next, ring times inside the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.domain.dispatch import (
    Action,
    CallResult,
    Crew,
    DispatchContext,
    DispatchPolicy,
    PastCall,
    Shift,
    Target,
    at_risk,
    check_shift,
    next_call,
    on_duty,
    order_message,
    ring_for,
    worst_case_plan,
)
from ivr.domain.phone import PhoneNumber

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
S = timedelta(seconds=1)
A = Crew(1, "一班", PhoneNumber("13700000001"))
B = Crew(2, "二班", PhoneNumber("13700000002"))
C = Crew(3, "三班", PhoneNumber("13700000003"))
BOSS = PhoneNumber("13700000009")
POLICY = DispatchPolicy()  # production: 5 min, 25 s rings, 60 s reading, alert at 3 min


def shift(id_: int, crew: Crew, start_h: float, end_h: float, priority: int = 1) -> Shift:
    return Shift(id_, crew.id, T0 + timedelta(hours=start_h), T0 + timedelta(hours=end_h), priority)


def called(crew: Crew | None, result: CallResult | None = CallResult.NO_ANSWER) -> PastCall:
    if crew is None:
        return PastCall(Target.ESCALATION, None, result)
    return PastCall(Target.CREW, crew.id, result)


# --- who is on duty -------------------------------------------------------------------------


def test_on_duty_orders_primary_before_backups() -> None:
    shifts = [shift(1, C, 0, 8, 3), shift(2, A, 0, 8, 1), shift(3, B, 0, 8, 2)]
    assert on_duty([A, B, C], shifts, T0 + timedelta(hours=1)) == [A, B, C]


def test_shift_bounds_are_start_inclusive_end_exclusive() -> None:
    shifts = [shift(1, A, 0, 8), shift(2, B, 8, 16)]
    assert on_duty([A, B], shifts, T0) == [A]
    assert on_duty([A, B], shifts, T0 + timedelta(hours=8)) == [B]
    assert on_duty([A, B], shifts, T0 - S) == []


def test_inactive_crews_and_unknown_crews_are_never_on_duty() -> None:
    inactive = Crew(1, "一班", A.phone, active=False)
    shifts = [shift(1, inactive, 0, 8), shift(2, B, 0, 8, 2), Shift(3, 99, T0, T0 + S * 60, 1)]
    assert on_duty([inactive, B], shifts, T0) == [B]


def test_a_crew_on_two_shifts_counts_once_at_its_best_priority() -> None:
    shifts = [shift(1, A, 0, 8, 3), shift(2, A, 0, 4, 1), shift(3, B, 0, 8, 2)]
    assert on_duty([A, B], shifts, T0) == [A, B]


@pytest.mark.parametrize(
    ("start", "end", "priority", "problem"),
    [
        (T0, T0, 1, "end after"),
        (T0, T0 - S, 1, "end after"),
        (T0, T0 + timedelta(days=8), 1, "7 days"),
        (T0.replace(tzinfo=None), T0 + S, 1, "time zone"),
        (T0, T0 + S, 0, "priority"),
        (T0, T0 + S, 100, "priority"),
    ],
)
def test_bad_shifts_are_refused(start, end, priority, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=problem):
        check_shift(start, end, priority)


# --- whom to call next ----------------------------------------------------------------------


def test_first_call_goes_to_the_primary_crew_with_the_full_ring() -> None:
    decision = next_call(POLICY, T0, T0, [A, B], [])
    assert (decision.action, decision.crew, decision.ring) == (Action.CALL, A, 25 * S)


def test_no_answer_moves_on_to_the_next_crew() -> None:
    decision = next_call(POLICY, T0, T0 + 26 * S, [A, B], [called(A)])
    assert decision.crew == B


def test_escalation_after_the_first_round() -> None:
    policy = DispatchPolicy(escalation_phone=BOSS)
    decision = next_call(policy, T0, T0 + 60 * S, [A, B], [called(A), called(B)])
    assert (decision.target, decision.phone) == (Target.ESCALATION, BOSS)
    # once only; then the second round of crews
    after = next_call(policy, T0, T0 + 90 * S, [A, B], [called(A), called(B), called(None)])
    assert (after.target, after.crew) == (Target.CREW, A)


def test_escalation_when_its_time_comes_even_mid_round() -> None:
    policy = DispatchPolicy(escalation_phone=BOSS)
    decision = next_call(policy, T0, T0 + 151 * S, [A, B, C], [called(A)])
    assert decision.target is Target.ESCALATION


def test_the_last_call_that_fits_goes_to_the_escalation_number() -> None:
    """Six crews ringing 29 s each with 117 s kept for the reading: the first round would end
    after the last call that fits, so the supervisor gets that call instead of crew six."""
    policy = DispatchPolicy(ring_timeout=29 * S, talk_budget=117 * S, escalation_phone=BOSS)
    crews = [Crew(i, f"{i}", PhoneNumber(f"1370000000{i}")) for i in range(1, 7)]
    calls = [called(c) for c in crews[:5]]
    decision = next_call(policy, T0, T0 + 145 * S, crews, calls)
    assert decision.target is Target.ESCALATION
    assert next_call(policy, T0, T0 + 174 * S, crews, calls).action is Action.EXHAUSTED


def test_nobody_on_duty_goes_straight_to_escalation_or_is_exhausted() -> None:
    assert next_call(DispatchPolicy(escalation_phone=BOSS), T0, T0, [], []).phone == BOSS
    assert next_call(POLICY, T0, T0, [], []).action is Action.EXHAUSTED


def test_each_crew_at_most_rounds_times() -> None:
    policy = DispatchPolicy(rounds=1)
    assert next_call(policy, T0, T0 + 60 * S, [A, B], [called(A), called(B)]).action is (
        Action.EXHAUSTED
    )


def test_a_busy_crew_is_skipped_and_waited_for_when_nobody_else_is_left() -> None:
    assert next_call(POLICY, T0, T0, [A, B], [], frozenset({A.id})).crew == B
    assert next_call(POLICY, T0, T0, [A], [], frozenset({A.id})).action is Action.WAIT


def test_accepted_is_done() -> None:
    assert next_call(POLICY, T0, T0, [A], [called(A, CallResult.ACCEPTED)]).action is Action.DONE


def test_ring_shrinks_to_fit_the_limit_then_stops() -> None:
    # 5 min limit, 60 s kept for the reading: a call at 3:30 may ring 30 s → capped at 25
    assert ring_for(POLICY, T0, T0 + 210 * S) == 25 * S
    assert ring_for(POLICY, T0, T0 + 225 * S) == 15 * S  # 300 - 60 - 225
    assert ring_for(POLICY, T0, T0 + 231 * S) is None  # 9 s < min_ring 10 s
    decision = next_call(POLICY, T0, T0 + 231 * S, [A, B], [called(A)])
    assert decision.action is Action.EXHAUSTED


@given(
    crews=st.integers(0, 6),
    rounds=st.integers(1, 4),
    ring=st.integers(10, 60),
    talk=st.integers(20, 120),
    escalate=st.booleans(),
)
def test_worst_case_every_call_fits_inside_the_limit(crews, rounds, ring, talk, escalate) -> None:  # type: ignore[no-untyped-def]
    policy = DispatchPolicy(
        ring_timeout=ring * S,
        talk_budget=talk * S,
        rounds=rounds,
        escalation_phone=BOSS if escalate else None,
    )
    plan = worst_case_plan(policy, crews)
    for _target, start in plan:
        assert start + policy.min_ring + policy.talk_budget <= policy.limit
    assert sum(1 for t, _ in plan if t is Target.ESCALATION) == (1 if escalate and plan else 0)
    assert sum(1 for t, _ in plan if t is Target.CREW) <= crews * rounds


def test_production_plan_for_two_crews_and_a_supervisor() -> None:
    """Nobody answers: primary, backup, the supervisor, then both crews once more; the last
    ring ends at 2:05, leaving the reading time well inside 5 minutes."""
    plan = worst_case_plan(DispatchPolicy(escalation_phone=BOSS), 2)
    assert [(t.value, int(s.total_seconds())) for t, s in plan] == [
        ("crew", 0),
        ("crew", 25),
        ("escalation", 50),
        ("crew", 75),
        ("crew", 100),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ring_timeout": 5 * S, "min_ring": 10 * S},
        {"ring_timeout": 250 * S, "talk_budget": 60 * S},
        {"risk_after": 300 * S},
        {"escalate_after": 301 * S},
        {"rounds": 0},
        {"max_plays": 11},
    ],
)
def test_policies_that_cannot_work_are_refused(kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        DispatchPolicy(**kwargs)


# --- when the limit is at risk -------------------------------------------------------------


def test_at_risk_after_three_minutes_or_when_nobody_is_left() -> None:
    assert at_risk(POLICY, T0, T0 + 179 * S, exhausted=False) is None
    reason = at_risk(POLICY, T0, T0 + 180 * S, exhausted=False)
    assert reason == "not accepted 180 s after recording"
    assert at_risk(POLICY, T0, T0 + S, exhausted=True) == "nobody left to call inside the limit"


# --- what the crew hears ------------------------------------------------------------------


def test_order_message_has_the_fixed_opening_and_no_digits() -> None:
    ctx = DispatchContext("A1", "1024", "幸福路12号", "整栋楼停电", "13800138000", "停电")
    text = order_message(ctx)
    assert text.startswith("您好，我是客服幺零二四值班员，有故障报修请接令。")
    assert "地址：幸福路十二号。故障：整栋楼停电。" in text
    assert text.endswith("客户回拨电话：幺三八，零零幺三，八零零零。")
    assert not any(ch.isdigit() for ch in text)


def test_order_message_without_address_or_fault_uses_the_summary() -> None:
    text = order_message(DispatchContext("A1", "7", None, None, "13800138000", "变压器冒烟"))
    assert "地址：未登记。故障：变压器冒烟。" in text
