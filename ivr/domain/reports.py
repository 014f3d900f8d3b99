"""Monthly assessment figures (月度考核): pure computation over plain rows.

The database adapter loads what happened in one month (queue visits, work orders with their
deadlines and callback tasks); this module turns it into the figures the centre and each agent
are judged by. Every definition is in docs/reports.md; in short:

* a call counts in the month (local time) it **entered the queue**;
* a work order, with everything that later happens to it (dispatch, deadlines, callback,
  satisfaction), counts in the month it was **recorded** (``created_at``);
* "open past due at month end" is a snapshot at the month's last instant (or now, for the
  running month) over every order, whenever it was recorded.

A deadline is met on time when ``met_at <= due_at`` (the work-order API calls an unmet deadline
overdue only once ``due_at < now``, so the two agree at the boundary).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, tzinfo
from typing import Any

from ivr.domain.agent_state import StateChange, StateTimes, state_times
from ivr.domain.agents import Agent
from ivr.domain.callbacks import CallbackOutcome
from ivr.domain.inspection import (
    ERROR_RATE_TARGET,
    InspectionFact,
    QualityFigures,
    quality,
    quality_by_agent,
)
from ivr.domain.queue_calls import QueueVisit
from ivr.domain.service_level import (
    DEFAULT_SHORT_ABANDON_S,
    Figures,
    figures,
    figures_by_agent,
)

SATISFACTION_TARGET = 0.90  # docs/standard.md: customer satisfaction of 90 % or more
CLOSED_STATUSES = frozenset({"closed", "callback_done", "archived"})
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MIN_YEAR, MAX_YEAR = 2000, 2100


class BadMonth(ValueError):
    """A month that is not ``YYYY-MM`` within the years we report on."""


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """[first instant, first instant of the next month) in ``zone``: local midnight."""
        start = datetime.combine(date(self.year, self.month, 1), time(0), tzinfo=zone)
        following = self.next()
        end = datetime.combine(date(following.year, following.month, 1), time(0), tzinfo=zone)
        return start, end


def parse_month(text: str) -> Month:
    found = _MONTH.match(text.strip()) if isinstance(text, str) else None
    if not found:
        raise BadMonth(f"month must be YYYY-MM (e.g. 2026-09), got {text!r}")
    year, month = int(found.group(1)), int(found.group(2))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadMonth(f"year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}")
    return Month(year, month)


def month_of(moment: datetime, zone: tzinfo) -> Month:
    local = moment.astimezone(zone)
    return Month(local.year, local.month)


# ------------------------------------------------------------------------------- rows in


@dataclass(frozen=True, slots=True)
class DeadlineFact:
    name: str
    due_at: datetime
    met_at: datetime | None

    def met_on_time(self) -> bool:
        return self.met_at is not None and self.met_at <= self.due_at

    def missed(self, as_of: datetime) -> bool:
        """Met late, or still unmet and past due at ``as_of``."""
        if self.met_at is not None:
            return self.met_at > self.due_at
        return self.due_at < as_of

    def open_past_due(self, at: datetime) -> bool:
        """Past due and not yet met at the instant ``at``."""
        return self.due_at < at and (self.met_at is None or self.met_at > at)


@dataclass(frozen=True, slots=True)
class CallbackFact:
    """An order's callback task: ``completed_at`` is when the completing call ended."""

    state: str  # pending, active, done, needs_human, cancelled
    due_by: datetime
    completed_at: datetime | None
    satisfied: bool | None
    outcome: str | None = None  # CallbackOutcome once it ended; None while still owed

    @property
    def counts(self) -> bool:
        """A cancelled task (do-not-call) was never owed."""
        return self.state != "cancelled"

    def on_time(self) -> bool:
        return (
            self.state == "done"
            and self.completed_at is not None
            and (self.completed_at <= self.due_by)
        )


@dataclass(frozen=True, slots=True)
class OrderFact:
    order_no: str
    kind: str
    owner_job_number: str
    status: str
    created_at: datetime
    deadlines: tuple[DeadlineFact, ...] = ()
    callback: CallbackFact | None = None

    def closed_on_time(self) -> bool:
        """Closed (or later) and every deadline met by its due time."""
        return self.status in CLOSED_STATUSES and all(d.met_on_time() for d in self.deadlines)

    def dispatched_in_time(self) -> bool:
        return any(d.name == "dispatch" and d.met_on_time() for d in self.deadlines)


