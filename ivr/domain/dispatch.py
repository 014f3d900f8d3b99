"""Repair dispatch (派单): who is on duty, whom to call next, and whether the 5-minute limit is
at risk.

Pure: the dispatcher feeds in the roster, the order's age and the calls made so far, and
carries out the decision. Everything is planned against the ``dispatch`` limit of the standard
(5 minutes from recording to the crew's acceptance): a call is only placed if its ring and the
reading of the order still fit before the limit, and the centre is warned (an alert) once a set
part of the limit has passed without acceptance, or as soon as nobody is left to call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain import scripts, spoken
from ivr.domain.phone import PhoneNumber

DISPATCH_LIMIT = timedelta(minutes=5)  # docs/standard.md: dispatch within 5 minutes of recording


class CallResult(StrEnum):
    """What one call to a crew (or to the escalation number) came to."""

    ACCEPTED = "accepted"  # pressed 1: 接令
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, no route, lost (bridge died), our own failure
    NO_KEY = "no_key"  # answered but never accepted (silence or only wrong keys)
    HUNG_UP = "hung_up"  # answered and hung up before accepting


class JobState(StrEnum):
    ACTIVE = "active"  # calling (or about to)
    ACCEPTED = "accepted"  # a crew accepted: the order is dispatched
    EXHAUSTED = "exhausted"  # nobody left to call in time: people must act
    STOPPED = "stopped"  # the order moved on without us (dispatched or closed by a person)


@dataclass(frozen=True, slots=True)
class Crew:
    id: int
    name: str
    phone: PhoneNumber
    active: bool = True


@dataclass(frozen=True, slots=True)
class Shift:
    """A crew on duty from ``starts_at`` (inclusive) to ``ends_at`` (exclusive); lower
    ``priority`` is called first (1 = the primary crew, 2 = first backup, …)."""

    id: int
    crew_id: int
    starts_at: datetime
    ends_at: datetime
    priority: int

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


def check_shift(starts_at: datetime, ends_at: datetime, priority: int) -> None:
    """A shift is concrete (aware datetimes), ends after it starts, lasts at most 7 days."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("starts_at and ends_at need a time zone offset")
    if ends_at <= starts_at:
        raise ValueError("a shift must end after it starts")
    if ends_at - starts_at > timedelta(days=7):
        raise ValueError("a shift lasts at most 7 days")
    if not 1 <= priority <= 99:
        raise ValueError("priority is 1 (primary) to 99")


def on_duty(crews: Iterable[Crew], shifts: Iterable[Shift], moment: datetime) -> list[Crew]:
    """The active crews on duty at ``moment``, in calling order: priority, then the shift that
    started first, then crew id (so the order is stable). A crew on two shifts counts once, at
    its best priority."""
    by_id = {c.id: c for c in crews if c.active}
    best: dict[int, tuple[int, datetime, int]] = {}
    for shift in shifts:
        if shift.crew_id not in by_id or not shift.covers(moment):
            continue
        rank = (shift.priority, shift.starts_at, shift.crew_id)
        if shift.crew_id not in best or rank < best[shift.crew_id]:
            best[shift.crew_id] = rank
    return [by_id[crew_id] for crew_id in sorted(best, key=best.__getitem__)]


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """How calls are fitted into the limit. Production keeps ``limit`` at 5 minutes; tests
    scale it (and everything else) down."""

    limit: timedelta = DISPATCH_LIMIT
    ring_timeout: timedelta = timedelta(seconds=25)
    min_ring: timedelta = timedelta(seconds=10)  # a shorter ring is not worth placing
    talk_budget: timedelta = timedelta(seconds=60)  # reading the order until the crew accepts
    risk_after: timedelta = timedelta(minutes=3)  # no acceptance by then: alert
    escalate_after: timedelta = timedelta(seconds=150)  # call the escalation number by then
    escalation_phone: PhoneNumber | None = None  # e.g. the duty supervisor
    rounds: int = 2  # each crew is called at most this often per order
    max_plays: int = 3  # the order is read at most this often on one call

    def __post_init__(self) -> None:
        if self.min_ring <= timedelta(0) or self.ring_timeout < self.min_ring:
            raise ValueError("ring_timeout must be at least min_ring, and min_ring positive")
        if self.ring_timeout + self.talk_budget > self.limit:
            raise ValueError("one call (ring_timeout + talk_budget) must fit inside the limit")
        if not timedelta(0) < self.risk_after < self.limit:
            raise ValueError("risk_after must fall inside the limit")
        if not timedelta(0) <= self.escalate_after < self.limit:
            raise ValueError("escalate_after must fall inside the limit")
        if not 1 <= self.rounds <= 10 or not 1 <= self.max_plays <= 10:
            raise ValueError("rounds and max_plays are 1 to 10")


