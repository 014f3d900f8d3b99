"""Time per agent state within a period (pure): what the monthly report adds up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.domain.agent_state import AgentState, StateChange, state_times
from ivr.domain.transfers import TargetKind, TransferRefused, transfer_target

START = datetime(2026, 9, 1, tzinfo=UTC)
END = datetime(2026, 10, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def change(job: str, state: AgentState, hours: float, reason: str = "") -> StateChange:
    return StateChange(job, state, at(hours), reason)


def test_a_state_lasts_until_the_next_change_and_is_clipped_to_the_period() -> None:
    changes = [
        change("1", AgentState.READY, -1),  # before the period: counts from its start
        change("1", AgentState.PAUSED, 1, "小休"),
        change("1", AgentState.AFTER_CALL_WORK, 1.25, "话后处理"),
        change("1", AgentState.PAUSED, 1.5, "就餐"),
        change("1", AgentState.PAUSED, 2, "小休"),
        change("1", AgentState.LOGGED_OUT, 3),
        change("1", AgentState.READY, 30 * 24 - 1),  # logged in an hour before the end
    ]
    times = state_times(reversed(changes), START, END)["1"].rounded()
    assert times.logged_in_s == 3 * 3600 + 3600
    assert times.paused_s == 900 + 1800 + 3600
    assert times.paused_by_reason_s == {"小休": 900 + 3600, "就餐": 1800}
    assert times.after_call_work_s == 900


def test_nothing_counts_outside_the_period_or_while_logged_out() -> None:
    changes = [
        change("2", AgentState.PAUSED, -5, "会议"),
        change("2", AgentState.LOGGED_OUT, -1),
        change("3", AgentState.READY, 30 * 24 + 1),  # after the end
    ]
    times = state_times(changes, START, END)
    assert times["2"].rounded().logged_in_s == 0
    assert times["3"].rounded().logged_in_s == 0


def test_the_running_month_counts_up_to_now() -> None:
    now = at(10)
    times = state_times([change("4", AgentState.READY, 9)], START, now)
    assert times["4"].rounded().logged_in_s == 3600


def test_a_transfer_target_is_an_allowed_queue_or_a_job_number() -> None:
    allowed = frozenset({"q-billing", "q-repair"})
    assert transfer_target("q-billing", None, allowed).extension == "q-billing"
    agent = transfer_target(None, "1024", allowed)
    assert agent.kind is TargetKind.AGENT and agent.extension == "agt-1024"
    for queue, job in (("q-nope", None), (None, "12a"), (None, None), ("q-billing", "1024")):
        with pytest.raises(TransferRefused) as refused:
            transfer_target(queue, job, allowed)
        assert refused.value.status == 400
