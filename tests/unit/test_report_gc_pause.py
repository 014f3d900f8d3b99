"""A monthly report keeps the garbage collector from walking its rows while it is computed (a
full pass stopped the calls' event loop for 66-210 ms), and always turns it back on: after the
report, after a failed one, after overlapping ones; and never turns on a collector someone
else turned off."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.reports import Month, MonthRows
from ivr.services.monthly_reports import MonthlyReports

BJ = ZoneInfo("Asia/Shanghai")


class Rows:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.collector_on: list[bool] = []
        self.release = asyncio.Event()

    async def month_rows(self, start: datetime, end: datetime, cut: datetime) -> MonthRows:
        self.collector_on.append(gc.isenabled())
        await self.release.wait()
        if self.fail:
            raise ConnectionError("database gone")
        return MonthRows(visits=[], orders=[], agents=[], missed_before_cut=[])


@pytest.fixture(autouse=True)
def collector_back_on() -> Iterator[None]:
    yield
    gc.enable()


def reports(rows: Rows) -> MonthlyReports:
    return MonthlyReports(rows, BJ, lambda: datetime(2026, 12, 5, tzinfo=UTC), cache_s=0)


async def test_off_while_the_rows_load_and_on_after_overlapping_reports() -> None:
    first, second = Rows(), Rows()
    one = asyncio.create_task(reports(first).monthly(Month(2026, 10)))
    two = asyncio.create_task(reports(second).monthly(Month(2026, 11)))
    await asyncio.sleep(0.01)
    assert first.collector_on == [False] and second.collector_on == [False]
    first.release.set()
    await one
    assert not gc.isenabled()  # the other report is still loading
    second.release.set()
    await two
    assert gc.isenabled()


async def test_on_again_after_a_failed_report() -> None:
    rows = Rows(fail=True)
    rows.release.set()
    with pytest.raises(ConnectionError):
        await reports(rows).monthly(Month(2026, 10))
    assert gc.isenabled()


async def test_a_collector_turned_off_elsewhere_stays_off() -> None:
    gc.disable()
    rows = Rows()
    rows.release.set()
    await reports(rows).monthly(Month(2026, 10))
    assert not gc.isenabled()