class Target(StrEnum):
    CREW = "crew"
    ESCALATION = "escalation"


@dataclass(frozen=True, slots=True)
class PastCall:
    """A call already made (or live) for this order."""

    target: Target
    crew_id: int | None
    result: CallResult | None  # None while it is live


class Action(StrEnum):
    CALL = "call"
    WAIT = "wait"  # the crews left are on another dispatch call right now: look again soon
    EXHAUSTED = "exhausted"  # nobody left who can be called inside the limit
    DONE = "done"  # accepted


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    target: Target | None = None
    crew: Crew | None = None
    phone: PhoneNumber | None = None
    ring: timedelta | None = None
    reason: str = ""


def next_call(
    policy: DispatchPolicy,
    created_at: datetime,
    now: datetime,
    crews: Sequence[Crew],
    calls: Sequence[PastCall],
    busy_crew_ids: frozenset[int] = frozenset(),
) -> Decision:
    """Whom to call now for a repair order recorded at ``created_at``.

    ``crews`` are those on duty now in calling order (:func:`on_duty`); ``calls`` are this
    order's calls so far; ``busy_crew_ids`` crews on another order's live dispatch call. The
    crews are called in order, each once per round; the escalation number once, as soon as
    the first round is over or ``escalate_after`` has passed, and at the latest with the last
    call that still fits inside the limit.
    """
    if any(c.result is CallResult.ACCEPTED for c in calls):
        return Decision(Action.DONE, reason="accepted")
    ring = ring_for(policy, created_at, now)
    if ring is None:
        return Decision(Action.EXHAUSTED, reason="no time left for another call inside the limit")
    tries = {c.id: 0 for c in crews}
    for call in calls:
        if call.target is Target.CREW and call.crew_id in tries:
            tries[call.crew_id] += 1
    escalated = any(c.target is Target.ESCALATION for c in calls)
    first_round_done = all(n >= 1 for n in tries.values())
    last_chance = ring_for(policy, created_at, now + ring) is None  # no call fits after this
    if (
        policy.escalation_phone is not None
        and not escalated
        and (first_round_done or last_chance or now - created_at >= policy.escalate_after)
    ):
        return Decision(
            Action.CALL, Target.ESCALATION, None, policy.escalation_phone, ring, "escalation"
        )
    left = [c for c in crews if tries[c.id] < policy.rounds]
    if not left:
        return Decision(Action.EXHAUSTED, reason="nobody left to call")
    fewest = min(tries[c.id] for c in left)
    for crew in left:
        if tries[crew.id] == fewest and crew.id not in busy_crew_ids:
            return Decision(Action.CALL, Target.CREW, crew, crew.phone, ring, "crew on duty")
    for crew in left:  # the next round's crews may be free while this round's are busy
        if crew.id not in busy_crew_ids:
            return Decision(Action.CALL, Target.CREW, crew, crew.phone, ring, "crew on duty")
    return Decision(Action.WAIT, reason="every crew left is on another dispatch call")


