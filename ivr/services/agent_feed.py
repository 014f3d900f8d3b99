"""The agents' live feed: what each agent's workspace is pushed, from the AMI call tracker.

The tracker tells the feed of every queue event (a listener: quick, never waits). The feed
keeps, per agent (工号), the call card of the call ringing or talking at their phone, and sends
each connected page of that agent only that agent's events:

* ``ringing`` at once on ``AgentCalled`` (number, queue, wait, ring start for the 15 s timer),
* ``pop`` when the call's menu record and the caller's orders are read (a task per ring),
* ``answered`` (the order form's prefill), ``ended`` (answered elsewhere, not answered, hung
  up, finished), and ``queues``: the callers waiting in the agent's queues, numbers masked.

The caller's number is in full only on the card of an agent being rung for (or talking on)
that call; everything else the feed sends is masked. A page that cannot keep up (its queue of
unsent messages full) is dropped and reconnects: its ``hello`` carries a fresh snapshot.
Schemas: ``ivr/services/workspace_events.yml`` (docs/workspace.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ivr.domain import scripts
from ivr.domain.live_picture import CentrePicture
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import (
    AgentAnswered,
    AgentRingNoAnswer,
    AgentRung,
    QueueEvent,
    QueueVisit,
    RingEnd,
    VisitOutcome,
)
from ivr.domain.workspace import (
    HISTORY_WINDOW,
    RING_LIMIT_S,
    history_order,
    is_repeat_caller,
    kind_for_choice,
)
from ivr.ports import AgentDirectory, WorkspaceLookup
from ivr.services.call_tracking import CallTracking

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # unsent messages per page before it is dropped (it reconnects and resyncs)
RECORD_TRIES = (0.0, 0.2, 0.4, 0.8)  # the menu's record may be a moment behind the ring


class TooManyConnections(Exception):
    """The agent (or the bridge) has as many workspace connections as allowed."""


@dataclass(eq=False)
class Subscriber:
    """One connected page of one agent."""

    job_number: str
    messages: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE)
    )
    overflowed: bool = False

    def put(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.messages.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True  # the handler closes; the page reconnects and resyncs
            self.messages = asyncio.Queue(1)
            self.messages.put_nowait({"type": "overflow"})


class AgentFeed:
    def __init__(
        self,
        tracking: CallTracking,
        lookup: WorkspaceLookup,
        agents: AgentDirectory,
        clock: Callable[[], datetime],
        max_per_agent: int = 3,
        max_total: int = 1000,
    ) -> None:
        self.tracking = tracking
        self.lookup = lookup
        self.agents = agents
        self.clock = clock
        self.max_per_agent = max_per_agent
        self.max_total = max_total
        self._subs: dict[str, set[Subscriber]] = {}
        self._cards: dict[str, dict[str, Any]] = {}  # 工号 → the call at their phone
        self._queues_of: dict[str, tuple[str, tuple[str, ...]]] = {}  # 工号 → interface, skills
        self._sent_queues: dict[str, list[dict[str, Any]]] = {}
        self._queues_due = False
        self._tasks: set[asyncio.Task[None]] = set()
        # the whole centre's picture (several bridges on PostgreSQL); None: this bridge's own
        self.centre: Callable[[], CentrePicture] | None = None
        tracking.listeners.append(self.on_tracker)

    # ---------------------------------------------------------------- connections

    @property
    def connected(self) -> int:
        return sum(len(s) for s in self._subs.values())

    async def subscribe(self, job_number: str) -> Subscriber:
        """A page of this agent; raises :class:`TooManyConnections`."""
        if self.connected >= self.max_total:
            raise TooManyConnections("the bridge has as many workspace connections as allowed")
        subs = self._subs.setdefault(job_number, set())
        if len(subs) >= self.max_per_agent:
            raise TooManyConnections(f"at most {self.max_per_agent} workspace pages per agent")
        sub = Subscriber(job_number)
        subs.add(sub)
        if job_number not in self._queues_of:
            agent = await self.agents.get(job_number)
            self._queues_of[job_number] = (
                (agent.interface, agent.skills) if agent is not None else ("", ())
            )
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.job_number)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.job_number]
                self._sent_queues.pop(sub.job_number, None)

    def agent_changed(self, job_number: str) -> None:
        """The agent's record changed (interface, skills): read again at the next page."""
        self._queues_of.pop(job_number, None)

    def snapshot(self, job_number: str) -> dict[str, Any]:
        """Everything a page needs after (re)connecting: its call card and its queues."""
        return {
            "type": "hello",
            "job_number": job_number,
            "call": self._cards.get(job_number),
            "queues": self._queue_summary(job_number),
            "server_time_ms": _now_ms(),
        }

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---------------------------------------------------------------- tracker events

    def on_tracker(self, event: QueueEvent | None, visits: Sequence[QueueVisit]) -> None:
        by_uid = {v.unique_id: v for v in visits}
        if isinstance(event, AgentRung):
            visit = by_uid.get(event.unique_id)
            job = self._job(event.interface, event.member_name)
            if visit is not None and job is not None:
                self._ringing(job, visit, event)
        elif isinstance(event, AgentAnswered):
            job = self._job(event.interface, event.member_name)
            visit = by_uid.get(event.unique_id)
            if job is not None and visit is not None:
                self._answered(job, visit, event)
        elif isinstance(event, AgentRingNoAnswer):
            job = self._job(event.interface, "")
            if job is not None:
                self._end(job, event.unique_id, "no_answer")
        for visit in visits:
            self._settle(visit)
        if event is None or visits:
            self._queues_changed()

    def _job(self, interface: str, member_name: str) -> str | None:
        return self.tracking.roster.job_number_for(interface, member_name)

    def _ringing(self, job: str, visit: QueueVisit, event: AgentRung) -> None:
        card: dict[str, Any] = {
            "unique_id": visit.unique_id,
            "state": "ringing",
            "queue": visit.queue,
            "caller": visit.caller_number,  # in full: this agent is being rung for this call
            "interface": event.interface,
            "ring_started_ms": event.at_us // 1000,
            "ring_limit_s": RING_LIMIT_S,
            "joined_ms": visit.joined_us // 1000,
            "waited_s": round((event.at_us - visit.joined_us) / 1e6, 1),
            "answered_ms": None,
            "pop": None,  # filled by the lookup: call_id, menu, history, repeat, form
        }
        self._cards[job] = card
        self._publish(job, {"type": "ringing", "call": card})
        task = asyncio.get_running_loop().create_task(self._pop(job, visit.unique_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answered(self, job: str, visit: QueueVisit, event: AgentAnswered) -> None:
        card = self._cards.get(job)
        if card is None or card["unique_id"] != visit.unique_id:
            # answered without the ring seen (e.g. the page's bridge restarted mid-ring)
            card = {
                "unique_id": visit.unique_id,
                "queue": visit.queue,
                "caller": visit.caller_number,
                "interface": event.interface,
                "ring_started_ms": None,
                "ring_limit_s": RING_LIMIT_S,
                "joined_ms": visit.joined_us // 1000,
                "waited_s": None,
                "pop": None,
            }
            self._cards[job] = card
            task = asyncio.get_running_loop().create_task(self._pop(job, visit.unique_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        card["state"] = "talking"
        card["answered_ms"] = event.at_us // 1000
        card["ring_to_answer_ms"] = visit.ring_to_answer_ms
        self._publish(job, {"type": "answered", "call": card})

    def _settle(self, visit: QueueVisit) -> None:
        """End the cards this visit no longer belongs on (answered elsewhere, caller gone…)."""
        for job, card in list(self._cards.items()):
            if card["unique_id"] != visit.unique_id:
                continue
            if visit.finished:
                reason = "finished" if visit.outcome is VisitOutcome.ANSWERED else visit.outcome
                self._end(job, visit.unique_id, str(reason))
            elif card["state"] == "ringing":
                ring = next(
                    (r for r in reversed(visit.rings) if r.interface == card["interface"]), None
                )
                if ring is not None and ring.end not in (None, RingEnd.ANSWERED):
                    self._end(job, visit.unique_id, str(ring.end))
            elif card["state"] == "talking" and visit.agent_interface != card["interface"]:
                self._end(job, visit.unique_id, "transferred")

    def _end(self, job: str, unique_id: str, reason: str) -> None:
        card = self._cards.get(job)
        if card is None or card["unique_id"] != unique_id:
            return
        del self._cards[job]
        self._publish(job, {"type": "ended", "unique_id": unique_id, "reason": reason})

    async def _pop(self, job: str, unique_id: str) -> None:
        """Read the call's menu record and the caller's orders; send them as ``pop``."""
        try:
            context = None
            for wait in RECORD_TRIES:
                await asyncio.sleep(wait)
                context = await self.lookup.call_context(unique_id)
                if context is not None and context.choice is not None:
                    break
            card = self._cards.get(job)
            if card is None or card["unique_id"] != unique_id:
                return  # the ring is over already
            digits = re.sub(r"\D", "", card["caller"])
            now = self.clock()
            orders = await self.lookup.caller_orders(digits, now - HISTORY_WINDOW) if digits else []
            kind = kind_for_choice(context.choice if context else None)
            pop = {
                "call_id": context.call_id if context else None,
                "choice": context.choice if context else None,
                "menu_path": list(context.menu_path) if context else [],
                "spoken": list(context.spoken) if context else [],
                "history": [
                    {
                        "order_no": o.order_no,
                        "kind": o.kind,
                        "status": o.status,
                        "open": o.open,
                        "created_at": o.created_at.isoformat(),
                        "next_due_at": o.next_due_at.isoformat() if o.next_due_at else None,
                        "summary": o.summary,
                    }
                    for o in history_order(orders)
                ],
                "repeat_caller": is_repeat_caller(orders, now),
                "form": {
                    "kind": kind.value if kind else None,
                    "phone": digits,
                    "call_id": context.call_id if context else None,
                    "reminders": list(scripts.reminders(kind.value)) if kind else [],
                },
            }
        except Exception:
            log.exception("could not read the screen pop of a call for agent %s", job)
            return
        card = self._cards.get(job)
        if card is None or card["unique_id"] != unique_id:
            return
        card["pop"] = pop
        self._publish(job, {"type": "pop", "call": card})

    # ---------------------------------------------------------------- queues

    def _queues_changed(self) -> None:
        if self._queues_due or not self._subs:
            return
        self._queues_due = True  # coalesced: one push per loop turn, however many events
        asyncio.get_running_loop().call_soon(self._push_queues)

    def _push_queues(self) -> None:
        self._queues_due = False
        centre = self.centre() if self.centre is not None else None  # once for every page
        for job in list(self._subs):
            summary = self._queue_summary(job, centre)
            if self._sent_queues.get(job) != summary:
                self._sent_queues[job] = summary
                self._publish(job, {"type": "queues", "queues": summary})

    def others_changed(self) -> None:
        """Another bridge's picture changed (callers waiting, this agent logged in or paused
        on another server): the pages get their queues again if theirs changed."""
        self._queues_changed()

    def _queue_summary(self, job: str, centre: CentrePicture | None = None) -> list[dict[str, Any]]:
        if centre is None and self.centre is not None:
            centre = self.centre()
        if centre is not None:
            return self._centre_queue_summary(job, centre)
        interface, skills = self._queues_of.get(job, ("", ()))
        mine = {m.queue: m for m in self.tracking.board.by_interface().get(interface, [])}
        names = sorted(set(mine) or set(skills))
        waiting = self.tracking.waiting()
        return [
            {
                "queue": name,
                "logged_in": name in mine,
                "paused": name in mine and mine[name].paused,  # pushed when it changes
                "callers": [
                    {"caller": mask_number(v.caller_number), "joined_ms": v.joined_us // 1000}
                    for v in waiting
                    if v.queue == name
                ],
            }
            for name in names
        ]

    def _centre_queue_summary(self, job: str, centre: CentrePicture) -> list[dict[str, Any]]:
        """The same summary from the whole centre: the agent's queues wherever they are
        logged in, the callers waiting in them on every server (numbers masked already)."""
        _, skills = self._queues_of.get(job, ("", ()))
        agent = centre.agent(job)
        mine = set(agent.queues) if agent is not None else set()
        paused = set(agent.paused_in) if agent is not None else set()
        waiting = centre.waiting()
        return [
            {
                "queue": name,
                "logged_in": name in mine,
                "paused": name in paused,
                "callers": [
                    {"caller": c.caller, "joined_ms": c.joined_ms}
                    for c in waiting
                    if c.queue == name
                ],
            }
            for name in sorted(mine or set(skills))
        ]

    # ---------------------------------------------------------------- sending

    def _publish(self, job: str, message: dict[str, Any]) -> None:
        subs = self._subs.get(job)
        if not subs:
            return
        message = {**message, "server_time_ms": _now_ms()}
        if isinstance(message.get("call"), dict):  # as it is now, not as it will be when sent
            message["call"] = dict(message["call"])
        for sub in subs:
            sub.put(message)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
