"""Storm days: the outage register's use cases and the in-memory notice index the menu reads.

The index (``ivr.domain.outages.OutageIndex``) is rebuilt every ``refresh_s`` and at once
after a change made through this bridge, off the call path: a caller's lookup is a dictionary
read, so the menu's think time does not grow with outages or customers. Each notice's audio is
rendered while the index is built, so the first caller does not wait for the TTS either.
Another bridge's change is seen at its next refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from ivr.domain.outage_files import PlannedOutage
from ivr.domain.outages import (
    CustomerNotFound,
    Notice,
    Outage,
    OutageIndex,
    OutageKind,
    places,
)
from ivr.ports import CustomerRegister, OutageRegister, PromptLibrary
from ivr.services.background_loop import BackgroundLoop, RetryTiming

log = logging.getLogger(__name__)


def _nobody() -> None:
    return None


class OutageNotices(BackgroundLoop):
    """The ``OutageLookup`` port: active outages by calling number and by 户号."""

    def __init__(
        self,
        outages: OutageRegister,
        customers: CustomerRegister,
        prompts: PromptLibrary,
        zone: tzinfo,
        clock: Callable[[], datetime],
        refresh_s: float = 30.0,
        retry: RetryTiming | None = None,
    ) -> None:
        super().__init__(
            task_name="outage-index",
            round_name="outage index",
            retry=retry or RetryTiming(first_s=1.0, max_s=30.0),
        )
        self._outages = outages
        self._customers = customers
        self._prompts = prompts
        self._zone = zone
        self._clock = clock
        self._refresh_s = refresh_s
        self.index = OutageIndex()
        self.refreshed_at: datetime | None = None
        self._refreshing = asyncio.Lock()

    def for_phone(self, phone: str) -> Notice | None:
        return self.index.for_phone(phone)

    def for_account(self, account_no: str) -> Notice | None:
        return self.index.for_account(account_no)

    async def account_known(self, account_no: str) -> bool:
        if self.index.for_account(account_no) is not None:
            return True
        try:
            await self._customers.get(account_no)
        except CustomerNotFound:
            return False
        return True

    async def refresh(self, force: bool = False) -> OutageIndex:
        """Rebuild the index if anything it holds changed (the loop's round; tests and the
        benchmark call it directly). Unchanged outages, customers and day: the index is kept,
        so a storm's hundred thousand customers are not reloaded every ``refresh_s``."""
        async with self._refreshing:  # one rebuild at a time; the next sees it done
            return await self._refresh(force)

    async def _refresh(self, force: bool) -> OutageIndex:
        now = self._clock()
        open_outages = await self._outages.open_outages()
        active = [o for o in open_outages if o.active(now)]
        areas, feeders = places(active)
        signature = (
            tuple(active),
            await self._customers.signature(areas, feeders),
            now.astimezone(self._zone).date(),  # 今天/明天 in the notice text
        )
        self._next_start = min(
            (o.starts_at for o in open_outages if o.starts_at > now), default=None
        )
        if signature == self._signature and not force:
            self.refreshed_at = now
            return self.index
        customers = await self._customers.in_places(areas, feeders)
        # pure Python over every customer: in a thread, so calls in the menu keep their turn
        index = await asyncio.to_thread(OutageIndex.build, active, customers, self._zone, now)
        for text in sorted(index.texts()):  # rendered once, then a cache hit
            await self._prompts.prompt_path(text)
        log.info(
            "outage index: %d active outages, %d customers under them",
            len(index.outages),
            len(index.by_account),
        )
        self.index, self.refreshed_at, self._signature = index, now, signature
        return index

    async def _round(self) -> float:
        await self.refresh()
        wait = self._refresh_s
        if self._next_start is not None:  # a planned outage begins before the next refresh
            wait = min(wait, max(0.0, (self._next_start - self._clock()).total_seconds()) + 0.5)
        return wait

    _next_start: datetime | None = None
    _signature: tuple[object, ...] | None = None


class OutageService:
    """The register's changes, each followed by a refresh of this bridge's index (and, on a
    close, a poke of the 回访 dialer: callbacks were scheduled)."""

    def __init__(
        self,
        outages: OutageRegister,
        customers: CustomerRegister,
        notices: OutageNotices | None,
        closed: Callable[[], None] = _nobody,
    ) -> None:
        self.outages = outages
        self.customers = customers
        self._notices = notices
        self._closed = closed

    def _changed(self) -> None:
        if self._notices is not None:
            self._notices.poke()

    async def declare(
        self,
        kind: OutageKind,
        areas: Sequence[str],
        feeders: Sequence[str],
        starts_at: datetime,
        expected_at: datetime,
        cause: str,
        actor: str,
    ) -> Outage:
        outage = await self.outages.create(
            kind, areas, feeders, starts_at, expected_at, cause, actor
        )
        log.info("outage %d (%s) declared by %s", outage.id, kind, actor)
        self._changed()
        return outage

    async def import_schedule(
        self, planned: Sequence[PlannedOutage], actor: str
    ) -> tuple[int, int, int]:
        counts = await self.outages.import_schedule(planned, actor)
        self._changed()
        return counts

    async def update(self, outage_id: int, values: dict[str, Any], actor: str) -> Outage:
        outage = await self.outages.update(outage_id, values, actor)
        self._changed()
        return outage

    async def close(self, outage_id: int, resolution: str, actor: str) -> tuple[Outage, int, int]:
        result = await self.outages.close(outage_id, resolution, actor)
        log.info(
            "outage %d closed by %s: %d linked orders closed, %d 回访 owed",
            outage_id,
            actor,
            result[1],
            result[2],
        )
        self._changed()
        self._closed()
        return result

    async def cancel(self, outage_id: int, reason: str, actor: str) -> Outage:
        outage = await self.outages.cancel(outage_id, reason, actor)
        self._changed()
        return outage
