"""The time-limit watch: raises a warning before every open deadline and a breach after it.

It sleeps until the next moment an alert becomes due (at most ``max_sleep_s``, and less when
poked: a work order was created or changed), so a warning comes at its moment, not at the
next poll. All it knows is re-read from the database each round and every alert is raised
through the idempotent ``AlertSink``: a round that fails (database down) is logged and retried
with backoff and loses nothing; two bridges each raise every alert, and it is stored once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.domain.deadline_watch import WarningPolicy, Window, alerts_due, next_moment
from ivr.ports import AlertSink, DeadlineSource
from ivr.services.background_loop import BackgroundLoop, RetryTiming


@dataclass(frozen=True, slots=True)
class WatchTiming:
    max_sleep_s: float = 30.0  # look again at least this often (orders made by other bridges)
    retry_s: float = 1.0  # first wait after a failed round; doubles (with jitter) to max_sleep_s
    met_late_horizon: timedelta = timedelta(days=7)  # older late deadlines are not alerted


@dataclass(frozen=True, slots=True)
class Round:
    raised: int
    next_at: datetime | None


class DeadlineWatch(BackgroundLoop):
    def __init__(
        self,
        source: DeadlineSource,
        sink: AlertSink,
        policy: WarningPolicy,
        clock: Callable[[], datetime],
        timing: WatchTiming | None = None,
    ) -> None:
        self._timing = timing or WatchTiming()
        super().__init__(
            task_name="deadline-watch",
            round_name="deadline watch",
            retry=RetryTiming(self._timing.retry_s, self._timing.max_sleep_s),
        )
        self._source = source
        self._sink = sink
        self._policy = policy
        self._clock = clock

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

    async def _round(self) -> float:
        """Until the next alert is due (a poke, such as an order changing, comes sooner)."""
        done = await self.run_once()
        if done.next_at is None:
            return self._timing.max_sleep_s
        until = (done.next_at - self._clock()).total_seconds()
        return min(max(until, 0.0), self._timing.max_sleep_s)
