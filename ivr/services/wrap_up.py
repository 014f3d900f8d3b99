"""After-call work (话后处理): when an agent's queue call ends, the bridge pauses them in every
queue with reason ``AFTER_CALL_WORK_REASON`` for ``wrapup_s`` seconds, so Asterisk does not ring
them while they finish the call's notes, and then unpauses them; an agent who is done sooner
says so (``ready``).

The pause is sent when the tracker sees the call end (``AgentComplete``): the queues'
own ``wrapuptime`` (a few seconds, ``queues.conf``) covers the moment between. The start is
Asterisk's instant of the call's end and the end is that plus ``wrapup_s``, so a second bridge
watching the same Asterisk stores the very same two changes (and the store keeps one of each).
A member found paused for after-call work that no timer here owns (the bridge restarted, or
another bridge started it) is adopted by a sweep and released when its time is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ivr.domain.agent_state import AgentState, StateChange
from ivr.domain.agents import AFTER_CALL_WORK_REASON, Membership
from ivr.domain.queue_calls import QueueVisit, VisitOutcome
from ivr.services.agent_control import AgentControl
from ivr.services.call_tracking import CallTracking

log = logging.getLogger(__name__)

BRIDGE = "bridge"  # the actor of the changes made here
SWEEP_S = 5.0  # how often members paused for after-call work are checked for an owner


@dataclass(slots=True)
class _Wrap:
    interface: str
    ends_at: datetime
    task: asyncio.Task[None] | None = None


class WrapUp:
    def __init__(self, control: AgentControl, tracking: CallTracking, wrapup_s: float) -> None:
        self._control = control
        self._tracking = tracking
        self.wrapup = timedelta(seconds=wrapup_s)
        self._active: dict[str, _Wrap] = {}  # by 工号
        self._sweeper: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        control.listeners.append(self._changed)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="wrap-up")

    async def stop(self) -> None:
        tasks = [w.task for w in self._active.values() if w.task is not None]
        for task in [self._sweeper, *tasks, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._active.clear()

    # ------------------------------------------------------------------ reading

    def ends_at(self, job_number: str) -> datetime | None:
        """When this agent's after-call work ends, if this bridge is timing it."""
        wrap = self._active.get(job_number)
        return None if wrap is None else wrap.ends_at

    # ------------------------------------------------------------------ events

    def calls_ended(self, visits: Sequence[QueueVisit]) -> None:
        """Told of every finished queue visit (inside event handling: returns at once)."""
        if self.wrapup <= timedelta(0):
            return
        for visit in visits:
            job = visit.agent_job_number
            if visit.outcome is not VisitOutcome.ANSWERED or not job or not visit.agent_interface:
                continue
            if visit.note:  # closed by a resync: the call ended while nobody was watching
                continue
            ended = datetime.fromtimestamp((visit.ended_us or 0) / 1e6, UTC)
            task = asyncio.get_running_loop().create_task(
                self._begin(job, visit.agent_interface, ended), name=f"wrap-up-{job}"
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def ready(self, job_number: str, interface: str, actor: str) -> bool:
        """End after-call work now (the agent says they are ready); False if they are not in
        it. Asterisk unpauses them first; then the change is stored."""
        wrap = self._active.pop(job_number, None)
        if wrap is None and not self._in_wrap_up(interface):
            return False
        if wrap is not None and wrap.task is not None:
            wrap.task.cancel()
        queues = self._control.queues
        if queues is None:
            return False
        await queues.queue_pause(None, interface, False, "")
        await self._control.record(job_number, AgentState.READY, "", actor)
        return True

    def _changed(self, change: StateChange) -> None:
        """Any change but the bridge's own (a pause with a reason, a logout, an unpause by a
        supervisor) ends the after-call work timing: nothing to unpause later."""
        if change.actor == BRIDGE:
            return
        wrap = self._active.pop(change.job_number, None)
        if wrap is not None and wrap.task is not None:
            wrap.task.cancel()

    # ------------------------------------------------------------------ internals

    def _members(self, interface: str) -> list[Membership]:
        return self._tracking.board.by_interface().get(interface, [])

    def _in_wrap_up(self, interface: str) -> bool:
        return any(
            m.paused and m.pause_reason == AFTER_CALL_WORK_REASON for m in self._members(interface)
        )

    async def _begin(self, job: str, interface: str, ended: datetime) -> None:
        members = self._members(interface)
        if not members:
            return  # logged out meanwhile: nothing to keep from ringing
        if any(m.paused and m.pause_reason != AFTER_CALL_WORK_REASON for m in members):
            return  # paused for a reason of their own: that pause stands
        queues = self._control.queues
        if queues is None:
            return
        old = self._active.pop(job, None)
        if old is not None and old.task is not None:
            old.task.cancel()  # a second call ended (e.g. a transfer back): time from this one
        wrap = _Wrap(interface, ended + self.wrapup)
        self._active[job] = wrap
        try:
            await queues.queue_pause(None, interface, True, AFTER_CALL_WORK_REASON)
        except Exception as exc:
            self._active.pop(job, None)
            log.warning("after-call work for agent %s: Asterisk refused the pause (%s)", job, exc)
            return
        change = StateChange(job, AgentState.AFTER_CALL_WORK, ended, AFTER_CALL_WORK_REASON, BRIDGE)
        await self._control.record_change(change)
        if self._active.get(job) is wrap:
            wrap.task = asyncio.get_running_loop().create_task(
                self._end(job, wrap), name=f"wrap-up-end-{job}"
            )
        log.info("agent %s: after-call work until %s", job, wrap.ends_at.isoformat())

    async def _end(self, job: str, wrap: _Wrap) -> None:
        delay = (wrap.ends_at - datetime.now(UTC)).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        if self._active.get(job) is not wrap:
            return
        queues = self._control.queues
        try:
            if queues is None:
                raise RuntimeError("no AMI")
            # only if still paused for after-call work (not since paused with a reason)
            if self._in_wrap_up(wrap.interface):
                await queues.queue_pause(None, wrap.interface, False, "")
        except Exception as exc:
            log.warning("agent %s: could not end after-call work (%s); retried", job, exc)
            wrap.task = None  # the sweep adopts it again
            self._active.pop(job, None)
            return
        self._active.pop(job, None)
        ready = StateChange(job, AgentState.READY, wrap.ends_at, "", BRIDGE)
        await self._control.record_change(ready)
        log.info("agent %s: after-call work over", job)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self._adopt_orphans()
            except Exception:
                log.exception("after-call work sweep failed")

    async def _adopt_orphans(self) -> None:
        """Members paused for after-call work that no timer here owns get one, ending at the
        stored start plus ``wrapup_s`` (now, if nothing was stored)."""
        for interface, members in self._tracking.board.by_interface().items():
            if not self._in_wrap_up(interface):
                continue
            job = self._tracking.roster.job_number_for(interface, members[0].name)
            if job is None or job in self._active:
                continue
            latest = None
            if self._control.states is not None:
                latest = await self._control.states.latest(job)
            if latest is not None and latest.state is AgentState.AFTER_CALL_WORK:
                ends = latest.at + self.wrapup
            else:
                ends = datetime.now(UTC)
            wrap = _Wrap(interface, ends)
            self._active[job] = wrap
            wrap.task = asyncio.get_running_loop().create_task(
                self._end(job, wrap), name=f"wrap-up-end-{job}"
            )
            log.info("agent %s: adopted after-call work ending %s", job, ends.isoformat())
