"""Work orders (工单): kinds, statuses and their transitions, and the standard's time limits.

Limits come from docs/standard.md. Each is a named deadline met when the order reaches a status (or
any later one): dispatch is met by ``dispatched``, a reply by ``closed``, a callback by
``callback_done``. A limit may carry an earlier target (warn then; overdue only at the limit).
Wall-clock limits are plain durations; "working days" use the injected ``is_workday`` (see
``workdays``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ivr.domain.phone import PhoneNumber
from ivr.domain.workdays import IsWorkday, working_days_deadline


class OrderKind(StrEnum):
    REPAIR = "repair"  # 故障报修
    CONSULTATION = "consultation"  # 咨询/查询
    BUSINESS = "business"  # 业务办理 (业扩报装 …), with a customer class
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议/表扬
    CONNECTION = (
        "connection"  # 装表接电: connection after the works passed acceptance, with a class
    )
    METER_TEST = "meter_test"  # 计量装置校验: the customer asked for a meter accuracy test
    METER_READING = "meter_reading"  # 抄表异常: a disputed or anomalous meter reading


class CustomerClass(StrEnum):
    RESIDENTIAL = "residential"
    LOW_VOLTAGE = "low_voltage"
    HIGH_VOLTAGE_SINGLE = "high_voltage_single"
    HIGH_VOLTAGE_DUAL = "high_voltage_dual"

    @property
    def high_voltage(self) -> bool:
        return self in (CustomerClass.HIGH_VOLTAGE_SINGLE, CustomerClass.HIGH_VOLTAGE_DUAL)


# Kinds whose limits depend on the customer class (业扩: supply plan; 装表接电: connection).
CLASSED_KINDS = frozenset({OrderKind.BUSINESS, OrderKind.CONNECTION})


class OrderStatus(StrEnum):
    CREATED = "created"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"
    CALLBACK_DONE = "callback_done"
    ARCHIVED = "archived"


_ORDER = list(OrderStatus)

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.CREATED: frozenset(
        {OrderStatus.DISPATCHED, OrderStatus.IN_PROGRESS, OrderStatus.CLOSED}
    ),
    OrderStatus.DISPATCHED: frozenset({OrderStatus.IN_PROGRESS, OrderStatus.CLOSED}),
    OrderStatus.IN_PROGRESS: frozenset({OrderStatus.CLOSED}),
    # closed → archived directly when no callback is due (consultations, suggestions, 勿扰)
    OrderStatus.CLOSED: frozenset({OrderStatus.CALLBACK_DONE, OrderStatus.ARCHIVED}),
    OrderStatus.CALLBACK_DONE: frozenset({OrderStatus.ARCHIVED}),
    OrderStatus.ARCHIVED: frozenset(),
}


class TransitionError(ValueError):
    """A status change the process does not allow; the message names both ends."""


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none"
        raise TransitionError(f"cannot go from {current} to {target} (allowed: {allowed})")


# Deadlines no status change meets: a repair's 5-minute dispatch limit is met by a crew's 接令
# (or an acceptance a supervisor records with a reason), not by anyone moving the order on.
MET_BY_ACCEPTANCE_ONLY = frozenset({"dispatch"})


def check_manual_move(kind: OrderKind, current: OrderStatus, target: OrderStatus) -> None:
    """A status change a person may make through the API (after :func:`check_transition`).

    A repair order leaves ``created`` for ``dispatched`` or ``in_progress`` only by an
    acceptance; ``callback_done`` is written by the 回访 itself (or the follow-up desk that
    finishes it), so nobody can mark an order's callback done without it happening.
    """
    if target is OrderStatus.CALLBACK_DONE:
        raise TransitionError(
            "callback_done is recorded by the 回访 (or by finishing its follow-up), not set by hand"
        )
    if (
        kind is OrderKind.REPAIR
        and current is OrderStatus.CREATED
        and target in (OrderStatus.DISPATCHED, OrderStatus.IN_PROGRESS)
    ):
        raise TransitionError(
            "a repair order is dispatched by a crew's 接令, or by an acceptance a supervisor"
            " records with its reason (POST …/dispatch-acceptance)"
        )


def reached(status: OrderStatus, milestone: OrderStatus) -> bool:
    """True if ``status`` is ``milestone`` or later in the life of an order."""
    return _ORDER.index(status) >= _ORDER.index(milestone)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    met_by: OrderStatus
    hours: float | None = None  # wall clock
    working_days: int | None = None
    # an earlier internal target inside the limit (residential connection: 2 of "2–3" days)
    target_working_days: int | None = None


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str
    met_by: OrderStatus
    due_at: datetime
    provisional: bool  # computed with an unknown calendar year (weekday rule)
    target_at: datetime | None = None  # warn when passed; overdue only after ``due_at``


SUPPLY_PLAN_WORKING_DAYS = {
    CustomerClass.RESIDENTIAL: 3,
    CustomerClass.LOW_VOLTAGE: 7,
    CustomerClass.HIGH_VOLTAGE_SINGLE: 15,
    CustomerClass.HIGH_VOLTAGE_DUAL: 30,
}

# "2–3 working days" for residential customers: 3 is the limit, 2 the target we warn at.
RESIDENTIAL_CONNECTION = Limit(
    "connection", OrderStatus.CLOSED, working_days=3, target_working_days=2
)
NON_RESIDENTIAL_CONNECTION = Limit("connection", OrderStatus.CLOSED, working_days=5)
METER_TEST_RESULT = Limit("test_result", OrderStatus.CLOSED, working_days=5)
METER_READING_REPLY = Limit("verify_reply", OrderStatus.CLOSED, working_days=7)


def limits_for(kind: OrderKind, customer_class: CustomerClass | None) -> list[Limit]:
    """The time limits of the standard that start when an order of this kind is created."""
    if kind is OrderKind.REPAIR:
        return [Limit("dispatch", OrderStatus.DISPATCHED, hours=5 / 60)]
    if kind is OrderKind.CONSULTATION:
        return [Limit("reply", OrderStatus.CLOSED, hours=72)]
    if kind is OrderKind.COMPLAINT:
        return [
            Limit("pass_on", OrderStatus.DISPATCHED, hours=24),
            Limit("contact", OrderStatus.IN_PROGRESS, working_days=1),
            Limit("reply", OrderStatus.CLOSED, working_days=5),
            Limit("callback", OrderStatus.CALLBACK_DONE, working_days=5),
        ]
    if kind is OrderKind.REPORT:
        return [
            Limit("reply", OrderStatus.CLOSED, working_days=10),
            Limit("callback", OrderStatus.CALLBACK_DONE, working_days=10),
        ]
    if kind in CLASSED_KINDS and customer_class is None:
        raise ValueError(f"a {kind} order needs its customer class")
    if kind is OrderKind.CONNECTION:
        residential = customer_class is CustomerClass.RESIDENTIAL
        return [RESIDENTIAL_CONNECTION if residential else NON_RESIDENTIAL_CONNECTION]
    if kind is OrderKind.METER_TEST:
        return [METER_TEST_RESULT]
    if kind is OrderKind.METER_READING:
        return [METER_READING_REPLY]
    if kind is OrderKind.BUSINESS:
        assert customer_class is not None
        return [
            Limit(
                "supply_plan_reply",
                OrderStatus.CLOSED,
                working_days=SUPPLY_PLAN_WORKING_DAYS[customer_class],
            )
        ]
    return []  # suggestions: recorded and acknowledged; the standard sets no limit


def deadlines_for(
    kind: OrderKind,
    customer_class: CustomerClass | None,
    created_at: datetime,
    is_workday: IsWorkday,
) -> list[Deadline]:
    deadlines = []
    for limit in limits_for(kind, customer_class):
        target = None
        if limit.hours is not None:
            due, provisional = created_at + timedelta(hours=limit.hours), False
        else:
            assert limit.working_days is not None
            due, provisional = working_days_deadline(created_at, limit.working_days, is_workday)
        if limit.target_working_days is not None:
            target, early = working_days_deadline(created_at, limit.target_working_days, is_workday)
            provisional |= early
        deadlines.append(Deadline(limit.name, limit.met_by, due, provisional, target))
    return deadlines


def validate_kind_class(kind: OrderKind, customer_class: CustomerClass | None) -> None:
    if kind in CLASSED_KINDS and customer_class is None:
        raise ValueError(f"a {kind} order needs customer_class")
    if kind not in CLASSED_KINDS and customer_class is not None:
        raise ValueError("customer_class belongs to business applications and connections only")


class OrderNotFound(LookupError):
    pass


class OrderConflict(ValueError):
    """The request contradicts the stored order (e.g. a second close with another key)."""


class KeyReused(OrderConflict):
    """An ``Idempotency-Key`` sent again with a different request: not a retry."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key} was already used with a different body: a retry sends the "
            "same body, a new request a new key"
        )