@dataclass(frozen=True, slots=True)
class MonthRows:
    """Everything one month's report is computed from."""

    visits: Sequence[QueueVisit]  # joined a queue in the month
    orders: Sequence[OrderFact]  # recorded in the month
    agents: Sequence[Agent]
    # (order_no, deadline) for missed deadlines of any order, due before the snapshot
    missed_before_cut: Sequence[tuple[str, DeadlineFact]] = ()
    callers_informed: int = 0  # started in the month, hung up after an outage notice
    # agents' state changes in the month, and each agent's last one before it began
    state_changes: Sequence[StateChange] = ()
    # quality inspections (质检) of the calls recorded in the month
    inspections: Sequence[InspectionFact] = ()


# ------------------------------------------------------------------------------- figures out


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class CentreFigures:
    offered: int
    answered: int
    answered_in_15s: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    lost: int
    service_level: float | None  # answered_in_15s / (offered - short_abandoned)
    answered_service_level: float | None  # answered_in_15s / answered
    queue_wait_service_level: float | None  # queue wait ≤ 15 s / answered (Asterisk's)
    abandon_rate: float | None
    asa_ms: int | None
    avg_ring_to_answer_ms: int | None
    rings: int
    rings_answered_in_15s: int
    rings_answered_late: int
    rings_missed: int
    rings_gave_up: int
    rings_taken_by_other: int
    rings_against_agent: int
    ring_service_level: float | None
    orders_recorded: int
    repair_orders: int
    dispatched_in_5min: int
    dispatch_rate: float | None
    orders_overdue: int
    deadlines_missed: int
    open_past_due_at_month_end: int
    callbacks_due: int
    callbacks_on_time: int
    callbacks_on_time_rate: float | None
    satisfaction_answers: int
    satisfied: int
    satisfaction_rate: float | None
    satisfaction_target: float
    satisfaction_target_met: bool | None
    # how every 回访 of the month's orders ended (do-not-call included), and each one's share
    callbacks_needed: int = 0
    callbacks_satisfied: int = 0
    callbacks_dissatisfied: int = 0
    callbacks_no_valid_answer: int = 0
    callbacks_refused: int = 0
    callbacks_unreachable: int = 0
    callbacks_do_not_call: int = 0
    callbacks_still_owed: int = 0
    callbacks_satisfied_share: float | None = None
    callbacks_dissatisfied_share: float | None = None
    callbacks_no_valid_answer_share: float | None = None
    callbacks_refused_share: float | None = None
    callbacks_unreachable_share: float | None = None
    callbacks_do_not_call_share: float | None = None
    callbacks_still_owed_share: float | None = None
    callers_informed: int = 0  # served by an outage notice (hung up after hearing it)
    # quality inspection (质检) of the month's recorded calls (ivr.domain.inspection)
    inspected: int = 0
    inspected_with_errors: int = 0
    error_rate: float | None = None
    error_rate_target: float = ERROR_RATE_TARGET
    error_rate_target_met: bool | None = None
    quality_score: float | None = None


def callback_outcomes(callbacks: Sequence[CallbackFact]) -> dict[str, Any]:
    """``callbacks_<outcome>`` and its ``…_share`` for every outcome, and ``still_owed`` for
    those that have none yet: every order that needs a 回访 is in exactly one."""
    needed = len(callbacks)
    counts = {o.value: 0 for o in CallbackOutcome} | {"still_owed": 0}
    for callback in callbacks:
        counts[callback.outcome if callback.outcome in counts else "still_owed"] += 1
    figures: dict[str, Any] = {"callbacks_needed": needed}
    for name, count in counts.items():
        figures[f"callbacks_{name}"] = count
        figures[f"callbacks_{name}_share"] = _ratio(count, needed)
    return figures


