"""The one background loop of the bridge: start, stop, poke, and back off when a round fails.

The time-limit watch, the webhook pusher, the callback dialer and the repair dispatcher each
run rounds: do what is due, then sleep until the next moment something may be due, or until
poked (an order changed, a call ended, an alert was raised). What a round does and how long it
may sleep is theirs; the task, the wake-up and the failed-round policy are here, once.

A round that raises (the database is away, usually) is retried with exponential backoff and
jitter (``tenacity``), so several bridges that lost the same database do not all come back in
the same instant; the first failure is logged in full, the rest in one line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from ivr.services.event_wait import until_set


@dataclass(frozen=True, slots=True)
class RetryTiming:
    """After the n-th failed round in a row, wait ``first_s * 2**(n-1)`` (at most ``max_s``)
    plus a random part of up to ``first_s``."""

    first_s: float = 1.0
    max_s: float = 30.0


def retrying(timing: RetryTiming, log: logging.Logger, what: str) -> AsyncRetrying:
    """Retry an async call on any ``Exception`` until it succeeds, with backoff and jitter;
    the first failure is logged with its traceback, later ones in one line."""

    def failed(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if state.attempt_number == 1:
            log.error("%s failed; again in %.1f s", what, wait, exc_info=exc)
        else:
            log.warning("%s failed again (%s); next in %.1f s", what, exc, wait)

    return AsyncRetrying(
        wait=wait_exponential(multiplier=timing.first_s, max=timing.max_s)
        + wait_random(0, timing.first_s),
        retry=retry_if_exception_type(Exception),
        before_sleep=failed,
        reraise=True,
    )


class BackgroundLoop(ABC):
    """A task that runs ``_round`` again and again; ``poke`` makes the next round come now."""

    def __init__(self, *, task_name: str, round_name: str, retry: RetryTiming) -> None:
        self._task_name = task_name
        self._round_name = round_name  # "dialer", "deadline watch": in the failed-round lines
        # the subclass's module logger, so log lines keep the name they always had
        self._log = logging.getLogger(type(self).__module__)
        self._retry = retry
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    def poke(self) -> None:
        """Something changed: run the next round now rather than at its computed moment."""
        self._wake.set()

    @abstractmethod
    async def _round(self) -> float:
        """Do what is due; return the seconds to sleep before the next round (0: at once)."""

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the round: a poke during the round is not lost
            attempts = retrying(self._retry, self._log, f"{self._round_name} round")
            wait = await attempts(self._round)
            failures = attempts.statistics.get("attempt_number", 1) - 1
            if failures:
                self._log.warning("%s works again after %d failures", self._round_name, failures)
            if wait > 0:
                await until_set(self._wake, wait)
