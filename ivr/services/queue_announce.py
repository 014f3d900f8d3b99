"""Telling waiting callers their place: 您前面还有{n}位客户，预计等待时间约{m}分钟 every
``[virtual_hold] announce_interval_s``, in our TTS, while they stay in the queue.

Each bridge tells the callers whose menu it served (the inbound flow hands them over as they go
on to wait), so two bridges never both speak to one caller. Their place and expected wait come
from the live tracker (``ivr.domain.virtual_hold.positions``, the desk's estimate); the words
reach the caller through ``Whisperer`` (ChanSpy's whisper: the caller stays in the queue, in
their place, and hears the announcement over the hold music).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ivr.domain.virtual_hold import announcements_due, position_text, positions
from ivr.ports import PromptLibrary, Whisperer
from ivr.services.background_loop import BackgroundLoop, RetryTiming
from ivr.services.call_tracking import CallTracking
from ivr.services.virtual_hold import CallBackDesk

log = logging.getLogger(__name__)

JOIN_GRACE_S = 30.0  # a caller handed over this recently may not have joined the queue yet


class QueueAnnouncer(BackgroundLoop):
    def __init__(
        self,
        desk: CallBackDesk,
        tracking: CallTracking,
        prompts: PromptLibrary,
        whisperer: Whisperer,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            task_name="queue-announcer",
            round_name="queue announcement",
            retry=RetryTiming(first_s=5.0, max_s=30.0),
        )
        self._desk = desk
        self._tracking = tracking
        self._prompts = prompts
        self._whisperer = whisperer
        self._interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}  # unique id -> when last told

    async def _round(self) -> float:
        now = self._clock()
        mine = self._desk.handed_over
        waiting = {v.unique_id: v for v in self._tracking.waiting()}
        for uid in [u for u, at in mine.items() if u not in waiting and now - at > JOIN_GRACE_S]:
            del mine[uid]  # answered, gone, or never queued
            self._last.pop(uid, None)
        since = {uid: at for uid, at in mine.items() if uid in waiting}
        due = announcements_due(self._last, since, now, self._interval_s)
        if due:
            places = positions((v.unique_id, v.queue, v.joined_us) for v in waiting.values())
            for uid in due:
                self._last[uid] = now
                visit = waiting[uid]
                place = places[uid]
                text = position_text(place, self._desk.wait_for(visit.queue, place - 1))
                try:
                    prompt = await self._prompts.prompt_path(text)
                    await self._whisperer.whisper(uid, prompt)
                except Exception:  # one caller's announcement never stops the others'
                    log.exception("could not announce a caller's place in %s", visit.queue)
        return min(5.0, self._interval_s / 2)