@dataclass(frozen=True, slots=True)
class AgentFigures:
    job_number: str | None  # None: a queue member not (or no longer) in the agents table
    name: str | None
    interface: str | None
    calls_rung: int = 0
    calls_answered: int = 0
    answer_rate: float | None = None
    answered_in_15s: int = 0
    answered_in_15s_rate: float | None = None
    asa_ms: int | None = None
    avg_ring_to_answer_ms: int | None = None
    rings: int = 0
    rings_answered_in_15s: int = 0
    rings_answered_late: int = 0
    rings_missed: int = 0
    rings_gave_up: int = 0
    rings_taken_by_other: int = 0
    rings_against_agent: int = 0
    ring_service_level: float | None = None
    orders_owned: int = 0
    orders_closed_on_time: int = 0
    callbacks_due: int = 0
    callbacks_on_time: int = 0
    satisfaction_answers: int = 0
    satisfied: int = 0
    satisfaction_rate: float | None = None
    # the agent's own state (ivr.domain.agent_state), whole seconds within the month
    logged_in_s: int = 0
    paused_s: int = 0
    paused_by_reason_s: dict[str, int] = field(default_factory=dict)
    after_call_work_s: int = 0
    # quality inspection (质检) of the agent's calls recorded in the month
    inspected: int = 0
    inspected_with_errors: int = 0
    error_rate: float | None = None
    quality_score: float | None = None


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: str
    timezone: str
    start: datetime
    end: datetime
    as_of: datetime
    centre: CentreFigures
    agents: list[AgentFigures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "timezone": self.timezone,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "final": self.as_of >= self.end,
            "centre": asdict(self.centre),
            "agents": [asdict(a) for a in self.agents],
        }


def monthly_report(
    month: Month,
    zone: tzinfo,
    rows: MonthRows,
    as_of: datetime,
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
) -> MonthlyReport:
    start, end = month.bounds(zone)
    return MonthlyReport(
        month=str(month),
        timezone=str(zone),
        start=start,
        end=end,
        as_of=as_of,
        centre=centre_figures(rows, min(end, as_of), as_of, short_abandon_s),
        agents=agent_figures(rows, short_abandon_s, (start, min(end, as_of))),
    )


def centre_figures(
    rows: MonthRows, cut: datetime, as_of: datetime, short_abandon_s: float
) -> CentreFigures:
    calls = figures(rows.visits, short_abandon_s)
    orders = rows.orders
    repairs = [o for o in orders if o.kind == "repair"]
    dispatched = sum(o.dispatched_in_time() for o in repairs)
    missed = [d for o in orders for d in o.deadlines if d.missed(as_of)]
    overdue = [o for o in orders if any(d.missed(as_of) for d in o.deadlines)]
    open_at_cut = {no for no, d in rows.missed_before_cut if d.open_past_due(cut)}
    callbacks = [o.callback for o in orders if o.callback is not None and o.callback.counts]
    on_time = sum(c.on_time() for c in callbacks)
    answers = [c.satisfied for c in callbacks if c.satisfied is not None]
    satisfied = sum(answers)
    rate = _ratio(satisfied, len(answers))
    return CentreFigures(
        offered=calls.offered,
        answered=calls.answered,
        answered_in_15s=calls.answered_in_15s,
        abandoned=calls.abandoned,
        short_abandoned=calls.short_abandoned,
        timed_out=calls.timed_out,
        lost=calls.lost,
        service_level=calls.service_level,
        answered_service_level=calls.answered_service_level,
        queue_wait_service_level=calls.queue_wait_service_level,
        abandon_rate=calls.abandon_rate,
        asa_ms=calls.asa_ms,
        avg_ring_to_answer_ms=calls.avg_ring_to_answer_ms,
        **_ring_fields(calls),
        orders_recorded=len(orders),
        repair_orders=len(repairs),
        dispatched_in_5min=dispatched,
        dispatch_rate=_ratio(dispatched, len(repairs)),
        orders_overdue=len(overdue),
        deadlines_missed=len(missed),
        open_past_due_at_month_end=len(open_at_cut),
        callbacks_due=len(callbacks),
        callbacks_on_time=on_time,
        callbacks_on_time_rate=_ratio(on_time, len(callbacks)),
        satisfaction_answers=len(answers),
        satisfied=satisfied,
        satisfaction_rate=rate,
        satisfaction_target=SATISFACTION_TARGET,
        satisfaction_target_met=None if rate is None else rate >= SATISFACTION_TARGET,
        **callback_outcomes([o.callback for o in orders if o.callback is not None]),
        callers_informed=rows.callers_informed,
        **_quality_fields(quality(rows.inspections), centre=True),
    )


def _quality_fields(q: QualityFigures, centre: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "inspected": q.inspected,
        "inspected_with_errors": q.inspected_with_errors,
        "error_rate": q.error_rate,
        "quality_score": q.quality_score,
    }
    if centre:
        met = None if q.error_rate is None else q.error_rate < ERROR_RATE_TARGET
        fields["error_rate_target_met"] = met
    return fields


