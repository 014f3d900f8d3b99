"""Time limits (时限): each kind of work order is due within the standard's limit, in hours on
the wall clock or in working days on the mainland China calendar (weekends and public holidays
off, make-up working days 调休 on), counted from the Beijing day the order was made.

The orders here are made around National Day 2026: Fri 25 Sep (Mid-Autumn) and Thu 1 - Wed 7
Oct are off; Sun 20 Sep and Sat 10 Oct are make-up working days. The working days after the
holiday are Thu 8, Fri 9, Sat 10, Mon 12, Tue 13, Wed 14, Thu 15, Fri 16, Mon 19, Tue 20 Oct …
A limit of n working days ends at midnight after the n-th of them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ivr.calendar_cn import china_is_workday
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import (
    CustomerClass,
    Deadline,
    OrderKind,
    OrderStatus,
    deadlines_for,
    is_overdue,
)

IN_THE_HOLIDAY = datetime(2026, 10, 3, 10, 0, tzinfo=CHINA)  # Sat 3 Oct, National Day week
EVE_OF_THE_HOLIDAY = datetime(2026, 9, 30, 16, 0, tzinfo=CHINA)  # Wed 30 Sep, a working day


def end_of(day: date) -> datetime:
    """The instant a working-day limit whose last day is ``day`` falls due (Beijing midnight)."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=CHINA)


def due(kind: OrderKind, made: datetime, cls: CustomerClass | None = None) -> dict[str, Deadline]:
    return {d.name: d for d in deadlines_for(kind, cls, made, china_is_workday)}


def test_the_holiday_and_its_make_up_days_are_the_calendar_the_limits_count_on() -> None:
    off = [date(2026, 9, 25), *(date(2026, 10, day) for day in range(1, 8))]
    make_up = [date(2026, 9, 20), date(2026, 10, 10)]  # a Sunday and a Saturday
    assert not any(china_is_workday(day) for day in off)
    assert all(china_is_workday(day) for day in make_up)


def test_a_consultation_is_answered_within_3_days_on_the_clock_holiday_or_not() -> None:
    reply = due(OrderKind.CONSULTATION, IN_THE_HOLIDAY)["reply"]
    assert reply.due_at == IN_THE_HOLIDAY + timedelta(hours=72)  # Tue 6 Oct, still a holiday
    assert reply.met_by is OrderStatus.CLOSED


def test_a_complaint_made_before_the_holiday() -> None:
    """Pass on within 1 day (clock); contact the customer within 1 working day; reply and call
    back within 5 working days."""
    limits = due(OrderKind.COMPLAINT, EVE_OF_THE_HOLIDAY)
    assert limits["pass_on"].due_at == EVE_OF_THE_HOLIDAY + timedelta(days=1)  # Thu 1 Oct 16:00
    assert limits["contact"].due_at == end_of(date(2026, 10, 8))  # the 1st after the holiday
    assert limits["reply"].due_at == end_of(date(2026, 10, 13))  # 8, 9, 10 (Sat), 12, 13
    assert limits["callback"].due_at == end_of(date(2026, 10, 13))
    assert {n: d.met_by for n, d in limits.items()} == {
        "pass_on": OrderStatus.DISPATCHED,
        "contact": OrderStatus.IN_PROGRESS,
        "reply": OrderStatus.CLOSED,
        "callback": OrderStatus.CALLBACK_DONE,
    }


def test_a_report_made_in_the_holiday_is_answered_and_called_back_in_10_working_days() -> None:
    limits = due(OrderKind.REPORT, IN_THE_HOLIDAY)
    tenth = date(2026, 10, 20)  # 8, 9, 10, 12, 13, 14, 15, 16, 19, 20
    assert limits["reply"].due_at == limits["callback"].due_at == end_of(tenth)


@pytest.mark.parametrize(
    ("cls", "working_days", "last_day"),
    [
        (CustomerClass.RESIDENTIAL, 3, date(2026, 10, 10)),  # the make-up Saturday counts
        (CustomerClass.LOW_VOLTAGE, 7, date(2026, 10, 15)),
        (CustomerClass.HIGH_VOLTAGE_SINGLE, 15, date(2026, 10, 27)),
        (CustomerClass.HIGH_VOLTAGE_DUAL, 30, date(2026, 11, 17)),
    ],
)
def test_a_supply_plan_is_replied_to_within_3_7_15_30_working_days_by_customer_class(
    cls: CustomerClass, working_days: int, last_day: date
) -> None:
    reply = due(OrderKind.BUSINESS, IN_THE_HOLIDAY, cls)["supply_plan_reply"]
    assert reply.due_at == end_of(last_day), working_days
    assert not reply.provisional


@pytest.mark.parametrize(
    ("kind", "cls", "name", "last_day"),
    [
        (OrderKind.CONNECTION, CustomerClass.RESIDENTIAL, "connection", date(2026, 10, 10)),  # 3
        (OrderKind.CONNECTION, CustomerClass.LOW_VOLTAGE, "connection", date(2026, 10, 13)),  # 5
        (OrderKind.METER_TEST, None, "test_result", date(2026, 10, 13)),  # 5
        (OrderKind.METER_READING, None, "verify_reply", date(2026, 10, 15)),  # 7
    ],
)
def test_connection_meter_test_and_meter_reading_limits_in_working_days(
    kind: OrderKind, cls: CustomerClass | None, name: str, last_day: date
) -> None:
    assert due(kind, IN_THE_HOLIDAY, cls)[name].due_at == end_of(last_day)


def test_a_residential_connection_is_aimed_at_2_working_days_and_due_at_3() -> None:
    connection = due(OrderKind.CONNECTION, IN_THE_HOLIDAY, CustomerClass.RESIDENTIAL)["connection"]
    assert connection.target_at == end_of(date(2026, 10, 9))
    assert connection.due_at == end_of(date(2026, 10, 10))


def test_working_days_count_from_the_beijing_day_not_the_utc_day() -> None:
    """17:00 UTC on Tue 29 Sep is 01:00 on Wed 30 Sep in Beijing: the complaint's one working
    day to contact the customer is the first after Wed 30 Sep (Thu 8 Oct), not Wed 30 Sep."""
    made = datetime(2026, 9, 29, 17, 0, tzinfo=UTC)
    assert due(OrderKind.COMPLAINT, made)["contact"].due_at == end_of(date(2026, 10, 8))


def test_a_limit_is_met_at_its_last_instant_and_overdue_just_after() -> None:
    reply = due(OrderKind.REPORT, IN_THE_HOLIDAY)["reply"]
    assert not is_overdue(reply.due_at, None, reply.due_at)
    assert is_overdue(reply.due_at, None, reply.due_at + timedelta(microseconds=1))
    met_in_time = reply.due_at - timedelta(hours=1)
    assert not is_overdue(reply.due_at, met_in_time, reply.due_at + timedelta(days=2))
