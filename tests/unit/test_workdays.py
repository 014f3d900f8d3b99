"""Working-day deadlines on the real mainland calendar (chinesecalendar), around Spring Festival
and National Day 2026 with their make-up working days (调休), and the unknown-year fallback."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ivr.calendar_cn import china_is_workday, known_years
from ivr.domain.workdays import (
    CHINA,
    UnknownYear,
    nth_working_day_after,
    working_days_deadline,
)


def beijing(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=CHINA)


def test_library_knows_2026() -> None:
    assert 2026 in known_years()


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 2, 14), True),  # Saturday, make-up working day before Spring Festival
        (date(2026, 2, 16), False),  # Monday, Spring Festival holiday
        (date(2026, 2, 23), False),  # Monday, last day of the holiday
        (date(2026, 2, 28), True),  # Saturday, make-up working day after it
        (date(2026, 9, 20), True),  # Sunday, make-up day before National Day
        (date(2026, 10, 5), False),  # Monday, National Day holiday
        (date(2026, 10, 10), True),  # Saturday, make-up day after it
        (date(2026, 3, 7), False),  # an ordinary Saturday
    ],
)
def test_statutory_days(day: date, workday: bool) -> None:
    assert china_is_workday(day) is workday


def test_spring_festival_pushes_a_complaint_reply_past_the_holiday() -> None:
    # Friday 13 Feb 2026: next working days are Sat 14 (调休), then Tue 24, Wed 25, Thu 26, Fri 27.
    due, provisional = working_days_deadline(beijing(2026, 2, 13), 5, china_is_workday)
    assert due == datetime(2026, 2, 28, 0, 0, tzinfo=CHINA)
    assert not provisional


def test_make_up_saturday_counts_as_a_working_day() -> None:
    # Friday 27 Feb + 1 working day = Saturday 28 Feb (调休), due at 00:00 on 1 March.
    due, _ = working_days_deadline(beijing(2026, 2, 27), 1, china_is_workday)
    assert due == datetime(2026, 3, 1, tzinfo=CHINA)


def test_national_day_week_is_skipped() -> None:
    # Wed 30 Sep 2026 + 3 working days: 1-7 Oct are holidays, Thu 8, Fri 9, Sat 10 (调休).
    day, _ = nth_working_day_after(date(2026, 9, 30), 3, china_is_workday)
    assert day == date(2026, 10, 10)


def test_make_up_sunday_before_national_day() -> None:
    # Sat 19 Sep 2026 + 1 working day = Sun 20 Sep (调休).
    day, _ = nth_working_day_after(date(2026, 9, 19), 1, china_is_workday)
    assert day == date(2026, 9, 20)


def test_beijing_day_not_utc_day_starts_the_count() -> None:
    # 23:30 UTC on Thu 8 Oct is already Friday 9 Oct in Beijing: count from Friday.
    due, _ = working_days_deadline(datetime(2026, 10, 8, 23, 30, tzinfo=UTC), 1, china_is_workday)
    assert due.astimezone(CHINA) == datetime(2026, 10, 11, tzinfo=CHINA)
    assert due.tzinfo is UTC


def test_unknown_year_is_provisional_weekdays() -> None:
    with pytest.raises(UnknownYear):
        china_is_workday(date(2099, 1, 5))
    # Thu 30 Dec 2027 is beyond the library (it knows up to 2026): weekday rule, flagged.
    day, provisional = nth_working_day_after(date(2026, 12, 30), 3, china_is_workday)
    assert provisional
    assert day == date(2027, 1, 4)  # Thu 31 Dec (known), Fri 1 Jan (weekday rule), Mon 4 Jan


def test_deadline_needs_aware_time() -> None:
    with pytest.raises(ValueError):
        working_days_deadline(datetime(2026, 3, 2, 10), 1, china_is_workday)
