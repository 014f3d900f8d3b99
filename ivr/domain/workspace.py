"""The agent's workspace: what pops on ring, the repeat-caller rule, the order kind a menu choice
means, and how urgent an agent's open orders are. Pure: the store and the feed fill it in.

A caller's history is their work orders of the last :data:`HISTORY_WINDOW` by phone number,
open ones first; a caller is a **repeat caller** with an order created within
:data:`REPEAT_WINDOW` or any order still open (docs/workspace.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain.calls import CallStep, StepKind
from ivr.domain.deadline_watch import DeadlineState, WarningPolicy, WatchedDeadline, state_of
from ivr.domain.workorders import OrderKind, OrderStatus, reached

HISTORY_WINDOW = timedelta(days=90)
REPEAT_WINDOW = timedelta(days=7)
RING_LIMIT_S = 15  # 铃响15秒内接听: the page's ring timer counts to this

# The menu's choice ids (ivr/data/menu_95598.toml) → the order the agent most likely records.
# A whole branch maps by its prefix; an exact id wins over its prefix.
_KIND_BY_CHOICE = {
    "repair": OrderKind.REPAIR,
    "billing": OrderKind.CONSULTATION,
    "business": OrderKind.BUSINESS,
    "business.other": OrderKind.CONSULTATION,
    "complaint.complaint": OrderKind.COMPLAINT,
    "complaint.report": OrderKind.REPORT,
    "complaint.suggestion": OrderKind.SUGGESTION,
}


def kind_for_choice(choice: str | None) -> OrderKind | None:
    """The order kind a menu choice suggests, or None (the caller asked for a person: the agent
    picks). ``repair.no_power`` → repair, ``complaint.report`` → report."""
    if not choice:
        return None
    if choice in _KIND_BY_CHOICE:
        return _KIND_BY_CHOICE[choice]
    branch = choice.split(".", 1)[0]
    if choice.endswith(".agent") and branch != "repair":
        return None  # "billing.agent": the caller did not say what it is about
    return _KIND_BY_CHOICE.get(branch)


def spoken_words(steps: Iterable[CallStep]) -> list[str]:
    """What the caller said in the menu (the recogniser's reading of each answer), in order."""
    return [s.detail for s in steps if s.kind is StepKind.SPEECH and s.detail]


@dataclass(frozen=True, slots=True)
class PriorOrder:
    """One of the caller's orders, as the pop shows it (no personal data beyond the order)."""

    order_no: str
    kind: str
    status: str
    created_at: datetime
    summary: str
    next_due_at: datetime | None  # the earliest unmet deadline, if any

    @property
    def open(self) -> bool:
        return not reached(OrderStatus(self.status), OrderStatus.CLOSED)


def history_order(orders: Sequence[PriorOrder]) -> list[PriorOrder]:
    """Open orders first (soonest deadline first), then the rest, newest first."""
    opened = sorted(
        (o for o in orders if o.open),
        key=lambda o: (o.next_due_at is None, o.next_due_at or o.created_at, o.order_no),
    )
    rest = sorted((o for o in orders if not o.open), key=lambda o: o.created_at, reverse=True)
    return opened + rest


def is_repeat_caller(orders: Sequence[PriorOrder], now: datetime) -> bool:
    """Another order within :data:`REPEAT_WINDOW`, or one still open."""
    return any(o.open or now - o.created_at <= REPEAT_WINDOW for o in orders)


class Urgency(StrEnum):
    ON_TRACK = "on_track"
    WARNING = "warning"  # the watch would warn now (inside the lead, or past a target)
    BREACHED = "breached"  # past its limit and not met


@dataclass(frozen=True, slots=True)
class NextDeadline:
    name: str
    due_at: datetime
    urgency: Urgency


def next_deadline(
    deadlines: Iterable[WatchedDeadline], now: datetime, policy: WarningPolicy
) -> NextDeadline | None:
    """The order's earliest unmet deadline, marked as the time-limit watch would judge it."""
    # on a tie the reply comes before the callback that follows it (a report: both 10 days)
    unmet = sorted(
        (d for d in deadlines if d.met_at is None), key=lambda d: (d.due_at, d.name == "callback")
    )
    if not unmet:
        return None
    first = unmet[0]
    state = state_of(first, now, policy)
    urgency = {
        DeadlineState.OVERDUE: Urgency.BREACHED,
        DeadlineState.AT_RISK: Urgency.WARNING,
    }.get(state, Urgency.ON_TRACK)
    if any(state_of(d, now, policy) is DeadlineState.OVERDUE for d in unmet):
        urgency = Urgency.BREACHED
    return NextDeadline(first.name, first.due_at, urgency)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the menu learned of a call, as the pop shows it (from the call record)."""

    call_id: str
    unique_id: str
    started_at: datetime
    choice: str | None
    menu_path: tuple[str, ...]
    spoken: tuple[str, ...]  # what the caller said, when speech was used


@dataclass(frozen=True, slots=True)
class CallbackSummary:
    """The 回访 a close scheduled, and later its result."""

    state: str
    due_by: datetime
    result: str | None
    satisfied: bool | None
    power_restored: bool | None
    suggestion_recorded: bool


@dataclass(frozen=True, slots=True)
class MyOrder:
    """One order on the agent's list: open, or closed lately (its 回访 to follow)."""

    order_no: str
    kind: str
    status: str
    created_at: datetime
    summary: str
    result: str | None
    customer_phone: str
    call_ids: tuple[str, ...]
    next_deadline: NextDeadline | None
    notes: tuple[str, ...]
    callback: CallbackSummary | None
