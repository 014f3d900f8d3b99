"""The 15-second rule (铃响15秒内接听) counted per ring: pure functions.

Every ring the queue presented to an agent (``AgentCalled`` … its end, on Asterisk's clock) is
one of five things, and the rule says which count against the agent (docs/answer-times.md,
"The 15-second rule, ring by ring"):

==================  ==========================================================  ==============
result              what happened                                               against agent
==================  ==========================================================  ==============
answered_in_15s     this agent answered within 15 000 ms of this ring           no
answered_late       this agent answered, after more than 15 000 ms              yes
missed              the ring ended unanswered: rang out (the member's ring      yes
                    timeout) or refused (``AgentRingNoAnswer``)
gave_up             the caller hung up, or the queue gave up, while it rang     only if the ring
                                                                                had already lasted
                                                                                over 15 000 ms
taken_by_other      another agent answered the call first                       the same
==================  ==========================================================  ==============

A ring the caller cut at 8 s is not the agent's fault (they still had 7 s); one that rang 20 s
before the caller gave up is — the agent had had their 15 s. A ring still ringing is in no
figure. The rule's 15 s is inclusive: 15.000 s is within, 15.001 s is not.

For a **call** the clock starts at its first ring, whoever was rung: a call that rang one agent
10 s unanswered and was answered by the next after 6 s was answered 16 s after it first rang,
and is not answered within 15 s even though the second agent was quick.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, TypeVar

from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome

RULE_MS = 15_000  # the standard's 15 seconds, in ms (inclusive)


class RingResult(StrEnum):
    ANSWERED_IN_15S = "answered_in_15s"
    ANSWERED_LATE = "answered_late"
    MISSED = "missed"
    GAVE_UP = "gave_up"
    TAKEN_BY_OTHER = "taken_by_other"


RING_RESULTS: tuple[RingResult, ...] = tuple(RingResult)


def classify(ring: RingAttempt) -> RingResult | None:
    """What one ring was; None while it still rings (or its end time is unknown)."""
    duration = ring.duration_ms
    if ring.end is None or duration is None:
        return None
    if ring.end is RingEnd.ANSWERED:
        return RingResult.ANSWERED_IN_15S if duration <= RULE_MS else RingResult.ANSWERED_LATE
    if ring.end is RingEnd.NO_ANSWER:
        return RingResult.MISSED
    if ring.end is RingEnd.OTHER_ANSWERED:
        return RingResult.TAKEN_BY_OTHER
    return RingResult.GAVE_UP


def against_agent(ring: RingAttempt) -> bool:
    """Whether this ring counts against the agent it rang (see the table above)."""
    result = classify(ring)
    if result in (RingResult.ANSWERED_LATE, RingResult.MISSED):
        return True
    if result in (RingResult.GAVE_UP, RingResult.TAKEN_BY_OTHER):
        return (ring.duration_ms or 0) > RULE_MS
    return False


def first_ring_to_answer_ms(visit: QueueVisit) -> int | None:
    """From the call's first ring (any agent) to its answer; None if unanswered or the first
    ring is unknown (a call adopted by a resync whose rings were not seen)."""
    if visit.answered_us is None or not visit.rings:
        return None
    first = min(r.started_us for r in visit.rings)
    return round((visit.answered_us - first) / 1000)


def answered_within_rule(visit: QueueVisit) -> bool:
    """The call was answered within 15 s of its first ring (the centre's 15-second rule)."""
    if visit.outcome not in (VisitOutcome.ANSWERED, VisitOutcome.TALKING):
        return False
    waited = first_ring_to_answer_ms(visit)
    return waited is not None and waited <= RULE_MS


@dataclass(frozen=True, slots=True)
class RingFigures:
    """Rings presented to agents, by result. ``ring_service_level`` is answered within 15 s
    over the rings the agent had their full chance at: every ring except those the caller
    or another agent ended before 15 s."""

    rings: int = 0
    answered_in_15s: int = 0
    answered_late: int = 0
    missed: int = 0
    gave_up: int = 0
    taken_by_other: int = 0
    against_agent: int = 0
    ring_service_level: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ring_figures(rings: Iterable[RingAttempt]) -> RingFigures:
    counts = dict.fromkeys(RingResult, 0)
    against = 0
    for ring in rings:
        result = classify(ring)
        if result is None:
            continue
        counts[result] += 1
        against += against_agent(ring)
    total = sum(counts.values())
    counted = counts[RingResult.ANSWERED_IN_15S] + against
    return RingFigures(
        rings=total,
        answered_in_15s=counts[RingResult.ANSWERED_IN_15S],
        answered_late=counts[RingResult.ANSWERED_LATE],
        missed=counts[RingResult.MISSED],
        gave_up=counts[RingResult.GAVE_UP],
        taken_by_other=counts[RingResult.TAKEN_BY_OTHER],
        against_agent=against,
        ring_service_level=counts[RingResult.ANSWERED_IN_15S] / counted if counted else None,
    )


K = TypeVar("K", bound=Hashable)


def rings_by_agent(
    visits: Iterable[QueueVisit], agent_of: Callable[[str, str | None], K]
) -> dict[K, list[RingAttempt]]:
    """Every ring of ``visits``, by ``agent_of(interface, job number stored with the ring)``."""
    out: dict[K, list[RingAttempt]] = defaultdict(list)
    for visit in visits:
        for ring in visit.rings:
            out[agent_of(ring.interface, ring.job_number)].append(ring)
    return dict(out)
