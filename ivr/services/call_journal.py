"""Writing call records off the call's critical path, in order, without ever failing a call.

A caller must not wait on the database: the flow hands each write to the journal and goes on
talking to Asterisk (measured by bench/inbound_load.py: awaiting the first insert put up to
100 ms of silence before the greeting at 25 calls on SQLite). Writes for one call run one after
another in the order given, on a snapshot of the record taken when it was handed over; a write
that fails is logged and what it did not store goes with the call's next write, so a database
hiccup at the start of a call loses nothing if it is back by the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from ivr.domain.calls import CallRecord
from ivr.ports import CallRepository

log = logging.getLogger(__name__)


class CallJournal:
    def __init__(self, repository: CallRepository) -> None:
        self._repository = repository
        self._stored: set[str] = set()  # calls whose row exists
        self._steps_written: dict[str, int] = {}
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last queued write of each call

    def opened(self, record: CallRecord) -> None:
        self._enqueue(record.call_id, self._save, _snapshot(record))

    def closed(self, record: CallRecord) -> None:
        self._enqueue(record.call_id, self._save, _snapshot(record), final=True)

    def ended(
        self, call_id: str, ended_at: datetime, queue_status: str | None, agent: str | None
    ) -> None:
        async def mark() -> None:
            await self._repository.mark_ended(call_id, ended_at, queue_status, agent)

        self._enqueue(call_id, mark)

    async def drain(self) -> None:
        """Wait for every queued write (at shutdown, and in tests)."""
        while self._tails:
            await asyncio.gather(*list(self._tails.values()), return_exceptions=True)

    def _enqueue(
        self,
        call_id: str,
        write: Callable[..., Awaitable[None]],
        *args: CallRecord,
        final: bool = False,
    ) -> None:
        previous = self._tails.get(call_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await write(*args)
            except Exception:
                log.exception("could not write call %s (kept for its next write)", call_id)
            finally:
                if final:
                    self._stored.discard(call_id)
                    self._steps_written.pop(call_id, None)
                if self._tails.get(call_id) is task:
                    del self._tails[call_id]

        task = asyncio.create_task(run(), name=f"journal-{call_id}")
        self._tails[call_id] = task

    async def _save(self, record: CallRecord) -> None:
        if record.call_id not in self._stored:
            await self._repository.add(record)
            self._stored.add(record.call_id)
            self._steps_written[record.call_id] = len(record.steps)
            return
        written = self._steps_written.get(record.call_id, 0)
        if written < len(record.steps):
            await self._repository.add_steps(record.call_id, record.steps[written:])
            self._steps_written[record.call_id] = len(record.steps)
        await self._repository.update(record)


def _snapshot(record: CallRecord) -> CallRecord:
    """The record as it is now: the flow goes on changing the original."""
    return dataclasses.replace(record, menu_path=list(record.menu_path), steps=list(record.steps))
