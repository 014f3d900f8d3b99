"""A failed webhook delivery is retried after the backoff plus a random part (jitter), so
alerts that failed together are spread out; without jitter the schedule is exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.domain.alert_push import Backoff, OutboxItem
from ivr.services.alert_push import AlertPusher, PushLimits

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Outbox:
    def __init__(self, items: list[OutboxItem]) -> None:
        self.items = items
        self.retries: list[timedelta] = []

    async def claim(self, lease_s: float, limit: int) -> list[OutboxItem]:
        taken, self.items = self.items[:limit], self.items[limit:]
        return taken

    async def delivered(self, alert_id: int) -> None:
        raise AssertionError("the receiver is down: nothing is delivered")

    async def failed(self, alert_id: int, retry_in: timedelta, error: str) -> None:
        self.retries.append(retry_in)

    async def next_try(self) -> datetime | None:
        return None


class Down:
    async def send(self, item: OutboxItem) -> None:
        raise ConnectionRefusedError("receiver down")


def items(n: int, attempts: int) -> list[OutboxItem]:
    return [OutboxItem(i, f"test:{i}", attempts, {}) for i in range(n)]


async def retries(jitter_s: float, attempts: int) -> list[timedelta]:
    outbox = Outbox(items(50, attempts))
    backoff = Backoff(timedelta(seconds=2), 2.0, timedelta(seconds=60))
    pusher = AlertPusher(outbox, Down(), lambda: NOW, backoff, PushLimits(50, jitter_s=jitter_s))
    assert await pusher.run_once() == (0, 50)
    return outbox.retries


async def test_without_jitter_every_retry_waits_the_backoff_exactly() -> None:
    assert set(await retries(jitter_s=0.0, attempts=2)) == {timedelta(seconds=4)}


async def test_with_jitter_retries_spread_over_the_jitter_above_the_backoff() -> None:
    waits = await retries(jitter_s=2.0, attempts=2)
    assert all(timedelta(seconds=4) <= w <= timedelta(seconds=6) for w in waits)
    assert len(set(waits)) > 1  # 50 random draws: not all the same instant
