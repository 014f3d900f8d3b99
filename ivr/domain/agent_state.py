"""An agent's own state over time (签入, 示忙 with a reason, 话后处理, 签出) and the time spent
in each: what the monthly report adds up per agent.

Every change is one :class:`StateChange` (the state the agent is in from ``at`` on); a state
lasts until the agent's next change. Pure: the store keeps the changes, this reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"  # in no queue (签出)
    READY = "ready"  # in their queues, unpaused: Asterisk may ring them (示闲)
    PAUSED = "paused"  # in their queues, paused with a reason (示忙: 小休, 就餐, …)
    AFTER_CALL_WORK = "after_call_work"  # paused by the bridge after a call (话后处理)


LOGGED_IN = frozenset({AgentState.READY, AgentState.PAUSED, AgentState.AFTER_CALL_WORK})


@dataclass(frozen=True, slots=True)
class StateChange:
    """From ``at`` on, agent ``job_number`` is in ``state`` (``reason`` when paused)."""

    job_number: str
    state: AgentState
    at: datetime
    reason: str = ""
    actor: str = ""  # who made the change: a token's name, or "bridge" for after-call work


@dataclass(slots=True)
class StateTimes:
    """Seconds one agent spent in each state within a period."""

    logged_in_s: float = 0.0
    paused_s: float = 0.0
    paused_by_reason_s: dict[str, float] = field(default_factory=dict)
    after_call_work_s: float = 0.0

    def add(self, state: AgentState, reason: str, seconds: float) -> None:
        if seconds <= 0:
            return
        if state in LOGGED_IN:
            self.logged_in_s += seconds
        if state is AgentState.PAUSED:
            self.paused_s += seconds
            key = reason or "-"
            self.paused_by_reason_s[key] = self.paused_by_reason_s.get(key, 0.0) + seconds
        elif state is AgentState.AFTER_CALL_WORK:
            self.after_call_work_s += seconds

    def rounded(self) -> StateTimes:
        """Whole seconds, as the report shows them."""
        return StateTimes(
            round(self.logged_in_s),
            round(self.paused_s),
            {k: round(v) for k, v in sorted(self.paused_by_reason_s.items())},
            round(self.after_call_work_s),
        )


def state_times(
    changes: Iterable[StateChange], start: datetime, end: datetime
) -> dict[str, StateTimes]:
    """Time per agent and state within [start, end).

    ``changes`` holds each agent's changes in the period and the last one before ``start``
    (the state they were in when it began); any order. A state still running at ``end`` (the
    month's end, or now for the running month) counts up to ``end``.
    """
    by_agent: dict[str, list[StateChange]] = {}
    for change in changes:
        by_agent.setdefault(change.job_number, []).append(change)
    result: dict[str, StateTimes] = {}
    for job, its in by_agent.items():
        times = StateTimes()
        ordered = sorted(its, key=lambda c: c.at)
        for change, following in zip(ordered, [*ordered[1:], None], strict=True):
            until = end if following is None else min(following.at, end)
            since = max(change.at, start)
            times.add(change.state, change.reason, (until - since).total_seconds())
        result[job] = times
    return result
