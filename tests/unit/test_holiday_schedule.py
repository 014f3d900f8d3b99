"""The site holiday schedule: strict checks at load, its answers, and the calendar it makes with
the chinesecalendar package (site file first for its years, then the package, else UnknownYear).

Every 2027/2099 date below is MADE UP for the tests: none is the State Council's schedule."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ivr.calendar_cn import (
    PACKAGE,
    SITE,
    WorkingCalendar,
    china_is_workday,
    load_calendar,
    load_schedule,
    log_sources,
)
from ivr.config import Settings
from ivr.domain.holidays import (
    HolidaySchedule,
    ScheduleError,
    combined,
    disagreements,
    parse_schedule,
)
from ivr.domain.workdays import UnknownYear

EXAMPLE = Path(__file__).parents[2] / "ivr" / "data" / "holidays.example.toml"

FAKE_2027: dict[str, Any] = {  # made up
    "2027": {
        "holidays": [date(2027, 1, 1), "2027-02-08..2027-02-12", "2027-10-01"],
        "workdays": ["2027-02-06"],  # a Saturday
    }
}


def test_site_schedule_answers_its_year() -> None:
    schedule = parse_schedule(FAKE_2027)
    assert schedule.is_workday(date(2027, 1, 1)) is False  # Friday, listed holiday
    assert schedule.is_workday(date(2027, 2, 10)) is False  # inside the range
    assert schedule.is_workday(date(2027, 2, 6)) is True  # Saturday, make-up day
    assert schedule.is_workday(date(2027, 2, 13)) is False  # an ordinary Saturday
    assert schedule.is_workday(date(2027, 3, 1)) is True  # an ordinary Monday
    with pytest.raises(UnknownYear):
        schedule.is_workday(date(2028, 3, 1))


def year(holidays: list[Any], workdays: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"holidays": holidays, "workdays": workdays or []}
    return {"2027": table | extra}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (year(["2027-02-30"]), "'2027-02-30' is not a date"),
        (year(["27-1-1"]), "'27-1-1' is not a date"),
        (year([20270101]), "20270101 is not a date"),
        (year([date(2028, 1, 3)]), "holidays 2028-01-03 is not in 2027"),
        (year(["2026-12-31..2027-01-01"]), "2026-12-31 is not in 2027"),
        (year([date(2027, 1, 1)], ["2027-01-01"]), "2027-01-01 is listed as a holiday and as a"),
        (year([date(2027, 1, 1)], [date(2027, 1, 4)]), "workdays 2027-01-04 is a weekday"),
        (year([date(2027, 1, 1), "2027-01-01"]), "lists 2027-01-01 twice"),
        (year(["2027-02-12..2027-02-08"]), "backwards or too long"),
        (year(["2027-01-01..2027-03-01"]), "backwards or too long"),
        (year([date(2027, 1, 2)]), "lists no weekday"),
        (year([date(2027, 1, 1)], note="x"), "[2027] unknown key 'note'"),
        ({"2027": {"holidays": [date(2027, 1, 1)]}}, "[2027] needs workdays"),
        ({"2027": [date(2027, 1, 1)]}, "[2027] must be a table"),
        ({"2027": {"holidays": "2027-01-01", "workdays": []}}, "holidays must be a list"),
        ({"holiday_2027": {}}, "unknown key 'holiday_2027'"),
        ({"1899": {}}, "unknown key '1899'"),
    ],
)
def test_invalid_schedules_are_refused_with_what_is_wrong(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(data)
    assert says in str(caught.value)


def test_datetime_is_not_a_date() -> None:
    from datetime import datetime

    with pytest.raises(ScheduleError, match="is not a date"):
        parse_schedule(year([datetime(2027, 1, 1, 8)]))


def test_weekend_days_inside_a_holiday_range_are_accepted() -> None:
    # the published runs ("10月1日至7日") include their weekend: copying them is allowed
    schedule = parse_schedule(year(["2027-10-01..2027-10-07"]))
    assert not any(schedule.is_workday(date(2027, 10, d)) for d in range(1, 8))


def package_until_2025(day: date) -> bool:
    if day.year > 2025:
        raise UnknownYear(day.year)
    return day.weekday() < 5


def test_combined_calendar_site_then_package_then_unknown() -> None:
    site = parse_schedule(FAKE_2027)
    is_workday = combined(site, package_until_2025)
    assert is_workday(date(2027, 1, 1)) is False  # site
    assert is_workday(date(2025, 1, 1)) is True  # the fake package's weekday rule
    with pytest.raises(UnknownYear):
        is_workday(date(2026, 1, 1))  # neither knows 2026


def test_site_file_wins_over_the_package_and_the_difference_is_found() -> None:
    # a site entry for 2026 that leaves out the real 2026-10-07 holiday (Wednesday) and adds a
    # fake one; the package's answer is overruled on exactly those two days
    real = [d for d in _days(2026) if d.weekday() < 5 and not china_is_workday(d)]
    made_up = date(2026, 3, 2)  # a Monday the package says is worked
    holidays = [d for d in real if d != date(2026, 10, 7)] + [made_up]
    workdays = [d for d in _days(2026) if d.weekday() >= 5 and china_is_workday(d)]
    site = parse_schedule({"2026": {"holidays": holidays, "workdays": workdays}})
    assert disagreements(site, china_is_workday, 2026) == [made_up, date(2026, 10, 7)]
    assert combined(site, china_is_workday)(date(2026, 10, 7)) is True  # site wins
    assert disagreements(site, package_until_2025, 2026) == []  # package does not know 2026


def _days(y: int) -> list[date]:
    first, after = date(y, 1, 1).toordinal(), date(y + 1, 1, 1).toordinal()
    return [date.fromordinal(n) for n in range(first, after)]


def test_sources_and_start_up_log(caplog: pytest.LogCaptureFixture) -> None:
    calendar = WorkingCalendar(site=parse_schedule(FAKE_2027), package_years=range(2004, 2027))
    sources = calendar.sources()
    assert sources[2026] == PACKAGE and sources[2027] == SITE and 2028 not in sources
    with caplog.at_level(logging.INFO):
        log_sources(calendar, logging.getLogger("test"))
    lines = [r.getMessage() for r in caplog.records]
    assert f"working-day calendar: 2004-2026: {PACKAGE}" in lines
    assert f"working-day calendar: 2027: {SITE}" in lines


def test_a_disagreement_is_a_warning_at_start(caplog: pytest.LogCaptureFixture) -> None:
    holidays = [d for d in _days(2026) if d.weekday() < 5 and not china_is_workday(d)]
    workdays = [d for d in _days(2026) if d.weekday() >= 5 and china_is_workday(d)]
    site = parse_schedule({"2026": {"holidays": holidays[1:], "workdays": workdays}})
    with caplog.at_level(logging.INFO):
        log_sources(WorkingCalendar(site=site), logging.getLogger("test"))
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"for 2026 the site file differs from {PACKAGE} on 1 day(s) ({holidays[0]})" in (
        warning.getMessage()
    )


def test_the_example_file_is_valid_and_holds_no_real_year() -> None:
    schedule = load_schedule(EXAMPLE)
    assert set(schedule.years) == {2099}  # made up on purpose: nothing to copy by mistake
    assert "MADE UP" in EXAMPLE.read_text("utf-8")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    with pytest.raises(ScheduleError, match=f"{missing}: No such file"):
        load_schedule(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[2027\nholidays = [", "utf-8")
    with pytest.raises(ScheduleError, match=str(broken)):
        load_schedule(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[2027]\nholidays = [2028-01-03]\nworkdays = []\n", "utf-8")
    with pytest.raises(ScheduleError, match="2028-01-03 is not in 2027"):
        load_calendar(wrong)


def test_no_file_is_the_package_alone() -> None:
    calendar = load_calendar(None)
    assert calendar.site == HolidaySchedule({})
    with pytest.raises(UnknownYear):
        calendar.is_workday(date(2099, 1, 5))


def test_schedule_file_setting_and_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ivr.toml"
    config.write_text('[calendar]\nschedule_file = "/etc/ivr95598/holidays.toml"\n', "utf-8")
    monkeypatch.setenv("IVR_CONFIG", str(config))
    assert Settings().calendar.schedule_file == Path("/etc/ivr95598/holidays.toml")
    monkeypatch.setenv("IVR_CALENDAR__SCHEDULE_FILE", str(tmp_path / "h.toml"))
    assert Settings().calendar.schedule_file == tmp_path / "h.toml"
    monkeypatch.delenv("IVR_CONFIG")
    monkeypatch.delenv("IVR_CALENDAR__SCHEDULE_FILE")
    assert Settings().calendar.schedule_file is None
