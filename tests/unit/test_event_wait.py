"""``until_set``: a loop waiting on an event stops when cancelled, even when the cancellation
lands just as the event is set (``asyncio.wait_for`` on Python 3.11 loses it there)."""

from __future__ import annotations

import asyncio

import pytest

from ivr.services.event_wait import until_set


async def test_true_when_set_false_after_the_time() -> None:
    event = asyncio.Event()
    assert await until_set(event, 0.01) is False
    event.set()
    assert await until_set(event, 10) is True


@pytest.mark.parametrize("turns", range(4))
async def test_a_cancel_as_the_event_is_set_stops_the_loop(turns: int) -> None:
    """A wake-up loop like BackgroundLoop's: set the event, let ``turns`` loop turns pass, then
    cancel. Whatever the interleaving, the loop task must end cancelled, not go round again."""
    event = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            event.clear()
            await until_set(event, 10)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    event.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    assert task.cancelled(), f"the loop swallowed the cancel and went round {rounds} times"
