"""Following queued calls from Asterisk's queue events: a pure state machine.

Events go in (already parsed, stamped with Asterisk's own clock in microseconds); facts come
out: a :class:`QueueVisit` for every call that left a queue for good. The tracker never trusts
the order events arrive in to be perfect: an event for a call it does not know, or one that
makes no sense in the call's state, is reported back as ``ignored`` (the adapter logs it) and
changes nothing.

Two answer times, named plainly because they are different things:

* ``ring_to_answer_ms`` — from the moment the queue started ringing the agent who answered
  (``AgentCalled``) until that agent answered (``AgentConnect``). The 95598 15-second rule
  (铃响15秒内接听) is about this.
* ``queue_wait_ms`` — from entering the queue (``QueueCallerJoin``) until an agent answered.
  Asterisk's own queue ``servicelevel`` counts this (in whole seconds); so does ASA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum


class VisitOutcome(StrEnum):
    WAITING = "waiting"  # in the queue now
    TALKING = "talking"  # answered, still connected
    ANSWERED = "answered"  # answered and finished (talk time known)
    ABANDONED = "abandoned"  # caller hung up while waiting
    TIMED_OUT = "timed_out"  # the queue gave up (Queue() timeout) without an answer
    LOST = "lost"  # ended while the bridge was not watching (resync found it gone)


class RingEnd(StrEnum):
    ANSWERED = "answered"  # this ring was answered
    NO_ANSWER = "no_answer"  # the agent's ring timed out or was refused (AgentRingNoAnswer)
    CALLER_LEFT = "caller_left"  # caller abandoned or the queue timed out during the ring
    OTHER_ANSWERED = "other_answered"  # another agent took the call first


@dataclass(frozen=True, slots=True)
class RingAttempt:
    interface: str
    member_name: str
    started_us: int
    ended_us: int | None = None
    end: RingEnd | None = None
    job_number: str | None = None  # the agent (工号) rung, as known at the ring; None: unknown

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_us is None else _ms(self.ended_us - self.started_us)


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """One caller's stay in one queue and what followed (ends when the caller leaves it)."""

    unique_id: str
    queue: str
    caller_number: str
    joined_us: int
    outcome: VisitOutcome = VisitOutcome.WAITING
    rings: tuple[RingAttempt, ...] = ()
    agent_interface: str | None = None
    agent_name: str | None = None
    agent_channel_uid: str | None = None
    answered_us: int | None = None
    ring_to_answer_ms: int | None = None
    queue_wait_ms: int | None = None
    left_us: int | None = None  # left the queue (answered, gave up or timed out)
    ended_us: int | None = None
    talk_ms: int | None = None
    transferred: bool = False
    note: str | None = None  # e.g. why a call was closed as LOST
    agent_job_number: str | None = None  # who answered (工号) at the time; None: unknown

    @property
    def unanswered_rings(self) -> tuple[RingAttempt, ...]:
        return tuple(r for r in self.rings if r.end is not RingEnd.ANSWERED)

    @property
    def finished(self) -> bool:
        return self.outcome not in (VisitOutcome.WAITING, VisitOutcome.TALKING)


# ---------------------------------------------------------------- events in


@dataclass(frozen=True, slots=True)
class CallerJoined:
    at_us: int
    unique_id: str
    queue: str
    caller_number: str = ""


@dataclass(frozen=True, slots=True)
class AgentRung:
    at_us: int
    unique_id: str
    interface: str
    member_name: str = ""


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    at_us: int
    unique_id: str
    interface: str


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    at_us: int
    unique_id: str
    interface: str
    member_name: str = ""
    agent_channel_uid: str = ""


@dataclass(frozen=True, slots=True)
class AgentCompleted:
    at_us: int
    unique_id: str
    reason: str = ""  # caller / agent / transfer


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    at_us: int
    unique_id: str


@dataclass(frozen=True, slots=True)
class HangupRequested:
    """The far end asked to hang up (``HangupRequest``: the caller put the phone down)."""

    at_us: int
    unique_id: str


@dataclass(frozen=True, slots=True)
class CallerLeft:
    at_us: int
    unique_id: str


@dataclass(frozen=True, slots=True)
class Transferred:
    at_us: int
    unique_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChannelHungUp:
    at_us: int
    unique_id: str


QueueEvent = (
    CallerJoined
    | AgentRung
    | AgentRingNoAnswer
    | AgentAnswered
    | AgentCompleted
    | CallerAbandoned
    | HangupRequested
    | CallerLeft
    | Transferred
    | ChannelHungUp
)


@dataclass(slots=True)
class Handled:
    """What one event did: visits that finished (to store), or why it was ignored."""

    finished: list[QueueVisit] = field(default_factory=list)
    changed: list[QueueVisit] = field(default_factory=list)
    ignored: str | None = None


# a ring that ended this close before the queue's own timeout was cut by that timeout
QUEUE_TIMEOUT_SLACK_US = 20_000


