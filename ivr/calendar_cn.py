"""Adapter: the mainland China working-day calendar from the ``chinesecalendar`` package.

The package ships the State Council's holiday and make-up-day (调休) schedule per year; a year it
does not know makes ``chinese_calendar.is_workday`` raise ``NotImplementedError``. We turn that
into the domain's ``UnknownYear`` so the domain falls back to Monday-Friday and marks due times
provisional (see ``ivr.domain.workdays``). Upgrade the package when a new schedule is published.
"""

from __future__ import annotations

from datetime import date

import chinese_calendar

from ivr.domain.workdays import UnknownYear


def china_is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise UnknownYear(f"chinesecalendar has no data for {day.year}: {exc}") from None


def known_years() -> range:
    """Years this installed version covers (for the README and start-up log)."""
    years = [y for y in range(2004, 2100) if _known(y)]
    return range(years[0], years[-1] + 1)


def _known(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True
