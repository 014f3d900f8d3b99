"""The shared background loop: a failed round is retried with backoff and logged once in full;
a poke runs the next round at once; stop ends the task."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.services.background_loop import BackgroundLoop, RetryTiming


class Rounds(BackgroundLoop):
    def __init__(self, failures: int, sleep_s: float) -> None:
        super().__init__(
            task_name="test-loop", round_name="test", retry=RetryTiming(first_s=0.01, max_s=0.02)
        )
        self.failures = failures
        self.sleep_s = sleep_s
        self.done = 0
        self.ran = asyncio.Event()

    async def _round(self) -> float:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        self.done += 1
        self.ran.set()
        return self.sleep_s


async def test_failed_rounds_are_retried_and_logged_once_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = Rounds(failures=3, sleep_s=3600)
    with caplog.at_level(logging.WARNING, logger=__name__):
        loop.start()
        await asyncio.wait_for(loop.ran.wait(), 10)
        await loop.stop()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == __name__]
    levels = [level for level, _ in lines]
    assert levels == [logging.ERROR, logging.WARNING, logging.WARNING, logging.WARNING]
    assert lines[0][1].startswith("test round failed; again in")
    assert caplog.records[0].exc_info is not None  # the first one with its traceback
    assert "database away" in lines[1][1]
    assert lines[-1][1] == "test works again after 3 failures"
    assert loop.done == 1


async def test_a_poke_runs_the_next_round_at_once() -> None:
    loop = Rounds(failures=0, sleep_s=3600)  # would sleep an hour unless poked
    loop.start()
    try:
        await asyncio.wait_for(loop.ran.wait(), 10)
        loop.ran.clear()
        loop.poke()
        await asyncio.wait_for(loop.ran.wait(), 10)
        assert loop.done == 2
    finally:
        await loop.stop()


async def test_stop_before_start_and_twice_is_harmless() -> None:
    loop = Rounds(failures=0, sleep_s=1)
    await loop.stop()
    loop.start()
    await loop.stop()
    await loop.stop()