# (member interface, MemberName) -> the agent's job number at this instant, or None
Identify = Callable[[str, str], str | None]


def _nobody(interface: str, member_name: str) -> str | None:
    return None


def _ms(microseconds: int) -> int:
    return round(microseconds / 1000)


class QueueCallTracker:
    """Live queued calls by the caller channel's Uniqueid. ``identify`` names the agent
    behind a ring (an in-memory lookup: it runs on every ring and answer)."""

    def __init__(self, identify: Identify = _nobody) -> None:
        self._identify = identify
        self._live: dict[str, QueueVisit] = {}
        self._by_agent_channel: dict[str, str] = {}
        self._hangup_requested: set[str] = set()

    @property
    def live(self) -> list[QueueVisit]:
        return sorted(self._live.values(), key=lambda v: v.joined_us)

    def handle(self, event: QueueEvent) -> Handled:
        out = Handled()
        if isinstance(event, CallerJoined):
            self._join(event, out)
        elif isinstance(event, Transferred):
            self._transfer(event, out)
        elif isinstance(event, ChannelHungUp) and event.unique_id in self._by_agent_channel:
            pass  # the agent's leg ending tells nothing AgentComplete does not
        elif isinstance(event, HangupRequested):
            if event.unique_id in self._live:
                self._hangup_requested.add(event.unique_id)
        else:
            visit = self._live.get(event.unique_id)
            if visit is None:
                # most hangups are not queued calls; a Leave follows every abandon we closed
                if not isinstance(event, ChannelHungUp | CallerLeft):
                    out.ignored = f"{type(event).__name__} for a call not in a queue"
                return out
            self._step(visit, event, out)
        return out

    def adopt(self, visit: QueueVisit) -> None:
        """Take a call found by a resync (or restored from storage) as live."""
        self._live[visit.unique_id] = visit
        if visit.agent_channel_uid:
            self._by_agent_channel[visit.agent_channel_uid] = visit.unique_id

    def close_missing(self, present: set[str], at_us: int, note: str) -> list[QueueVisit]:
        """Close, as LOST, every live call whose caller channel is no longer in ``present``."""
        closed = []
        for uid in [u for u in self._live if u not in present]:
            visit = self._live[uid]
            done = replace(
                visit,
                outcome=VisitOutcome.LOST,
                ended_us=at_us,
                rings=_close_rings(visit.rings, at_us, RingEnd.CALLER_LEFT),
                note=note,
            )
            closed.append(self._finish(done))
        return closed

    # ------------------------------------------------------------ transitions

    def _join(self, event: CallerJoined, out: Handled) -> None:
        old = self._live.get(event.unique_id)
        if old is not None:
            # the same caller in a queue again (e.g. a queue timed out and the dialplan queued it
            # elsewhere): the earlier visit is over
            if old.outcome is VisitOutcome.WAITING:
                old = replace(old, outcome=VisitOutcome.TIMED_OUT, ended_us=event.at_us)
            elif old.outcome is VisitOutcome.TALKING:
                old = _end_talk(replace(old, transferred=True), event.at_us)
            out.finished.append(self._finish(old))
        visit = QueueVisit(event.unique_id, event.queue, event.caller_number, event.at_us)
        self._live[event.unique_id] = visit
        out.changed.append(visit)

    def _step(self, visit: QueueVisit, event: QueueEvent, out: Handled) -> None:
        new: QueueVisit | None = None
        waiting = visit.outcome is VisitOutcome.WAITING
        if isinstance(event, AgentRung) and waiting:
            job = self._identify(event.interface, event.member_name)
            ring = RingAttempt(event.interface, event.member_name, event.at_us, job_number=job)
            new = replace(visit, rings=(*_close_rings_of(visit.rings, event), ring))
        elif isinstance(event, AgentRingNoAnswer) and waiting:
            rings = _close_open(visit.rings, event.interface, event.at_us, RingEnd.NO_ANSWER)
            new = None if rings is None else replace(visit, rings=rings)
        elif isinstance(event, AgentAnswered) and waiting:
            new = self._answer(visit, event)
        elif isinstance(event, AgentCompleted) and visit.outcome is VisitOutcome.TALKING:
            done = _end_talk(visit, event.at_us)
            new = replace(done, transferred=done.transferred or event.reason == "transfer")
        elif isinstance(event, CallerAbandoned) and waiting:
            new = self._abandoned(visit, event.at_us)
        elif isinstance(event, CallerLeft):
            new = replace(visit, left_us=visit.left_us or event.at_us)
        elif isinstance(event, ChannelHungUp):
            new = self._hung_up(visit, event.at_us)
        if new is None:
            out.ignored = f"{type(event).__name__} while the call is {visit.outcome.value}"
            return
        if new.finished:
            out.finished.append(self._finish(new))
        else:
            self._live[visit.unique_id] = new
            out.changed.append(new)

    def _answer(self, visit: QueueVisit, event: AgentAnswered) -> QueueVisit:
        ring = next(
            (r for r in reversed(visit.rings) if r.interface == event.interface and not r.end),
            None,
        )
        rings = tuple(
            replace(r, ended_us=event.at_us, end=RingEnd.ANSWERED)
            if r is ring
            else (r if r.end else replace(r, ended_us=event.at_us, end=RingEnd.OTHER_ANSWERED))
            for r in visit.rings
        )
        if event.agent_channel_uid:
            self._by_agent_channel[event.agent_channel_uid] = visit.unique_id
        name = event.member_name or (ring.member_name if ring else None)
        # the ring's job number, so ring and answer agree; asked again if it had none
        job = ring.job_number if ring and ring.job_number else None
        return replace(
            visit,
            outcome=VisitOutcome.TALKING,
            rings=rings,
            agent_interface=event.interface,
            agent_name=name,
            agent_job_number=job or self._identify(event.interface, name or ""),
            agent_channel_uid=event.agent_channel_uid or None,
            answered_us=event.at_us,
            # without its AgentCalled (e.g. adopted by a resync) the ring time is unknown
            ring_to_answer_ms=_ms(event.at_us - ring.started_us) if ring else None,
            queue_wait_ms=_ms(event.at_us - visit.joined_us),
            left_us=visit.left_us or event.at_us,
        )

    def _abandoned(self, visit: QueueVisit, at_us: int) -> QueueVisit:
        """Asterisk sends QueueCallerAbandon both when the caller hangs up and when Queue()
        times out. A caller who hung up sent a HangupRequest first; otherwise the queue gave
        up, and the ring it cut at that instant is the queue's timeout, not the agent's."""
        if visit.unique_id in self._hangup_requested:
            outcome, rings = VisitOutcome.ABANDONED, visit.rings
        else:
            outcome = VisitOutcome.TIMED_OUT
            rings = tuple(
                replace(r, end=RingEnd.CALLER_LEFT)
                if r.end is RingEnd.NO_ANSWER
                and r.ended_us is not None
                and at_us - r.ended_us <= QUEUE_TIMEOUT_SLACK_US
                else r
                for r in visit.rings
            )
        return replace(
            visit,
            outcome=outcome,
            left_us=at_us,
            ended_us=at_us,
            rings=_close_rings(rings, at_us, RingEnd.CALLER_LEFT),
        )

    def _hung_up(self, visit: QueueVisit, at_us: int) -> QueueVisit:
        if visit.outcome is VisitOutcome.TALKING:
            return _end_talk(visit, at_us)
        rings = _close_rings(visit.rings, at_us, RingEnd.CALLER_LEFT)
        if visit.left_us is not None:  # left the queue unanswered, then hung up: timed out
            return replace(visit, outcome=VisitOutcome.TIMED_OUT, ended_us=at_us, rings=rings)
        # hung up while waiting, but no QueueCallerAbandon came (lost event): still an abandon
        return replace(
            visit, outcome=VisitOutcome.ABANDONED, left_us=at_us, ended_us=at_us, rings=rings
        )

    def _transfer(self, event: Transferred, out: Handled) -> None:
        for uid in event.unique_ids:
            uid = self._by_agent_channel.get(uid, uid)
            visit = self._live.get(uid)
            if visit is not None and visit.outcome is VisitOutcome.TALKING:
                self._live[uid] = replace(visit, transferred=True)
                out.changed.append(self._live[uid])
                return
        out.ignored = "transfer of a call not talking to a queue agent"

    def _finish(self, visit: QueueVisit) -> QueueVisit:
        self._live.pop(visit.unique_id, None)
        self._hangup_requested.discard(visit.unique_id)
        if visit.agent_channel_uid:
            self._by_agent_channel.pop(visit.agent_channel_uid, None)
        return visit


