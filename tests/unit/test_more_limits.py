"""The limits added for issue 4's "every time limit of the standard": connection after
acceptance (residential 2–3, non-residential 5 working days), meter accuracy test result (5) and
meter-reading anomaly verify-and-reply (7), on the real calendar around National Day 2026
(1–7 Oct off, Mid-Autumn Fri 25 Sep off; make-up working days Sun 20 Sep and Sat 10 Oct)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.calendar_cn import china_is_workday
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import (
    CustomerClass,
    OrderKind,
    OrderStatus,
    deadlines_for,
    limits_for,
    validate_kind_class,
)


def beijing(m: int, d: int, h: int = 10) -> datetime:
    return datetime(2026, m, d, h, tzinfo=CHINA)


def end_of(m: int, d: int) -> datetime:
    """Midnight that ends the day before ``m``/``d``: how a working-day limit falls due."""
    return datetime(2026, m, d, 0, 0, tzinfo=CHINA)


TUE_29_SEP = beijing(9, 29)


def only(kind: OrderKind, cls: CustomerClass | None, created: datetime):  # type: ignore[no-untyped-def]
    [deadline] = deadlines_for(kind, cls, created, china_is_workday)
    return deadline


def test_residential_connection_target_two_due_three_across_national_day() -> None:
    # working days after Tue 29 Sep: Wed 30, (1–7 Oct off) Thu 8, Fri 9
    d = only(OrderKind.CONNECTION, CustomerClass.RESIDENTIAL, TUE_29_SEP)
    assert (d.name, d.met_by) == ("connection", OrderStatus.CLOSED)
    assert d.target_at == end_of(10, 9)  # end of Thu 8 Oct, the 2nd working day
    assert d.due_at == end_of(10, 10)  # end of Fri 9 Oct, the 3rd
    assert not d.provisional


@pytest.mark.parametrize(
    "cls",
    [
        CustomerClass.LOW_VOLTAGE,
        CustomerClass.HIGH_VOLTAGE_SINGLE,
        CustomerClass.HIGH_VOLTAGE_DUAL,
    ],
)
def test_non_residential_connection_five_days_counts_the_make_up_saturday(
    cls: CustomerClass,
) -> None:
    # Wed 30, Thu 8, Fri 9, Sat 10 (调休), Mon 12 Oct
    d = only(OrderKind.CONNECTION, cls, TUE_29_SEP)
    assert d.due_at == end_of(10, 13)
    assert d.target_at is None


def test_meter_test_result_five_working_days() -> None:
    d = only(OrderKind.METER_TEST, None, TUE_29_SEP)
    assert (d.name, d.due_at, d.target_at) == ("test_result", end_of(10, 13), None)


def test_meter_reading_anomaly_seven_working_days() -> None:
    # Wed 30, Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13, Wed 14 Oct
    d = only(OrderKind.METER_READING, None, TUE_29_SEP)
    assert (d.name, d.due_at) == ("verify_reply", end_of(10, 15))


def test_meter_reading_skips_mid_autumn_and_national_day() -> None:
    # Thu 24 Sep: Fri 25–Sun 27 off (中秋), Mon 28, 29, 30, Oct 8, 9, 10 (调休), Mon 12
    d = only(OrderKind.METER_READING, None, beijing(9, 24))
    assert d.due_at == end_of(10, 13)


def test_make_up_sunday_before_national_day_counts_for_a_connection() -> None:
    # Fri 18 Sep: Sun 20 (调休) is the 1st working day, Mon 21 the 2nd, Tue 22 the 3rd
    d = only(OrderKind.CONNECTION, CustomerClass.RESIDENTIAL, beijing(9, 18))
    assert (d.target_at, d.due_at) == (end_of(9, 22), end_of(9, 23))


def test_order_created_during_the_holiday_counts_from_the_first_working_day() -> None:
    # Sat 3 Oct (holiday): Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13
    d = only(OrderKind.METER_TEST, None, beijing(10, 3))
    assert d.due_at == end_of(10, 14)


def test_late_evening_utc_is_the_next_beijing_day() -> None:
    # 17:00 UTC on Wed 30 Sep is 01:00 Thu 1 Oct in Beijing: counting starts after 1 Oct.
    # Thu 8 (1), Fri 9 (2: target), Sat 10 (3: due); midnight in Beijing is 16:00 UTC before.
    d = only(OrderKind.CONNECTION, CustomerClass.RESIDENTIAL, datetime(2026, 9, 30, 17, tzinfo=UTC))
    assert d.target_at == datetime(2026, 10, 9, 16, tzinfo=UTC)
    assert d.due_at == datetime(2026, 10, 10, 16, tzinfo=UTC)


@pytest.mark.parametrize("kind", [OrderKind.CONNECTION, OrderKind.BUSINESS])
def test_classed_kinds_need_a_class(kind: OrderKind) -> None:
    with pytest.raises(ValueError, match="needs customer_class"):
        validate_kind_class(kind, None)
    with pytest.raises(ValueError):
        limits_for(kind, None)


@pytest.mark.parametrize("kind", [OrderKind.METER_TEST, OrderKind.METER_READING])
def test_meter_kinds_take_no_class(kind: OrderKind) -> None:
    validate_kind_class(kind, None)
    with pytest.raises(ValueError, match="connections only"):
        validate_kind_class(kind, CustomerClass.RESIDENTIAL)


@pytest.mark.parametrize(
    "kind", [OrderKind.CONNECTION, OrderKind.METER_TEST, OrderKind.METER_READING]
)
def test_new_kinds_get_no_automatic_callback(kind: OrderKind) -> None:
    cls = CustomerClass.HIGH_VOLTAGE_DUAL if kind is OrderKind.CONNECTION else None
    deadlines = deadlines_for(kind, cls, TUE_29_SEP, china_is_workday)
    assert CallbackPolicy().callback_due(kind, cls, TUE_29_SEP, deadlines) is None
