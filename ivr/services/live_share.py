"""This bridge's live picture shared with the other bridges on one PostgreSQL, and theirs kept.

Writes stay off the call path and are coalesced: a change in the queues only marks the
picture dirty; a writer task stores it at most once per ``publish_interval_s`` (however many
events came meanwhile), and at least once per ``heartbeat_s`` (the heartbeat: a bridge that
stops writing is dead to the others after ``expire_s``). Each write is announced on
``LISTEN/NOTIFY``; a bridge that hears another's announcement reads the others' pictures (at
most once per ``publish_interval_s`` too). It also reads them every ``heartbeat_s`` without
being told, which is how an expired bridge leaves the picture and how announcements lost
with the listening connection are made good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ivr.domain.live_picture import LIVE_CHANNEL, BridgePicture
from ivr.ports import ChangeFeed, LivePictureStore
from ivr.services.event_wait import until_set

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveTiming:
    publish_interval_s: float = 0.3
    heartbeat_s: float = 2.0
    expire_s: float = 10.0


@dataclass(slots=True)
class WriteCost:
    """What sharing the picture costs this bridge: writes made and their time."""

    writes: int = 0
    seconds: float = 0.0
    largest_bytes: int = 0

    @property
    def mean_ms(self) -> float:
        return 1000 * self.seconds / self.writes if self.writes else 0.0


class LiveShare:
    def __init__(
        self,
        bridge: str,
        store: LivePictureStore,
        feed: ChangeFeed | None,
        picture: Callable[[], Awaitable[BridgePicture]],
        timing: LiveTiming,
    ) -> None:
        self.bridge = bridge
        self.others: list[BridgePicture] = []  # the other bridges' fresh pictures
        self.listeners: list[Callable[[], None]] = []  # told when ``others`` changed
        self.cost = WriteCost()
        self._store = store
        self._picture = picture
        self._timing = timing
        self._dirty = asyncio.Event()
        self._stale = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = {"write": False, "read": False}
        if feed is not None:
            feed.listen(LIVE_CHANNEL, self._heard)

    def changed(self) -> None:
        """Something in this bridge's picture changed: written within ``publish_interval_s``.
        Cheap and synchronous (a call tracking listener)."""
        self._dirty.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="live-picture-writer"),
            asyncio.create_task(self._read_loop(), name="live-picture-reader"),
        ]

    async def stop(self) -> None:
        if not self._tasks:
            return  # never started (the schema never came): nothing to withdraw
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._store.withdraw(self.bridge)  # the others drop this bridge at once
        except Exception as exc:
            log.warning("could not withdraw the live picture (%s); it expires", exc)

    def _heard(self, payload: str | None) -> None:
        if payload != self.bridge:
            self._stale.set()

    async def _write_loop(self) -> None:
        while True:
            await until_set(self._dirty, self._timing.heartbeat_s)
            self._dirty.clear()
            await self._guarded("write", self._write)
            await asyncio.sleep(self._timing.publish_interval_s)  # changes meanwhile coalesce

    async def _write(self) -> None:
        picture = await self._picture()
        started = time.perf_counter()
        await self._store.publish(picture)
        self.cost.writes += 1
        self.cost.seconds += time.perf_counter() - started
        self.cost.largest_bytes = max(self.cost.largest_bytes, len(picture.to_json()))

    async def _read_loop(self) -> None:
        while True:
            await until_set(self._stale, self._timing.heartbeat_s)
            self._stale.clear()
            if not await self._guarded("read", self._read):
                self._drop_expired()
            await asyncio.sleep(self._timing.publish_interval_s)

    async def _read(self) -> None:
        others = await self._store.others(self.bridge)
        if others == self.others:
            return
        self.others = others
        self._tell()

    def _drop_expired(self) -> None:
        """The database cannot be read: the pictures held expire by their own instants (a
        bridge that died meanwhile must not stay on the board for the whole outage)."""
        now_ms = time.time_ns() // 1_000_000
        fresh = [p for p in self.others if now_ms - p.at_ms < self._timing.expire_s * 1000]
        if fresh != self.others:
            self.others = fresh
            self._tell()

    def _tell(self) -> None:
        for listener in self.listeners:
            try:
                listener()
            except Exception:
                log.exception("live picture listener failed")

    async def _guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> bool:
        """One round; a failure (the database away) is logged once and tried next round."""
        try:
            await step()
        except Exception as exc:
            if not self._failing[what]:
                log.warning("live picture %s failed (%s); trying again", what, exc)
            self._failing[what] = True
            return False
        if self._failing[what]:
            log.warning("live picture %s works again", what)
            self._failing[what] = False
        return True
