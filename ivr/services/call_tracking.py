"""The live picture of the queues, kept from Asterisk's events, and stored as it changes.

Event handling is synchronous and never waits on the database: every changed or finished visit
goes to one writer task in order, which retries a failing write (the database may be down for
a while; the queues must not notice). The agents table is read into an in-memory roster at
start, at every resync and whenever agents change (a member added, an agent saved), so each
ring and answer is stored with the agent's job number as it was then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    wait_exponential,
    wait_random,
)

from ivr.domain.agents import Agent, AgentBoard, AgentRoster, Membership
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import (
    QueueCallTracker,
    QueueEvent,
    QueueVisit,
    RingEnd,
    VisitOutcome,
)
from ivr.domain.service_level import (
    DEFAULT_SHORT_ABANDON_S,
    Figures,
    figures,
    figures_by_agent,
    figures_by_queue,
)
from ivr.ports import AgentDirectory, CallRepository, VisitStore

log = logging.getLogger(__name__)

LOST_NOTE = "ended while the bridge was not following Asterisk (closed by resync)"
RETRY_S = 2.0  # first wait after a failed write or roster reload; doubles (with jitter)
RETRY_MAX_S = 30.0
_RETRY_WAIT = wait_exponential(multiplier=RETRY_S, max=RETRY_MAX_S) + wait_random(0, RETRY_S)
MENU_GRACE = timedelta(seconds=10)  # a call this young may be entering the menu right now
RECENT_VISITS = 2000  # finished visits kept to find those an Asterisk restart cut
WRITE_BATCH = 500  # visit changes stored per transaction at most


# told of every event with the visits it changed or finished; None (and no visits) after a
# membership change or a resync. Runs inside event handling: it must be quick and not wait.
TrackerListener = Callable[[QueueEvent | None, Sequence[QueueVisit]], None]


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """A caller found in a queue by QueueStatus (``wait_s`` is Asterisk's whole seconds)."""

    unique_id: str
    queue: str
    caller_number: str
    wait_s: int


@dataclass(frozen=True, slots=True)
class Report:
    total: Figures
    by_queue: dict[str, Figures]
    by_agent: dict[str, Figures]  # by 工号 (the member interface for a member nobody has)


class CallTracking:
    def __init__(
        self,
        store: VisitStore,
        now_us: Callable[[], int],
        short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
        calls: CallRepository | None = None,
        agents: AgentDirectory | None = None,
        on_finished: Callable[[Sequence[QueueVisit]], None] | None = None,
    ) -> None:
        self.store = store
        self.on_finished = on_finished  # told of every visit as it finishes (metrics)
        self.listeners: list[TrackerListener] = []  # the agents' live feed, …
        self.calls = calls
        self.agents = agents
        self.now_us = now_us
        self.short_abandon_s = short_abandon_s
        self.roster = AgentRoster()
        self.tracker = QueueCallTracker(self.roster.job_number_for)
        self.board = AgentBoard()
        self.version = 0  # bumped on every change (cheap "anything new?" for pollers)
        self.resyncs = 0
        self._writes: asyncio.Queue[QueueVisit] = asyncio.Queue()
        # visits finished lately: an Asterisk restart found at the next resync may have ended them
        self._recent: deque[QueueVisit] = deque(maxlen=RECENT_VISITS)
        self._writer: asyncio.Task[None] | None = None
        self._roster_task: asyncio.Task[None] | None = None
        self._roster_stale = False
        self._roster_failures = 0  # reads failed in a row (logged in full once)

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="visit-writer")
        if not await self.refresh_agents():
            self.agents_changed()  # retried in the background until the database answers

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), 10)
        for task in (self._writer, self._roster_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # ---------------------------------------------------------------- agents

    async def refresh_agents(self) -> bool:
        """Reload the roster from the agents table; False (old roster kept) if it failed."""
        if self.agents is None:
            return True
        try:
            self.roster.load(await self.agents.all())
        except Exception as exc:
            self._roster_failures += 1
            if self._roster_failures == 1:  # once per outage, not every RETRY_S
                # one line (a database outage is already reported as such); the traceback
                # only when asked for with --log-level DEBUG
                log.warning(
                    "could not read the agents table (%s); job numbers may be missing until it"
                    " can be read",
                    f"{type(exc).__name__}: {exc}".splitlines()[0][:200],
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
            else:
                log.debug("agents table still unreadable (%s)", type(exc).__name__)
            return False
        if self._roster_failures:
            log.warning("agents table read again after %d failed tries", self._roster_failures)
            self._roster_failures = 0
        return True

    def agents_changed(self) -> None:
        """Reload the roster soon (in the background; bursts of changes coalesce)."""
        self._roster_stale = True
        if self.agents is not None and (self._roster_task is None or self._roster_task.done()):
            self._roster_task = asyncio.get_running_loop().create_task(
                self._reload_roster(), name="agent-roster"
            )

    async def roster_current(self) -> None:
        """Every agent change signalled so far is in the roster (waits out a failing reload)."""
        while self._roster_task is not None and not self._roster_task.done():
            await asyncio.shield(self._roster_task)

    def agent_noted(self, agent: Agent) -> None:
        """An agent record just read (at login, before QueueAdd): known to the next ring."""
        self.roster.note(agent)

    async def _reload_roster(self) -> None:
        # a failed reload (False) is tried again with backoff and jitter until it works
        attempts = AsyncRetrying(wait=_RETRY_WAIT, retry=retry_if_result(lambda ok: not ok))
        while self._roster_stale:
            self._roster_stale = False
            await attempts(self.refresh_agents)

    async def flushed(self) -> None:
        """Every visit handed over so far is in the database."""
        await self._writes.join()

    # ---------------------------------------------------------------- events

    def handle(self, event: QueueEvent) -> None:
        result = self.tracker.handle(event)
        if result.ignored:
            log.info("queue event ignored: %s", result.ignored)
        for visit in [*result.changed, *result.finished]:
            self._writes.put_nowait(visit)
        self._recent.extend(result.finished)
        if result.finished and self.on_finished is not None:
            self.on_finished(result.finished)
        for visit in result.finished:
            log.info(
                "queue call %s in %s: %s (ring-to-answer %s ms, queue wait %s ms)",
                mask_number(visit.caller_number),
                visit.queue,
                visit.outcome.value,
                visit.ring_to_answer_ms,
                visit.queue_wait_ms,
            )
        if result.changed or result.finished:
            self._notify()
        self._tell(event, [*result.changed, *result.finished])

    def member_changed(self, member: Membership) -> None:
        self.board.upsert(member)
        self._notify()
        self._tell(None, ())

    def member_added(self, member: Membership) -> None:
        """A login (maybe through another bridge, after an agent was saved there)."""
        self.member_changed(member)
        self.agents_changed()

    def member_removed(self, queue: str, interface: str) -> None:
        self.board.remove(queue, interface)
        self._notify()
        self._tell(None, ())

    async def resync(
        self,
        present_uids: set[str],
        entries: list[LiveEntry],
        members: list[Membership],
        cut_since_us: int | None = None,
    ) -> list[QueueVisit]:
        """Rebuild from what Asterisk says is there now; returns the calls closed as LOST.

        Calls the database holds open (a previous bridge died) are adopted when their channel
        is still up; every tracked call whose channel is gone is closed as ``lost``.
        ``cut_since_us``: Asterisk restarted, and visits that ended after this instant as
        abandoned or timed out were ended by its shutdown: they are ``lost`` too.
        """
        await self.refresh_agents()
        now = self.now_us()
        if cut_since_us is not None:
            self._relabel_cut(cut_since_us, present_uids)
        known = {v.unique_id for v in self.tracker.live}
        for visit in await self._open_in_store():
            if visit.unique_id not in known:
                self.tracker.adopt(visit)
                known.add(visit.unique_id)
        for entry in entries:
            if entry.unique_id not in known:
                joined = now - entry.wait_s * 1_000_000
                self.tracker.adopt(
                    QueueVisit(
                        entry.unique_id,
                        entry.queue,
                        entry.caller_number,
                        joined,
                        note="joined before the bridge saw it: times from QueueStatus (whole s)",
                    )
                )
                known.add(entry.unique_id)
        closed = self.tracker.close_missing(present_uids, now, LOST_NOTE)
        for visit in closed:
            self._writes.put_nowait(visit)
        if closed and self.on_finished is not None:
            self.on_finished(closed)
        self.board.replace_all(members)
        await self._close_lost_menu_calls(present_uids, now, cut_since_us)
        self.resyncs += 1
        log.info(
            "resync: %d live queue calls, %d members, %d closed as lost",
            len(self.tracker.live),
            len(members),
            len(closed),
        )
        self._notify()
        self._tell(None, closed)
        return closed

    def _relabel_cut(self, cut_since_us: int, present_uids: set[str]) -> None:
        cut = [
            v
            for v in self._recent
            if v.outcome in (VisitOutcome.ABANDONED, VisitOutcome.TIMED_OUT)
            and (v.ended_us or 0) >= cut_since_us
            and v.unique_id not in present_uids
        ]
        for visit in cut:
            rings = tuple(
                dataclasses.replace(r, end=RingEnd.CALLER_LEFT)
                if r.end is RingEnd.NO_ANSWER and (r.ended_us or 0) >= cut_since_us
                else r
                for r in visit.rings
            )
            self._writes.put_nowait(
                dataclasses.replace(visit, outcome=VisitOutcome.LOST, note=LOST_NOTE, rings=rings)
            )
        if cut:
            log.warning("resync: %d queue calls cut by the Asterisk restart: lost", len(cut))

    async def _close_lost_menu_calls(
        self, present_uids: set[str], now_us: int, cut_since_us: int | None
    ) -> None:
        if self.calls is None:
            return
        at = datetime.fromtimestamp(now_us / 1e6, UTC)
        cut_since = None
        if cut_since_us is not None:
            cut_since = datetime.fromtimestamp(cut_since_us / 1e6, UTC)
        try:
            count = await self.calls.close_lost(present_uids, at - MENU_GRACE, at, cut_since)
        except Exception:
            log.exception("could not close calls left in the menu by a dead bridge")
            return
        if count:
            log.warning("resync: %d calls left in the menu by a dead bridge closed as lost", count)

    async def _open_in_store(self) -> list[QueueVisit]:
        try:
            return await self.store.open_visits()
        except Exception:
            log.exception("could not read open queue calls from the database")
            return []

    # ---------------------------------------------------------------- reading

    def waiting(self) -> list[QueueVisit]:
        return [v for v in self.tracker.live if v.outcome is VisitOutcome.WAITING]

    def talking(self) -> list[QueueVisit]:
        return [v for v in self.tracker.live if v.outcome is VisitOutcome.TALKING]

    def recent(self) -> list[QueueVisit]:
        """Visits finished lately (up to ``RECENT_VISITS``), oldest first: who just hung up,
        whose last ring went unanswered (the wallboard)."""
        return list(self._recent)

    async def report(self, start: datetime, end: datetime) -> Report:
        visits = await self.store.between(start, end)
        return Report(
            total=figures(visits, self.short_abandon_s),
            by_queue=figures_by_queue(visits, self.short_abandon_s),
            by_agent=figures_by_agent(visits, self.short_abandon_s, self._agent_key),
        )

    def _agent_key(self, interface: str, job_number: str | None) -> str:
        """An agent's row in the live figures: the 工号 stored with the ring or answer, else
        the one the roster gives that interface now, else the member interface itself."""
        return job_number or self.roster.job_number_for(interface) or interface

    # ---------------------------------------------------------------- internals

    def _notify(self) -> None:
        self.version += 1

    def _tell(self, event: QueueEvent | None, visits: Sequence[QueueVisit]) -> None:
        for listener in self.listeners:
            try:
                listener(event, visits)
            except Exception:  # a listener's bug must never stop call tracking
                log.exception("call tracking listener failed")

    async def _write_loop(self) -> None:
        """Whatever has queued up since the last write goes in one transaction (up to
        ``WRITE_BATCH`` changes, only each visit's latest state): under a burst the writer
        keeps up instead of committing every change on its own."""
        while True:
            batch = [await self._writes.get()]
            while len(batch) < WRITE_BATCH and not self._writes.empty():
                batch.append(self._writes.get_nowait())
            try:
                await _until_stored(self.store.save_many, latest_states(batch))
            finally:
                for _ in batch:
                    self._writes.task_done()


def latest_states(changes: Sequence[QueueVisit]) -> list[QueueVisit]:
    """The last state of each visit among ``changes``, in the order visits first appear (an
    older state written after a newer one would undo it)."""
    latest: dict[tuple[str, int], QueueVisit] = {}
    for visit in changes:
        latest[(visit.unique_id, visit.joined_us)] = visit
    return list(latest.values())


async def _until_stored(
    save: Callable[[Sequence[QueueVisit]], Awaitable[None]], visits: Sequence[QueueVisit]
) -> None:
    """Store visits, retrying with backoff and jitter until the database takes them (the
    transaction is all or nothing, so a retry never stores a batch twice or in part)."""

    def failed(state: RetryCallState) -> None:
        # in full once; then a line a minute or so, not one per retry
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if state.attempt_number == 1:
            log.error(
                "could not store %d queue calls; retrying in %.0f s",
                len(visits),
                wait,
                exc_info=exc,
            )
        elif state.idle_for // 60 != (state.idle_for - wait) // 60:
            log.warning("%d queue calls still not stored (%s)", len(visits), type(exc).__name__)

    attempts = AsyncRetrying(
        wait=_RETRY_WAIT, retry=retry_if_exception_type(Exception), before_sleep=failed
    )
    await attempts(save, visits)
