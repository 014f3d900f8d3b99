"""Writing call records off the call's critical path, in order, without ever failing a call.

A caller must not wait on the database: the flow hands each write to the journal and goes on
talking to Asterisk (measured by bench/inbound_load.py: awaiting the first insert put up to
100 ms of silence before the greeting at 25 calls on SQLite).

What the journal keeps per call is the *latest* snapshot of the record plus how Asterisk said
it ended; the repository's ``save`` is idempotent (insert or update the row, append only the
steps not yet stored), so a write may be retried any number of times and lands exactly once.
One writer task per call writes in order and, while the database is down or locked, retries
with backoff and jitter (``RETRY_MIN_S`` doubling to ``RETRY_MAX_S``, tenacity) for as long as
it takes; calls go on being served meanwhile. Memory is bounded: past ``max_calls`` unwritten
calls, further records go to the spool (a local file, when there is one) with an ERROR log,
and at shutdown whatever is still unwritten is spooled too. The spool is read back at start
and whenever the journal has caught up, so nothing is lost across a database outage or a
bridge restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from ivr.domain.calls import CallEnd, CallRecord, SpooledCall
from ivr.ports import CallRepository, CallSpool

log = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
DEFAULT_MAX_CALLS = 10_000  # unwritten calls held in memory (each a few kB)
SPOOL_CHECK_S = 2.0


@dataclasses.dataclass(slots=True)
class _Pending:
    record: CallRecord | None = None
    end: CallEnd | None = None

    def merge_end(self, end: CallEnd) -> None:
        self.end = end if self.end is None else self.end.merged(end)


class CallJournal:
    def __init__(
        self,
        repository: CallRepository,
        max_calls: int = DEFAULT_MAX_CALLS,
        spool: CallSpool | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self._repository = repository
        self._max_calls = max_calls
        self._spool = spool
        self._sleep = sleep
        self._pending: dict[str, _Pending] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._spooled: set[str] = set()  # calls whose later writes must follow them to the spool
        self._spool_task: asyncio.Task[None] | None = None
        self._replaying: tuple[list[SpooledCall], int] | None = None  # loaded, how many taken
        self._failing_since: float | None = None
        self.retries = 0  # failed writes so far (tests, metrics)
        self.spilled = 0  # writes sent to the spool because memory was full

    # ---------------------------------------------------------------- the flow's side

    def opened(self, record: CallRecord) -> None:
        self._put(record.call_id, record=_snapshot(record))

    def closed(self, record: CallRecord) -> None:
        self._put(record.call_id, record=_snapshot(record))

    def ended(
        self, call_id: str, ended_at: datetime, queue_status: str | None, agent: str | None
    ) -> None:
        self._put(call_id, end=CallEnd(ended_at, queue_status, agent))

    @property
    def unwritten(self) -> int:
        """Calls with something not yet in the database."""
        return len(self._pending)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Take back what a previous run left in the spool (written in the background, so a
        database that fails again cannot hold up the start), and keep watching the spool."""
        if self._spool is None:
            return
        self._load_spool()
        self._spool_task = asyncio.create_task(self._watch_spool(), name="journal-spool")

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued write is stored; False if ``timeout_s`` ran out first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._writers:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(list(self._writers.values()), timeout=remaining)
        return True

    async def close(self, timeout_s: float = 5.0) -> None:
        """At shutdown: give the database ``timeout_s``, then spool what is still unwritten."""
        if self._spool_task is not None:
            self._spool_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._spool_task
        if await self.drain(timeout_s):
            self._finish_replay()
            return
        writers = list(self._writers.values())
        for task in writers:
            task.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        left = [SpooledCall(cid, p.record, p.end) for cid, p in self._pending.items()]
        self._pending.clear()
        if self._spool is None:
            log.error(
                "JOURNAL: %d call records could not be written and there is no spool file "
                "(database.spool_file): they are lost",
                len(left),
            )
            return
        for entry in left:
            self._spool.append(entry)
        log.error("JOURNAL: database unavailable at shutdown: %d calls spooled", len(left))

    # ---------------------------------------------------------------- internals

    def _put(
        self,
        call_id: str,
        record: CallRecord | None = None,
        end: CallEnd | None = None,
        force: bool = False,
    ) -> None:
        pending = self._pending.get(call_id)
        if (
            pending is None
            and not force
            and (call_id in self._spooled or len(self._pending) >= self._max_calls)
        ):
            self._spill(call_id, record, end)
            return
        if pending is None:
            pending = self._pending[call_id] = _Pending()
        if record is not None:
            pending.record = record
        if end is not None:
            pending.merge_end(end)
        if call_id not in self._writers:
            self._writers[call_id] = asyncio.create_task(
                self._write(call_id), name=f"journal-{call_id}"
            )

    def _spill(self, call_id: str, record: CallRecord | None, end: CallEnd | None) -> None:
        self.spilled += 1
        if self._spool is None:
            log.error(
                "JOURNAL FULL: %d calls unwritten (limit %d) and no spool file: the record of "
                "call %s is DROPPED",
                len(self._pending),
                self._max_calls,
                call_id,
            )
            return
        if call_id not in self._spooled:
            log.error(
                "JOURNAL FULL: %d calls unwritten (limit %d): call %s goes to the spool file",
                len(self._pending),
                self._max_calls,
                call_id,
            )
        self._spooled.add(call_id)
        self._spool.append(SpooledCall(call_id, record, end))

    async def _write(self, call_id: str) -> None:
        try:
            while (pending := self._pending.get(call_id)) is not None:
                # taken out of ``pending`` only once stored: a writer cancelled at shutdown
                # leaves it there for the spool
                if (record := pending.record) is not None:
                    await self._retrying(call_id, partial(self._repository.save, record))
                    if pending.record is record:
                        pending.record = None
                elif (end := pending.end) is not None:
                    found = await self._retrying(
                        call_id,
                        partial(
                            self._repository.mark_ended,
                            call_id,
                            end.ended_at,
                            end.queue_status,
                            end.agent,
                        ),
                    )
                    if found is False:
                        log.warning("call %s ended but was never recorded", call_id)
                    if pending.end is end:
                        pending.end = None
                else:
                    del self._pending[call_id]
        finally:
            self._writers.pop(call_id, None)

    async def _retrying(self, call_id: str, write: Callable[[], object]) -> object:
        def failed(state: RetryCallState) -> None:
            self.retries += 1
            exc = state.outcome.exception() if state.outcome is not None else None
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.error(
                    "JOURNAL: database write failed (%s: %s); call records are kept in "
                    "memory and retried",
                    type(exc).__name__,
                    str(exc)[:200],
                )
            elif state.next_action is not None and state.next_action.sleep >= RETRY_MAX_S:
                log.warning("journal: call %s still not written; retrying", call_id)

        attempts = AsyncRetrying(
            sleep=self._sleep,  # type: ignore[arg-type]
            wait=wait_exponential(multiplier=RETRY_MIN_S, max=RETRY_MAX_S)
            + wait_random(0, RETRY_MIN_S),
            retry=retry_if_exception_type(Exception),
            before_sleep=failed,
            reraise=True,
        )
        result = await attempts(write)  # type: ignore[arg-type]
        if self._failing_since is not None:
            log.warning(
                "JOURNAL: database writes work again after %.1f s; %d calls to catch up",
                time.monotonic() - self._failing_since,
                len(self._pending),
            )
            self._failing_since = None
        return result

    async def _watch_spool(self) -> None:
        while True:
            await asyncio.sleep(SPOOL_CHECK_S)
            try:
                if self._replaying is not None:
                    self._finish_replay()
                elif not self._pending and self._spool is not None and not self._spool.empty():
                    self._load_spool()
            except Exception:
                log.exception("journal: could not replay the spool")

    def _load_spool(self) -> None:
        """Put as much of the spool as memory allows into the queue of writes."""
        assert self._spool is not None
        entries = self._spool.load()
        if not entries:
            return
        room = max(0, self._max_calls - len(self._pending))
        log.warning(
            "journal: replaying %d of %d spooled writes", min(room, len(entries)), len(entries)
        )
        self._spooled.clear()
        for entry in entries[:room]:
            self._put(entry.call_id, entry.record, entry.end, force=True)
        self._replaying = (entries, room)

    def _finish_replay(self) -> None:
        """Once every replayed call is written, keep in the spool only what was not taken."""
        if self._replaying is None or self._spool is None:
            return
        entries, room = self._replaying
        if any(e.call_id in self._pending for e in entries[:room]):
            return
        # appended meanwhile: after the lines we loaded (no await here: nothing else runs)
        self._spool.replace(entries[room:] + self._spool.load()[len(entries) :])
        self._replaying = None


def _snapshot(record: CallRecord) -> CallRecord:
    """The record as it is now: the flow goes on changing the original."""
    return dataclasses.replace(record, menu_path=list(record.menu_path), steps=list(record.steps))
