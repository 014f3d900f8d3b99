"""Monthly reports as a use case: which rows, which instant, which zone.

The web routes ask for a month; this loads its rows through a :class:`ReportRows` store and
hands them to the pure ``ivr.domain.reports``. Months are in the centre's zone
(``tracking.timezone``, the same zone the live dashboard's "today" starts in).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Protocol

from ivr.domain.reports import Month, MonthlyReport, MonthRows, monthly_report
from ivr.domain.service_level import DEFAULT_SHORT_ABANDON_S

MAX_SERIES_MONTHS = 24


class ReportRows(Protocol):
    async def month_rows(self, start: datetime, end: datetime, cut: datetime) -> MonthRows: ...


@dataclass
class MonthlyReports:
    rows: ReportRows
    zone: tzinfo
    clock: Callable[[], datetime]
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
    # a month of 100 000 calls takes seconds to compute; the dashboard's chart asks for six
    cache_s: float = 60.0
    _cache: dict[Month, tuple[float, MonthlyReport]] = field(default_factory=dict)

    async def monthly(self, month: Month) -> MonthlyReport:
        """The month's figures as they stand now (final once the month is over), at most
        ``cache_s`` old."""
        cached = self._cache.get(month)
        if cached and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        now = self.clock()
        start, end = month.bounds(self.zone)
        with _no_cycle_collection():
            # the rows travel in a list the thread empties: once the report is back, nothing
            # (not the executor's finished work item) holds them when collection resumes
            rows = [await self.rows.month_rows(start, end, min(end, now))]

            def compute() -> MonthlyReport:
                month_rows = rows.pop()
                try:
                    return monthly_report(month, self.zone, month_rows, now, self.short_abandon_s)
                finally:
                    _drop_gradually(month_rows)

            # pure arithmetic over up to ~100 000 calls: off the loop that serves the calls
            report = await asyncio.to_thread(compute)
        if len(self._cache) > 4 * MAX_SERIES_MONTHS:
            self._cache.clear()
        self._cache[month] = (time.monotonic(), report)
        return report

    async def series(self, last: Month, months: int) -> list[MonthlyReport]:
        """``months`` consecutive months ending with ``last``, oldest first (for charts)."""
        if not 1 <= months <= MAX_SERIES_MONTHS:
            raise ValueError(f"months must be 1-{MAX_SERIES_MONTHS}")
        wanted = [last]
        while len(wanted) < months:
            wanted.append(wanted[-1].previous())
        return [await self.monthly(m) for m in reversed(wanted)]


_DROP_CHUNK = 1000


def _drop_gradually(rows: MonthRows) -> None:
    """Empty the month's lists a thousand rows at a time. Freeing 100 000 visits in one go
    is one long run of C code that keeps the interpreter from the event loop (36-41 ms);
    between chunks the loop gets its turn."""
    for name in ("visits", "orders", "state_changes"):
        held = getattr(rows, name)
        if isinstance(held, list):
            while held:
                del held[-_DROP_CHUNK:]


_paused = 0
_pause_lock = threading.Lock()


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No garbage-collector pass while a month's rows are loaded and added up.

    The rows are ~2 objects per call, all alive until the report is done: a full collection
    meanwhile walks every one of them while holding the interpreter, and the event loop that
    serves the calls stops for it (66 ms at 20 000 calls, 110-210 ms at 100 000, measured by
    ``bench/report_bench.py``). They hold no reference cycles, so reference counting frees
    them as soon as the report is built; collection resumes then (the outermost of
    overlapping reports turns it back on).
    """
    global _paused
    with _pause_lock:
        ours = _paused > 0 or gc.isenabled()  # turned off by someone else: theirs to turn on
        if ours:
            _paused += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _pause_lock:
                _paused -= 1
                if _paused == 0:
                    gc.enable()