def ring_for(policy: DispatchPolicy, created_at: datetime, now: datetime) -> timedelta | None:
    """How long a call placed now may ring so the order can still be read and accepted inside
    the limit; None when not even ``min_ring`` fits."""
    remaining = created_at + policy.limit - now - policy.talk_budget
    ring = min(policy.ring_timeout, remaining)
    return ring if ring >= policy.min_ring else None


def at_risk(
    policy: DispatchPolicy, created_at: datetime, now: datetime, exhausted: bool
) -> str | None:
    """Why the limit is at risk (the alert's reason), or None."""
    if exhausted:
        return "nobody left to call inside the limit"
    if now - created_at >= policy.risk_after:
        return f"not accepted {int(policy.risk_after.total_seconds())} s after recording"
    return None


def worst_case_plan(policy: DispatchPolicy, crews: int) -> list[tuple[Target, timedelta]]:
    """Start offsets of every call if nobody ever answers (each rings its full time and the
    next follows at once): what an operator checks a configuration against. Every start
    leaves room for the ring and the reading inside the limit, by construction."""
    start = timedelta(0)
    plan: list[tuple[Target, timedelta]] = []
    calls: list[PastCall] = []
    ids = [Crew(i, f"crew {i}", PhoneNumber("13800000000")) for i in range(1, crews + 1)]
    epoch = datetime(2000, 1, 1)
    while True:
        decision = next_call(policy, epoch, epoch + start, ids, calls)
        if decision.action is not Action.CALL:
            return plan
        assert decision.target is not None and decision.ring is not None
        plan.append((decision.target, start))
        calls.append(
            PastCall(
                decision.target, decision.crew.id if decision.crew else None, CallResult.NO_ANSWER
            )
        )
        start += decision.ring


# --- what the crew hears ---------------------------------------------------------------------

SCRIPT_ASK = "接令请按1，重听请按2。"
SCRIPT_ACCEPTED = "已接令，请尽快处理。再见。"
SCRIPT_NOT_ACCEPTED = "未收到接令，我们将联系其他值班人员。再见。"
SCRIPT_BAD_KEY = "按键无效。"
SCRIPTS = (SCRIPT_ASK, SCRIPT_ACCEPTED, SCRIPT_NOT_ACCEPTED, SCRIPT_BAD_KEY)
ACCEPT, REPEAT = "1", "2"


@dataclass(frozen=True, slots=True)
class DispatchContext:
    """What the crew is told: the order's essentials, with the owner's 工号."""

    order_no: str
    owner_job_number: str
    address: str | None
    fault: str | None
    callback_phone: str
    summary: str


def order_message(ctx: DispatchContext) -> str:
    """``您好，我是客服{工号}值班员，有故障报修请接令`` then address, fault and the callback
    number digit by digit (the summary stands in for a fault that was not recorded)."""
    address = spoken.free_text(ctx.address) if ctx.address else "未登记"
    fault = spoken.free_text(ctx.fault or ctx.summary)
    return (
        f"{scripts.dispatch_opening(ctx.owner_job_number)}"
        f"地址：{address}。故障：{fault}。"
        f"客户回拨电话：{spoken.phone_number(ctx.callback_phone)}。"
    )


@dataclass(frozen=True, slots=True)
class DispatchClaim:
    """One call this bridge may place now: ring ``phone`` for at most ``ring_timeout_s``."""

    action_id: str  # also the AMI ActionID
    phone: PhoneNumber
    ring_timeout_s: int
    order_no: str
    target: Target


@dataclass(frozen=True, slots=True)
class AtRisk:
    """An order whose dispatch limit is at risk (for the alert)."""

    job_id: int
    order_id: int
    order_no: str
    due_at: datetime
    reason: str


# --- the duty roster as its API shows it -------------------------------------------------


class RosterNotFound(LookupError):
    pass


class RosterConflict(ValueError):
    """E.g. a second crew with the same name."""


@dataclass(frozen=True, slots=True)
class CrewView:
    id: int
    name: str
    phone: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ShiftView:
    id: int
    crew_id: int
    crew_name: str
    starts_at: datetime
    ends_at: datetime
    priority: int
