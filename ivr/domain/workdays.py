"""Working days of mainland China, behind a plain ``is_workday(date) -> bool`` callable.

The statutory calendar (weekends, public holidays, make-up working days 调休) comes from a
maintained library in an adapter (``ivr.calendar_cn``); the domain only receives the callable, so
it stays pure and tests can pass their own. Years the library does not know yet are announced by
``UnknownYear``: we then count Monday to Friday for those days and mark the result provisional,
so a due time is never silently wrong and can be recomputed once the library knows the year.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

IsWorkday = Callable[[date], bool]
CHINA = ZoneInfo("Asia/Shanghai")
_MAX_SCAN_DAYS = 400  # no holiday run is anywhere near this long: a broken calendar stops here


class UnknownYear(LookupError):
    """The calendar has no data for this year (the State Council publishes it each autumn)."""


@dataclass(frozen=True, slots=True)
class WorkdayAnswer:
    workday: bool
    provisional: bool  # the year was unknown; weekday rule used


def ask(is_workday: IsWorkday, day: date) -> WorkdayAnswer:
    try:
        return WorkdayAnswer(is_workday(day), False)
    except UnknownYear:
        return WorkdayAnswer(day.weekday() < 5, True)


def nth_working_day_after(day: date, n: int, is_workday: IsWorkday) -> tuple[date, bool]:
    """The n-th working day after ``day`` (``day`` itself does not count), and provisional?"""
    if n < 1:
        raise ValueError("n must be at least 1")
    provisional, found, current = False, 0, day
    for _ in range(_MAX_SCAN_DAYS):
        current += timedelta(days=1)
        answer = ask(is_workday, current)
        provisional |= answer.provisional
        if answer.workday:
            found += 1
            if found == n:
                return current, provisional
    raise ValueError(f"no {n} working days within {_MAX_SCAN_DAYS} days of {day}")


def working_days_deadline(start: datetime, n: int, is_workday: IsWorkday) -> tuple[datetime, bool]:
    """Due at the end of the n-th working day after the (Beijing) day of ``start``.

    "Within 5 working days" of a request made on Monday ends when the fifth working day after
    Monday ends, i.e. at 00:00 Beijing time on the following day. Returned in ``start``'s zone.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    local_day = start.astimezone(CHINA).date()
    last, provisional = nth_working_day_after(local_day, n, is_workday)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=CHINA)
    return end.astimezone(start.tzinfo), provisional
