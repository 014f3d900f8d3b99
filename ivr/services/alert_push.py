"""Pushes stored alerts to the webhook, at least once each, with backoff while it is down.

The outbox is the ``alerts`` table itself (see ``ivr.db.alerts``): nothing is held in memory,
so a bridge restart or a long receiver outage loses nothing, and several bridges share the work
through leases. Wakes when an alert is raised (``poke``) or an item's retry becomes due.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ivr.domain.alert_push import Backoff
from ivr.ports import AlertOutbox, WebhookSender
from ivr.services.background_loop import BackgroundLoop, RetryTiming

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushLimits:
    batch: int = 20
    lease_s: float = 60.0  # longer than one post may take (its timeout)
    max_sleep_s: float = 30.0
    # a random part added to each retry wait, so alerts that failed together (the receiver was
    # down) are not all retried in the same instant; 0 keeps the schedule exact (tests)
    jitter_s: float = 0.0


class AlertPusher(BackgroundLoop):
    def __init__(
        self,
        outbox: AlertOutbox,
        sender: WebhookSender,
        clock: Callable[[], datetime],
        backoff: Backoff | None = None,
        limits: PushLimits | None = None,
    ) -> None:
        self._limits = limits or PushLimits()
        super().__init__(
            task_name="alert-push",
            round_name="webhook",
            retry=RetryTiming(first_s=1.0, max_s=self._limits.max_sleep_s),
        )
        self._outbox = outbox
        self._sender = sender
        self._clock = clock
        self._backoff = backoff or Backoff()

    async def run_once(self) -> tuple[int, int]:
        """Deliver what is due; (delivered, failed)."""
        items = await self._outbox.claim(self._limits.lease_s, self._limits.batch)
        ok = failed = 0
        for item in items:
            try:
                await self._sender.send(item)
            except Exception as exc:  # the receiver's fault or the network's: try again later
                retry_in = self._backoff.after(item.attempts) + timedelta(
                    seconds=random.uniform(0, self._limits.jitter_s)  # noqa: S311 (not a secret)
                )
                log.warning(
                    "webhook: alert %s attempt %d failed (%s); retry in %.0f s",
                    item.key, item.attempts, exc, retry_in.total_seconds(),
                )  # fmt: skip
                await self._outbox.failed(item.alert_id, retry_in, str(exc))
                failed += 1
            else:
                await self._outbox.delivered(item.alert_id)
                ok += 1
        return ok, failed

    async def _round(self) -> float:
        """Until the earliest retry is due (a poke, a new alert, comes sooner)."""
        delivered, failed = await self.run_once()
        if delivered + failed == self._limits.batch:
            return 0.0  # more may be due now
        due = await self._outbox.next_try()
        if due is None:
            return self._limits.max_sleep_s
        return min(max((due - self._clock()).total_seconds(), 0.05), self._limits.max_sleep_s)
