"""Work-order statuses, limits, callback policy and phone validation: pure logic."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.domain.callbacks import (
    AttemptResult,
    CallbackPolicy,
    CallingWindow,
    RetryPolicy,
    TaskState,
)
from ivr.domain.phone import InvalidPhone, PhoneNumber, dial_string, parse_phone
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import (
    CustomerClass,
    OrderKind,
    OrderStatus,
    TransitionError,
    check_transition,
    deadlines_for,
    validate_kind_class,
)


def weekdays(day: date) -> bool:
    return day.weekday() < 5


MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA)


def test_lifecycle_transitions() -> None:
    path = [
        OrderStatus.CREATED,
        OrderStatus.DISPATCHED,
        OrderStatus.IN_PROGRESS,
        OrderStatus.CLOSED,
        OrderStatus.CALLBACK_DONE,
        OrderStatus.ARCHIVED,
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)
    with pytest.raises(TransitionError, match="closed to created"):
        check_transition(OrderStatus.CLOSED, OrderStatus.CREATED)
    with pytest.raises(TransitionError):
        check_transition(OrderStatus.ARCHIVED, OrderStatus.CLOSED)


def test_repair_dispatch_within_five_minutes() -> None:
    [d] = deadlines_for(OrderKind.REPAIR, None, MONDAY, weekdays)
    assert (d.name, d.met_by, d.due_at) == (
        "dispatch",
        OrderStatus.DISPATCHED,
        MONDAY + timedelta(minutes=5),
    )


def test_complaint_limits() -> None:
    got = {d.name: d.due_at for d in deadlines_for(OrderKind.COMPLAINT, None, MONDAY, weekdays)}
    assert got["pass_on"] == MONDAY + timedelta(days=1)
    assert got["contact"] == datetime(2026, 3, 4, tzinfo=CHINA)  # end of Tuesday
    assert got["reply"] == got["callback"] == datetime(2026, 3, 10, tzinfo=CHINA)  # end of Mon 9


@pytest.mark.parametrize(
    ("cls", "days"),
    [
        (CustomerClass.RESIDENTIAL, 3),
        (CustomerClass.LOW_VOLTAGE, 7),
        (CustomerClass.HIGH_VOLTAGE_SINGLE, 15),
        (CustomerClass.HIGH_VOLTAGE_DUAL, 30),
    ],
)
def test_supply_plan_by_class(cls: CustomerClass, days: int) -> None:
    [d] = deadlines_for(OrderKind.BUSINESS, cls, MONDAY, weekdays)
    counted = sum(
        weekdays((MONDAY + timedelta(days=i)).date())
        for i in range(1, (d.due_at - MONDAY).days + 1)
    )
    assert d.name == "supply_plan_reply" and counted == days


def test_business_needs_class_and_only_business_has_one() -> None:
    with pytest.raises(ValueError):
        validate_kind_class(OrderKind.BUSINESS, None)
    with pytest.raises(ValueError):
        validate_kind_class(OrderKind.REPAIR, CustomerClass.RESIDENTIAL)


def test_report_and_consultation_and_suggestion() -> None:
    report = {d.name for d in deadlines_for(OrderKind.REPORT, None, MONDAY, weekdays)}
    assert report == {"reply", "callback"}
    [c] = deadlines_for(OrderKind.CONSULTATION, None, MONDAY, weekdays)
    assert c.due_at == MONDAY + timedelta(days=3)
    assert deadlines_for(OrderKind.SUGGESTION, None, MONDAY, weekdays) == []


POLICY = CallbackPolicy()


@pytest.mark.parametrize(
    ("kind", "cls", "gets"),
    [
        (OrderKind.REPAIR, None, True),
        (OrderKind.COMPLAINT, None, True),
        (OrderKind.REPORT, None, True),
        (OrderKind.BUSINESS, CustomerClass.HIGH_VOLTAGE_SINGLE, True),
        (OrderKind.BUSINESS, CustomerClass.HIGH_VOLTAGE_DUAL, True),
        (OrderKind.BUSINESS, CustomerClass.RESIDENTIAL, False),
        (OrderKind.CONSULTATION, None, False),
        (OrderKind.SUGGESTION, None, False),
    ],
)
def test_who_gets_a_callback(kind: OrderKind, cls: CustomerClass | None, gets: bool) -> None:
    deadlines = deadlines_for(kind, cls, MONDAY, weekdays)
    due = POLICY.callback_due(kind, cls, MONDAY + timedelta(hours=3), deadlines)
    assert (due is not None) is gets


def test_complaint_callback_due_is_its_limit_repair_is_after_close() -> None:
    closed = MONDAY + timedelta(hours=3)
    deadlines = deadlines_for(OrderKind.COMPLAINT, None, MONDAY, weekdays)
    assert POLICY.callback_due(OrderKind.COMPLAINT, None, closed, deadlines) == datetime(
        2026, 3, 10, tzinfo=CHINA
    )
    assert POLICY.callback_due(OrderKind.REPAIR, None, closed, []) == closed + timedelta(hours=24)


def test_calling_window_no_calls_at_night() -> None:
    window = CallingWindow(time(8), time(20))
    late = datetime(2026, 3, 2, 21, 30, tzinfo=CHINA)
    assert not window.contains(late)
    assert window.next_open(late) == datetime(2026, 3, 3, 8, tzinfo=CHINA)
    early = datetime(2026, 3, 2, 6, 0, tzinfo=CHINA).astimezone(UTC)
    assert window.next_open(early) == datetime(2026, 3, 2, 8, tzinfo=CHINA)
    assert window.next_open(early).tzinfo is UTC
    all_day = CallingWindow(time(0), time.max)  # window_end = "24:00" in the settings
    assert all_day.contains(datetime(2026, 3, 2, 23, 59, 59, tzinfo=CHINA))
    noon = datetime(2026, 3, 2, 12, tzinfo=CHINA)
    assert window.next_open(noon) == noon
    with pytest.raises(ValueError):
        CallingWindow(time(20), time(8))


def test_retries_spaced_then_flagged_for_a_human() -> None:
    policy = CallbackPolicy(
        retry=RetryPolicy(3, (timedelta(minutes=10), timedelta(minutes=60))),
        window=CallingWindow(time(0), time(23, 59)),
    )
    now = datetime(2026, 3, 2, 9, tzinfo=CHINA)
    assert policy.after_attempt(AttemptResult.BUSY, 1, now) == (
        TaskState.PENDING,
        now + timedelta(minutes=10),
    )
    assert policy.after_attempt(AttemptResult.NO_ANSWER, 2, now) == (
        TaskState.PENDING,
        now + timedelta(minutes=60),
    )
    assert policy.after_attempt(AttemptResult.MACHINE, 3, now) == (TaskState.NEEDS_HUMAN, None)
    assert policy.after_attempt(AttemptResult.COMPLETED, 1, now) == (TaskState.DONE, None)
    assert policy.after_attempt(AttemptResult.WRONG_PERSON, 1, now)[0] is TaskState.NEEDS_HUMAN
    assert policy.after_attempt(AttemptResult.HUNG_UP, 1, now)[0] is TaskState.NEEDS_HUMAN


def test_retry_lands_inside_the_window() -> None:
    policy = CallbackPolicy(retry=RetryPolicy(3, (timedelta(hours=2),)))
    evening = datetime(2026, 3, 2, 19, 0, tzinfo=CHINA)
    _, when = policy.after_attempt(AttemptResult.NO_ANSWER, 1, evening)
    assert when == datetime(2026, 3, 3, 8, tzinfo=CHINA)


@pytest.mark.parametrize(
    "good", ["13800138000", "19912345678", "01012345678", "0755812345678"[:12], "0571123456"]
)
def test_valid_numbers(good: str) -> None:
    assert dial_string(parse_phone(good), "outbound-trunk") == f"Local/{good}@outbound-trunk"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1380013800",  # 10 digits
        "12800138000",  # 12x is not a mobile prefix
        "138 0013 8000",
        "+8613800138000",
        "13800138000&",
        "1380013800a",
        "13800138000@x",
        "010123456789012",  # too long
        "1380013800０",  # full-width digit
        "0012345678",
    ],
)
def test_invalid_numbers(bad: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(bad)


@given(st.text(max_size=30))
def test_no_string_reaches_a_dial_string_unless_plain_digits(raw: str) -> None:
    try:
        number = parse_phone(raw)
    except InvalidPhone:
        return
    assert raw.isascii() and raw.isdigit() and 10 <= len(raw) <= 12
    assert dial_string(number, "t").endswith("@t")


def test_forged_phone_is_caught_at_the_dial_string() -> None:
    number = PhoneNumber("13800138000")
    object.__setattr__(number, "digits", "138,Local/x")
    with pytest.raises(InvalidPhone):
        dial_string(number, "t")
    with pytest.raises(TypeError):
        dial_string("13800138000", "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dial_string(PhoneNumber("13800138000"), "bad,context")