def _end_talk(visit: QueueVisit, at_us: int) -> QueueVisit:
    talk = _ms(at_us - visit.answered_us) if visit.answered_us is not None else None
    return replace(visit, outcome=VisitOutcome.ANSWERED, ended_us=at_us, talk_ms=talk)


def _close_rings(
    rings: tuple[RingAttempt, ...], at_us: int, end: RingEnd
) -> tuple[RingAttempt, ...]:
    return tuple(r if r.end else replace(r, ended_us=at_us, end=end) for r in rings)


def _close_rings_of(rings: tuple[RingAttempt, ...], event: AgentRung) -> tuple[RingAttempt, ...]:
    """A new ring of an agent still marked ringing: the old ring ended unanswered (lost event)."""
    return tuple(
        replace(r, ended_us=event.at_us, end=RingEnd.NO_ANSWER)
        if r.interface == event.interface and not r.end
        else r
        for r in rings
    )


def _close_open(
    rings: tuple[RingAttempt, ...], interface: str, at_us: int, end: RingEnd
) -> tuple[RingAttempt, ...] | None:
    if not any(r.interface == interface and not r.end for r in rings):
        return None
    return tuple(
        replace(r, ended_us=at_us, end=end) if r.interface == interface and not r.end else r
        for r in rings
    )
