"""The centre's figures over finished queue visits: pure functions (definitions:
docs/answer-times.md).

* offered           visits that entered the queue (answered + abandoned + timed out + lost)
* answered          visits an agent answered
* answered_in_15s   answered within 15 s of the call's **first ring** (the 95598 rule,
                    ``ivr.domain.ring_rule``); for an agent's row: of that agent's own ring
* service_level     answered_in_15s / (offered − short_abandoned): the standard's figure, the
                    one every view shows under this name (agent rows: None, see ring figures)
* answered_service_level   answered_in_15s / answered
* queue_wait_service_level answered with queue wait ≤ 15 s / answered: Asterisk's
                    ``servicelevel`` (``ServicelevelPerf`` counts the same, in whole seconds)
* asa_ms            average speed of answer: mean queue wait (entry → answer) of answered calls
* p90_answer_ms     90th percentile (nearest rank) of that queue wait
* avg/p90_ring_to_answer_ms   the same over ring-to-answer
* abandoned         caller hung up while waiting after at least ``grace_s``
* short_abandoned   caller hung up within ``grace_s`` (misdial, changed mind): counted apart,
                    and left out of the abandon rate's numerator and denominator
* abandon_rate      abandoned / (offered − short_abandoned)
* rings_*           every ring presented to an agent, by result (``ring_rule.RingResult``),
                    how many count against the agent, and ring_service_level
* avg_talk_ms       mean talk time (answer → end of the conversation) of answered calls
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

from ivr.domain.queue_calls import QueueVisit, RingAttempt, VisitOutcome
from ivr.domain.ring_rule import RULE_MS, answered_within_rule, ring_figures

SERVICE_LEVEL_MS = RULE_MS
DEFAULT_SHORT_ABANDON_S = 5.0


@dataclass(frozen=True, slots=True)
class Figures:
    offered: int = 0
    answered: int = 0
    answered_in_15s: int = 0
    service_level: float | None = None
    answered_service_level: float | None = None
    queue_answered_in_15s: int = 0
    queue_wait_service_level: float | None = None
    asa_ms: int | None = None
    p90_answer_ms: int | None = None
    avg_ring_to_answer_ms: int | None = None
    p90_ring_to_answer_ms: int | None = None
    abandoned: int = 0
    short_abandoned: int = 0
    abandon_rate: float | None = None
    timed_out: int = 0
    lost: int = 0
    rings: int = 0
    rings_answered_in_15s: int = 0
    rings_answered_late: int = 0
    rings_missed: int = 0
    rings_gave_up: int = 0
    rings_taken_by_other: int = 0
    rings_against_agent: int = 0
    ring_service_level: float | None = None
    avg_talk_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Iterable[int], share: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least ``share`` of values ≤ it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _mean(values: list[int]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(
    visits: Iterable[QueueVisit],
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
    rings: Iterable[RingAttempt] | None = None,
) -> Figures:
    """Figures over ``visits`` (finished ones; live ones are skipped); ``rings``: the rings to
    count instead of every ring of those visits (an agent's own)."""
    done = [v for v in visits if v.finished]
    answered = [v for v in done if v.outcome is VisitOutcome.ANSWERED]
    waits = [v.queue_wait_ms for v in answered if v.queue_wait_ms is not None]
    ring_times = [v.ring_to_answer_ms for v in answered if v.ring_to_answer_ms is not None]
    abandoned = [v for v in done if v.outcome is VisitOutcome.ABANDONED]
    short = [v for v in abandoned if _wait_ms(v) < short_abandon_s * 1000]
    in_15 = sum(answered_within_rule(v) for v in answered)
    queue_in_15 = [w for w in waits if w <= SERVICE_LEVEL_MS]
    talks = [v.talk_ms for v in answered if v.talk_ms is not None]
    ring_list = list(rings) if rings is not None else [r for v in done for r in v.rings]
    by_ring = ring_figures(ring_list)
    offered = len(done)
    return Figures(
        offered=offered,
        answered=len(answered),
        answered_in_15s=in_15,
        service_level=_ratio(in_15, offered - len(short)),
        answered_service_level=_ratio(in_15, len(answered)),
        queue_answered_in_15s=len(queue_in_15),
        queue_wait_service_level=_ratio(len(queue_in_15), len(answered)),
        asa_ms=_mean(waits),
        p90_answer_ms=percentile(waits, 0.9),
        avg_ring_to_answer_ms=_mean(ring_times),
        p90_ring_to_answer_ms=percentile(ring_times, 0.9),
        abandoned=len(abandoned) - len(short),
        short_abandoned=len(short),
        abandon_rate=_ratio(len(abandoned) - len(short), offered - len(short)),
        timed_out=sum(v.outcome is VisitOutcome.TIMED_OUT for v in done),
        lost=sum(v.outcome is VisitOutcome.LOST for v in done),
        rings=by_ring.rings,
        rings_answered_in_15s=by_ring.answered_in_15s,
        rings_answered_late=by_ring.answered_late,
        rings_missed=by_ring.missed,
        rings_gave_up=by_ring.gave_up,
        rings_taken_by_other=by_ring.taken_by_other,
        rings_against_agent=by_ring.against_agent,
        ring_service_level=by_ring.ring_service_level,
        avg_talk_ms=_mean(talks),
    )


def _wait_ms(visit: QueueVisit) -> int:
    end = visit.left_us if visit.left_us is not None else visit.ended_us
    return round(((end or visit.joined_us) - visit.joined_us) / 1000)


def figures_by_queue(
    visits: Iterable[QueueVisit], short_abandon_s: float = DEFAULT_SHORT_ABANDON_S
) -> dict[str, Figures]:
    groups: dict[str, list[QueueVisit]] = defaultdict(list)
    for visit in visits:
        groups[visit.queue].append(visit)
    return {q: figures(vs, short_abandon_s) for q, vs in sorted(groups.items())}


K = TypeVar("K", bound=Hashable)


def _by_interface(interface: str, job_number: str | None) -> str:
    return interface


def figures_by_agent(
    visits: Iterable[QueueVisit],
    short_abandon_s: float = DEFAULT_SHORT_ABANDON_S,
    agent_of: Callable[[str, str | None], K] = _by_interface,  # type: ignore[assignment]
) -> dict[K, Figures]:
    """Per agent: the calls that agent answered, and every ring that agent got.

    An agent is ``agent_of(interface, job number stored with the ring or answer)``: the member
    interface by default, the 工号 at the time for the dashboard and monthly reports.
    ``offered`` for an agent is the calls the agent was rung for, ``answered_in_15s`` the
    calls the agent answered within 15 s of their own ring, the ``rings_*`` figures every ring
    the agent got (``ivr.domain.ring_rule``); abandon figures and the centre's service level
    are the queue's business and stay zero / None here.
    """
    visits = [v for v in visits if v.finished]
    rung: dict[K, list[QueueVisit]] = defaultdict(list)
    rings: dict[K, list[Any]] = defaultdict(list)
    answerer: dict[int, K] = {}  # id(visit) -> who answered it
    for visit in visits:
        who = {agent_of(r.interface, r.job_number) for r in visit.rings if r.interface}
        if visit.agent_interface:
            answerer[id(visit)] = agent_of(visit.agent_interface, visit.agent_job_number)
            who.add(answerer[id(visit)])
        for agent in who:
            rung[agent].append(visit)
        for ring in visit.rings:
            rings[agent_of(ring.interface, ring.job_number)].append(ring)
    result = {}
    for agent, its_visits in sorted(rung.items()):  # type: ignore[type-var]
        mine = [v for v in its_visits if answerer.get(id(v)) == agent]
        base = figures(mine, short_abandon_s, rings=rings[agent])
        own_in_15 = base.rings_answered_in_15s  # the agent's own ring, not the call's first
        result[agent] = replace(
            base,
            offered=len(its_visits),
            answered_in_15s=own_in_15,
            service_level=None,  # the centre's and the queues' figure: see ring_service_level
            answered_service_level=_ratio(own_in_15, base.answered),
            abandoned=0,
            short_abandoned=0,
            abandon_rate=None,
            timed_out=0,
            lost=0,
        )
    return result
