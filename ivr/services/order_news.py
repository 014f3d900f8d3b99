"""Order changes told to the other bridges at once (``LISTEN/NOTIFY``), not at their next poll.

A change to an order wakes this bridge's loops directly (``ivr.services.work_orders``); the
same wake-ups are announced on the ``ivr_orders`` channel, and every other bridge that hears
them wakes its own time-limit watch, repair dispatcher or 回访 dialer. The wake-ups of one
loop turn go out as one announcement. Announcements can be lost (the listening connection
down): each loop keeps its poll as the fallback, and a reconnected listener wakes them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping

from ivr.domain.live_picture import ORDERS_CHANNEL
from ivr.ports import ChangeFeed

log = logging.getLogger(__name__)

LOOPS = ("deadlines", "dispatch", "callbacks")


class OrderNews:
    def __init__(
        self, bridge: str, feed: ChangeFeed, wake: Mapping[str, Callable[[], None]]
    ) -> None:
        self.bridge = bridge
        self.heard_count = 0  # announcements from other bridges acted on
        self._feed = feed
        self._wake = dict(wake)  # loop name (``LOOPS``) → this bridge's poke
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False
        feed.listen(ORDERS_CHANNEL, self._heard)

    def tell(self, loop: str) -> None:
        """This bridge woke ``loop`` for an order change: the others wake theirs (soon, in
        one announcement per loop turn; never waits)."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._send)
        self._pending.add(loop)

    def _send(self) -> None:
        payload = json.dumps({"from": self.bridge, "wake": sorted(self._pending)})
        self._pending.clear()
        task = asyncio.get_running_loop().create_task(self._announce(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, payload: str) -> None:
        try:
            await self._feed.announce(ORDERS_CHANNEL, payload)
        except Exception as exc:  # the others' polls find the change
            if not self._failing:
                log.warning("could not tell the other bridges of an order change (%s)", exc)
            self._failing = True
            return
        self._failing = False

    def _heard(self, payload: str | None) -> None:
        if payload is None:  # the listener was away: anything may have changed
            loops: list[str] = list(LOOPS)
        else:
            try:
                news = json.loads(payload)
                if news["from"] == self.bridge:
                    return
                loops = [str(loop) for loop in news["wake"]]
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable order announcement ignored")
                return
        self.heard_count += 1
        for loop in loops:
            poke = self._wake.get(loop)
            if poke is not None:
                poke()
        log.debug("order change announced by another bridge: woke %s", ", ".join(loops))

    async def stop(self) -> None:
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
