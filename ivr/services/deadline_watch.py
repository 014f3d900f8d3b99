"""The time-limit watch: raises a warning before every open deadline and a breach after it.

It sleeps until the next moment an alert becomes due (at most ``max_sleep_s``, and less when
poked: a work order was created or changed), so a warning comes at its moment, not at the
next poll. All it knows is re-read from the database each round and every alert is raised
through the idempotent ``AlertSink``: a round that fails (database down) is logged and retried
with backoff and loses nothing; two bridges each raise every alert, and it is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.domain.deadline_watch import WarningPolicy, Window, alerts_due, next_moment
from ivr.ports import AlertSink, DeadlineSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatchTiming:
    max_sleep_s: float = 30.0  # look again at least this often (orders made by other bridges)
    retry_s: float = 1.0  # first wait after a failed round; doubles up to max_sleep_s
    met_late_horizon: timedelta = timedelta(days=7)  # older late deadlines are not alerted


@dataclass(frozen=True, slots=True)
class Round:
    raised: int
    next_at: datetime | None


class DeadlineWatch:
    def __init__(
        self,
        source: DeadlineSource,
        sink: AlertSink,
        policy: WarningPolicy,
        clock: Callable[[], datetime],
        timing: WatchTiming | None = None,
    ) -> None:
        self._source = source
        self._sink = sink
        self._policy = policy
        self._clock = clock
        self._timing = timing or WatchTiming()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="deadline-watch")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    def poke(self) -> None:
        """Orders changed: look again now instead of at the computed moment."""
        self._wake.set()

    async def run_once(self) -> Round:
        now = self._clock()
        window = Window.ahead(now, timedelta(seconds=self._timing.max_sleep_s), self._policy)
        watched = await self._source.watched(now - self._timing.met_late_horizon, window)
        raised = 0
        for alert in alerts_due(watched, now, self._policy):
            raised += await self._sink.raise_alert(alert)
        await self._source.settle_warnings(now)
        # exact up to window.at (= max_sleep_s ahead): the loop never sleeps longer than that
        return Round(raised, next_moment(watched, now, self._policy))

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                done = await self.run_once()
                failures = 0
                wait = self._timing.max_sleep_s
                if done.next_at is not None:
                    until = (done.next_at - self._clock()).total_seconds()
                    wait = min(max(until, 0.0), wait)
            except Exception:
                failures += 1
                wait = min(self._timing.retry_s * 2 ** (failures - 1), self._timing.max_sleep_s)
                log.exception("deadline watch round failed; again in %.1f s", wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
