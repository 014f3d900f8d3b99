"""Dispatch (派单): a repair order is dispatched to the crew on duty within 5 minutes of being
recorded; only the crew's 接令 (or an acceptance a dispatcher records with its reason) counts;
a crew that does not accept is followed by the next one on duty, and the centre is alerted
while there is still time to act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.calendar_cn import china_is_workday
from ivr.domain.dispatch import (
    ACCEPT,
    DISPATCH_LIMIT,
    Action,
    CallResult,
    Crew,
    DispatchPolicy,
    PastCall,
    Target,
    at_risk,
    next_call,
    worst_case_plan,
)
from ivr.domain.phone import PhoneNumber
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import (
    MET_BY_ACCEPTANCE_ONLY,
    OrderKind,
    OrderStatus,
    TransitionError,
    check_manual_move,
    check_transition,
    deadlines_for,
)
from ivr.flows import dispatch_call
from tests.unit.test_callback_flow import ScriptedChannel
from tests.unit.test_dispatch_flow import Store, deps

RECORDED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
S = timedelta(seconds=1)
PRIMARY = Crew(1, "一班", PhoneNumber("13700000001"))
BACKUP = Crew(2, "二班", PhoneNumber("13700000002"))
SUPERVISOR = PhoneNumber("13700000009")
PRODUCTION = DispatchPolicy()  # the shipped policy: 5 min, 25 s rings, 60 s reading, alert at 3


def no_answer(crew: Crew) -> PastCall:
    return PastCall(Target.CREW, crew.id, CallResult.NO_ANSWER)


# --- within 5 minutes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recorded",
    [
        datetime(2026, 3, 2, 10, 0, tzinfo=CHINA),  # a Monday morning
        datetime(2026, 10, 3, 3, 0, tzinfo=CHINA),  # a night in the National Day holiday
    ],
    ids=["working day", "holiday night"],
)
def test_a_repair_is_due_for_dispatch_5_minutes_after_recording_any_day_any_hour(
    recorded: datetime,
) -> None:
    [dispatch] = deadlines_for(OrderKind.REPAIR, None, recorded, china_is_workday)
    assert dispatch.name == "dispatch"
    assert dispatch.due_at == recorded + timedelta(minutes=5) == recorded + DISPATCH_LIMIT
    assert not dispatch.provisional  # wall clock: no calendar involved


def test_every_call_is_placed_so_that_the_crew_can_still_accept_inside_5_minutes() -> None:
    """Nobody answers anywhere: every call still leaves its ring and the reading of the order
    before the limit, and no call is placed after that."""
    policy = DispatchPolicy(escalation_phone=SUPERVISOR)
    plan = worst_case_plan(policy, crews=3)
    assert plan
    for _target, start in plan:
        assert start + policy.min_ring + policy.talk_budget <= DISPATCH_LIMIT
    late = next_call(
        policy, RECORDED, RECORDED + DISPATCH_LIMIT - policy.talk_budget, [PRIMARY], []
    )
    assert late.action is Action.EXHAUSTED


# --- only an acceptance counts --------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        CallResult.NO_ANSWER,
        CallResult.BUSY,
        CallResult.FAILED,
        CallResult.NO_KEY,
        CallResult.HUNG_UP,
    ],
)
def test_a_call_that_ends_without_jieling_does_not_dispatch_the_order(result: CallResult) -> None:
    calls = [PastCall(Target.CREW, PRIMARY.id, result)]
    decision = next_call(PRODUCTION, RECORDED, RECORDED + 30 * S, [PRIMARY, BACKUP], calls)
    assert decision.action is Action.CALL


def test_the_crews_jieling_dispatches_the_order() -> None:
    calls = [no_answer(PRIMARY), PastCall(Target.CREW, BACKUP.id, CallResult.ACCEPTED)]
    decision = next_call(PRODUCTION, RECORDED, RECORDED + 60 * S, [PRIMARY, BACKUP], calls)
    assert decision.action is Action.DONE


@pytest.mark.parametrize("target", [OrderStatus.DISPATCHED, OrderStatus.IN_PROGRESS])
def test_nobody_dispatches_a_repair_by_moving_it_on(target: OrderStatus) -> None:
    """An agent moving the order to dispatched or in progress is not a crew's 接令: refused,
    pointing at the recorded acceptance (a dispatcher's, with its reason)."""
    check_transition(OrderStatus.CREATED, target)  # the process allows the move in general
    with pytest.raises(TransitionError, match=r"接令.*reason"):
        check_manual_move(OrderKind.REPAIR, OrderStatus.CREATED, target)


def test_no_status_change_meets_the_dispatch_limit_only_an_acceptance_does() -> None:
    """Closing a repair order (allowed) leaves its dispatch limit unmet: the limit is met by
    the crew's 接令 or the dispatcher's recorded acceptance alone."""
    check_manual_move(OrderKind.REPAIR, OrderStatus.CREATED, OrderStatus.CLOSED)
    assert "dispatch" in MET_BY_ACCEPTANCE_ONLY


@pytest.mark.parametrize("key", ["2", "9", "*", "#", "0"])
async def test_only_key_1_on_the_dispatch_call_is_jieling(key: str) -> None:
    assert ACCEPT == "1"
    store = Store()
    result = await dispatch_call.run(ScriptedChannel([key] * 3), "dp-x", deps(store))
    assert result is CallResult.NO_KEY and store.accepted == []
    accepting = Store()
    assert await dispatch_call.run(ScriptedChannel([key, "1"]), "dp-y", deps(accepting)) is (
        CallResult.ACCEPTED
    )
    assert accepting.accepted == [2]  # accepted on the second reading


# --- the next crew, then escalation ---------------------------------------------------------


def test_a_crew_that_does_not_accept_is_followed_by_the_next_crew_on_duty() -> None:
    first = next_call(PRODUCTION, RECORDED, RECORDED, [PRIMARY, BACKUP], [])
    assert (first.target, first.crew) == (Target.CREW, PRIMARY)
    second = next_call(
        PRODUCTION, RECORDED, RECORDED + 26 * S, [PRIMARY, BACKUP], [no_answer(PRIMARY)]
    )
    assert (second.target, second.crew) == (Target.CREW, BACKUP)


def test_when_every_crew_on_duty_was_tried_the_escalation_number_is_called() -> None:
    policy = DispatchPolicy(escalation_phone=SUPERVISOR)
    calls = [no_answer(PRIMARY), no_answer(BACKUP)]
    decision = next_call(policy, RECORDED, RECORDED + 51 * S, [PRIMARY, BACKUP], calls)
    assert (decision.target, decision.phone) == (Target.ESCALATION, SUPERVISOR)


# --- the at-risk alert ----------------------------------------------------------------------


def test_the_centre_is_alerted_3_minutes_after_recording_without_an_acceptance() -> None:
    assert at_risk(PRODUCTION, RECORDED, RECORDED + 179 * S, exhausted=False) is None
    assert at_risk(PRODUCTION, RECORDED, RECORDED + 180 * S, exhausted=False) is not None
    assert PRODUCTION.risk_after < DISPATCH_LIMIT  # while there is still time to act


def test_the_centre_is_alerted_at_once_when_nobody_is_left_to_call() -> None:
    exhausted = next_call(PRODUCTION, RECORDED, RECORDED + S, [], [])
    assert exhausted.action is Action.EXHAUSTED
    assert at_risk(PRODUCTION, RECORDED, RECORDED + S, exhausted=True) is not None
