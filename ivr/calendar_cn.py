"""Adapter: the mainland China working-day calendar, from the site's holiday schedule file and
the ``chinesecalendar`` package.

The package ships the State Council's holiday and make-up-day (调休) schedule per year; a year it
does not know makes ``chinese_calendar.is_workday`` raise ``NotImplementedError``. We turn that
into the domain's ``UnknownYear`` so the domain falls back to Monday-Friday and marks due times
provisional (see ``ivr.domain.workdays``). The package lags the State Council by months, so a
site may enter the published schedule itself (``calendar.schedule_file``, checked by
``ivr.domain.holidays``): for the years that file lists it wins over the package.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import chinese_calendar

from ivr.domain.holidays import (
    EMPTY,
    HolidaySchedule,
    ScheduleError,
    combined,
    disagreements,
    parse_schedule,
)
from ivr.domain.workdays import IsWorkday, UnknownYear

SITE = "site file"
PACKAGE = f"chinesecalendar {getattr(chinese_calendar, '__version__', '?')}"


def china_is_workday(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError as exc:
        raise UnknownYear(f"chinesecalendar has no data for {day.year}: {exc}") from None


def known_years() -> range:
    """Years this installed version covers (for `ivr calendar years` and the start-up log)."""
    years = [y for y in range(2004, 2100) if _known(y)]
    return range(years[0], years[-1] + 1)


def _known(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def load_schedule(path: Path) -> HolidaySchedule:
    """The site schedule in ``path``; ``ScheduleError`` naming the file if it is not valid."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        return parse_schedule(data)
    except OSError as exc:
        raise ScheduleError(f"calendar.schedule_file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, ScheduleError) as exc:
        raise ScheduleError(f"calendar.schedule_file {path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """The calendar the bridge counts working days with, and where each year comes from."""

    site: HolidaySchedule = EMPTY
    package: IsWorkday = china_is_workday
    package_years: range = field(default_factory=known_years)

    @property
    def is_workday(self) -> IsWorkday:
        return combined(self.site, self.package)

    def sources(self) -> dict[int, str]:
        """Every known year and its source (the site file wins where both have it)."""
        out = dict.fromkeys(self.package_years, PACKAGE)
        out.update(dict.fromkeys(self.site.years, SITE))
        return dict(sorted(out.items()))

    def disagreements(self) -> dict[int, list[date]]:
        """Per year both know: the days where the site file overrides the package."""
        both = sorted(set(self.site.years) & set(self.package_years))
        found = {y: disagreements(self.site, self.package, y) for y in both}
        return {y: days for y, days in found.items() if days}


def load_calendar(schedule_file: Path | None) -> WorkingCalendar:
    """The package alone, or with the site file (an invalid or missing file is an error)."""
    if schedule_file is None:
        return WorkingCalendar()
    return WorkingCalendar(site=load_schedule(schedule_file))


def log_sources(calendar: WorkingCalendar, log: logging.Logger) -> None:
    """Which years come from where, and a warning per year the two sources disagree on."""
    by_source: dict[str, list[int]] = {}
    for year, source in calendar.sources().items():
        by_source.setdefault(source, []).append(year)
    for source, years in by_source.items():
        log.info("working-day calendar: %s: %s", _spans(years), source)
    for year, days in calendar.disagreements().items():
        shown = ", ".join(d.isoformat() for d in days[:5]) + (" …" if len(days) > 5 else "")
        log.warning(
            "working-day calendar: for %d the site file differs from %s on %d day(s) (%s); "
            "the site file is used",
            year,
            PACKAGE,
            len(days),
            shown,
        )


def _spans(years: list[int]) -> str:
    """``[2004, 2005, 2006, 2027]`` → ``2004-2006, 2027``."""
    spans: list[list[int]] = []
    for year in sorted(years):
        if spans and year == spans[-1][1] + 1:
            spans[-1][1] = year
        else:
            spans.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