@dataclass(frozen=True, slots=True)
class NewOrder:
    kind: OrderKind
    customer_class: CustomerClass | None
    owner_job_number: str
    customer_surname: str
    customer_title: str
    customer_phone: PhoneNumber
    summary: str
    call_id: str | None = None
    address: str | None = None  # repairs: read to the crew on duty
    fault: str | None = None


@dataclass(slots=True)
class OrderView:
    order_no: str
    kind: str
    customer_class: str | None
    status: str
    call_id: str | None
    owner_job_number: str
    customer_surname: str
    customer_title: str
    customer_phone: str
    do_not_call: bool  # the number is on the do-not-call list now
    summary: str
    result: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    address: str | None = None
    fault: str | None = None
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    callback: dict[str, Any] | None = None
    call_ids: list[str] = field(default_factory=list)  # every call linked to it (call_orders)


def is_overdue(due_at: datetime, met_at: datetime | None, now: datetime) -> bool:
    """A deadline not met and past its limit. At the limit's instant itself it is still on time;
    the SQL filter ``ivr.db.workorders`` lists overdue orders with states the same rule."""
    return met_at is None and due_at < now


def is_past_target(target_at: datetime | None, met_at: datetime | None, now: datetime) -> bool:
    """Met (or still open) after the earlier target the standard warns at."""
    return target_at is not None and (met_at or now) > target_at
