"""A site's own holiday schedule (放假安排), and the calendar it makes with the package's.

The State Council publishes each year's holidays and make-up working days (调休) in the autumn;
the ``chinesecalendar`` package follows months later. A call centre's administrator enters the
published schedule in a file, so deadlines stop being provisional when the schedule is out, not
when a release is. This module checks that structure (already parsed from TOML) and answers
``is_workday`` from it; reading the file is an adapter's job (``ivr.calendar_site``).

Shape, per year (a year present is a year **fully known**: every day not listed follows the
weekday rule)::

    [2027]
    holidays = [2027-01-01, "2027-10-01..2027-10-07"]  # days off; weekends inside ranges are fine
    workdays = [2027-10-09]                            # make-up working days: Saturdays/Sundays

Strict on purpose: a wrong schedule silently moves every deadline, so anything doubtful is an
error naming the year and the entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ivr.domain.workdays import IsWorkday, UnknownYear

_YEAR = re.compile(r"^[0-9]{4}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_KEYS = frozenset({"holidays", "workdays"})
_MAX_RANGE_DAYS = 31  # the longest published holiday run is 8-9 days: more is a typo
FIRST_YEAR, LAST_YEAR = 2000, 2200


class ScheduleError(ValueError):
    """The schedule is not valid; the message names the year and the entry."""


@dataclass(frozen=True, slots=True)
class YearSchedule:
    holidays: frozenset[date]  # days off (weekdays among them are what matters)
    workdays: frozenset[date]  # weekend days that are worked (调休)

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


@dataclass(frozen=True, slots=True)
class HolidaySchedule:
    years: Mapping[int, YearSchedule]

    def is_workday(self, day: date) -> bool:
        """The site's answer; ``UnknownYear`` for a year it does not list."""
        year = self.years.get(day.year)
        if year is None:
            raise UnknownYear(f"the site schedule has no {day.year}")
        return year.is_workday(day)


EMPTY = HolidaySchedule({})


def parse_schedule(data: Mapping[str, Any]) -> HolidaySchedule:
    """Check a parsed schedule (see the module docstring); ``ScheduleError`` if anything is off."""
    years: dict[int, YearSchedule] = {}
    for key, table in data.items():
        if not _YEAR.match(str(key)) or not FIRST_YEAR <= int(key) <= LAST_YEAR:
            raise ScheduleError(f"unknown key {key!r}: the top level holds years, e.g. [2027]")
        years[int(key)] = _year(int(key), table)
    return HolidaySchedule(years)


def _year(year: int, table: Any) -> YearSchedule:
    if not isinstance(table, Mapping):
        raise ScheduleError(f"[{year}] must be a table with holidays and workdays")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ScheduleError(f"[{year}] unknown key {unknown[0]!r} (allowed: holidays, workdays)")
    missing = sorted(_KEYS - set(table))
    if missing:
        raise ScheduleError(f"[{year}] needs {missing[0]} (an empty list if there are none)")
    holidays = _days(year, "holidays", table["holidays"])
    workdays = _days(year, "workdays", table["workdays"])
    if not any(d.weekday() < 5 for d in holidays):
        raise ScheduleError(f"[{year}] holidays lists no weekday: that is not a published year")
    both = sorted(holidays & workdays)
    if both:
        raise ScheduleError(f"[{year}] {both[0]} is listed as a holiday and as a workday")
    weekday = sorted(d for d in workdays if d.weekday() < 5)
    if weekday:
        raise ScheduleError(
            f"[{year}] workdays {weekday[0]} is a weekday: make-up working days are "
            "Saturdays or Sundays (weekdays are working days already)"
        )
    return YearSchedule(frozenset(holidays), frozenset(workdays))


def _days(year: int, name: str, entries: Any) -> set[date]:
    if not isinstance(entries, list):
        raise ScheduleError(f"[{year}] {name} must be a list of dates")
    out: set[date] = set()
    for entry in entries:
        for day in _entry(year, name, entry):
            if day.year != year:
                raise ScheduleError(f"[{year}] {name} {day} is not in {year}")
            if day in out:
                raise ScheduleError(f"[{year}] {name} lists {day} twice")
            out.add(day)
    return out


def _entry(year: int, name: str, entry: Any) -> Iterator[date]:
    """A TOML date, ``"YYYY-MM-DD"``, or an inclusive range ``"YYYY-MM-DD..YYYY-MM-DD"``."""
    if isinstance(entry, datetime) or not isinstance(entry, date | str):
        raise ScheduleError(f"[{year}] {name}: {entry!r} is not a date (write 2027-01-01)")
    if isinstance(entry, date):
        yield entry
        return
    first, sep, last = entry.partition("..")
    start = _iso(year, name, first)
    end = _iso(year, name, last) if sep else start
    if end < start or (end - start).days >= _MAX_RANGE_DAYS:
        raise ScheduleError(f"[{year}] {name}: range {entry!r} is backwards or too long")
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def _iso(year: int, name: str, text: str) -> date:
    try:
        if not _DAY.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ScheduleError(f"[{year}] {name}: {text!r} is not a date (YYYY-MM-DD)") from None


# --- the combined calendar -----------------------------------------------------------------


def combined(site: HolidaySchedule, package: IsWorkday) -> IsWorkday:
    """Site schedule for the years it lists (it wins), else the package, else ``UnknownYear``."""

    def is_workday(day: date) -> bool:
        if day.year in site.years:
            return site.years[day.year].is_workday(day)
        return package(day)

    return is_workday


def disagreements(site: HolidaySchedule, package: IsWorkday, year: int) -> list[date]:
    """Days of ``year`` the site file and the package both answer, differently."""
    out = []
    day = date(year, 1, 1)
    while day.year == year:
        try:
            theirs = package(day)
        except UnknownYear:
            return []  # the package does not know the year: nothing to disagree about
        if theirs != site.is_workday(day):
            out.append(day)
        day += timedelta(days=1)
    return out
