"""Waiting for an :class:`asyncio.Event` with a time limit, in loops that must stop when asked.

``asyncio.wait_for(event.wait(), t)`` looks the same, but on Python 3.11 it swallows a
cancellation that lands just as the event is set: the loop goes round again and the ``stop``
that cancelled it waits for ever. ``asyncio.timeout`` does not::

    if not await until_set(self._wake, 5.0):
        ...  # five seconds passed with nobody poking
"""

from __future__ import annotations

import asyncio
import contextlib


async def until_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