def agent_figures(
    rows: MonthRows, short_abandon_s: float, period: tuple[datetime, datetime] | None = None
) -> list[AgentFigures]:
    """One row per agent in the directory, owning an order of the month, named by a call or
    with a state change, then one per member interface that answered or was rung but belongs
    to nobody (sorted by interface), so no call drops out of the per-agent rows. ``period``:
    [month start, month end or now) for the time in each state."""
    calls = figures_by_agent(rows.visits, short_abandon_s, attribution(rows.agents))
    times: dict[str, StateTimes] = {}
    if period is not None:
        times = state_times(rows.state_changes, *period)
    owned: dict[str, list[OrderFact]] = {}
    for order in rows.orders:
        owned.setdefault(order.owner_job_number, []).append(order)
    known = {a.job_number: a for a in rows.agents}
    named = {who for kind, who in calls if kind == _JOB}
    inspected = quality_by_agent(rows.inspections)
    result = []
    for job in sorted(set(known) | set(owned) | named | set(times) | set(inspected)):
        agent = known.get(job)
        interface = agent.interface if agent else None
        name = agent.name if agent else None
        its_calls = calls.get((_JOB, job))
        row = _agent_row(job, name, interface, its_calls, owned.get(job, []))
        if job in times:
            spent = times[job].rounded()
            row = replace(
                row,
                logged_in_s=int(spent.logged_in_s),
                paused_s=int(spent.paused_s),
                paused_by_reason_s={k: int(v) for k, v in spent.paused_by_reason_s.items()},
                after_call_work_s=int(spent.after_call_work_s),
            )
        if job in inspected:
            row = replace(row, **_quality_fields(inspected[job]))
        result.append(row)
    for (kind, interface), its_calls in calls.items():  # sorted by (kind, interface) already
        if kind == _INTERFACE:
            result.append(_agent_row(None, None, interface, its_calls, []))
    return result


_JOB, _INTERFACE = "job", "interface"


def attribution(agents: Sequence[Agent]) -> Callable[[str, str | None], tuple[str, str]]:
    """Whose call a ring or answer was: the job number stored with it (who the agent was at
    the time), else — rows stored before job numbers were, or a member the tracker did not
    know — the agent the directory gives that interface now, else the interface itself."""
    current = {a.interface: a.job_number for a in agents}

    def agent_of(interface: str, job_number: str | None) -> tuple[str, str]:
        job = job_number or current.get(interface)
        return (_JOB, job) if job else (_INTERFACE, interface)

    return agent_of


_RING_FIELDS = (
    "rings",
    "rings_answered_in_15s",
    "rings_answered_late",
    "rings_missed",
    "rings_gave_up",
    "rings_taken_by_other",
    "rings_against_agent",
    "ring_service_level",
)


def _ring_fields(calls: Figures) -> dict[str, Any]:
    """Every ring presented to an agent, by result (``ivr.domain.ring_rule``)."""
    return {name: getattr(calls, name) for name in _RING_FIELDS}


def _agent_row(
    job: str | None,
    name: str | None,
    interface: str | None,
    calls: Figures | None,
    orders: list[OrderFact],
) -> AgentFigures:
    callbacks = [o.callback for o in orders if o.callback is not None and o.callback.counts]
    answers = [c.satisfied for c in callbacks if c.satisfied is not None]
    calls = calls or Figures()
    return AgentFigures(
        job_number=job,
        name=name,
        interface=interface,
        calls_rung=calls.offered,
        calls_answered=calls.answered,
        answer_rate=_ratio(calls.answered, calls.offered),
        answered_in_15s=calls.answered_in_15s,
        answered_in_15s_rate=_ratio(calls.answered_in_15s, calls.answered),
        asa_ms=calls.asa_ms,
        avg_ring_to_answer_ms=calls.avg_ring_to_answer_ms,
        **_ring_fields(calls),
        orders_owned=len(orders),
        orders_closed_on_time=sum(o.closed_on_time() for o in orders),
        callbacks_due=len(callbacks),
        callbacks_on_time=sum(c.on_time() for c in callbacks),
        satisfaction_answers=len(answers),
        satisfied=sum(answers),
        satisfaction_rate=_ratio(sum(answers), len(answers)),
    )
