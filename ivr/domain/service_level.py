"""The centre's figures over finished queue visits: pure functions (definitions:
docs/answer-times.md).

* offered           visits that entered the queue (answered + abandoned + timed out + lost)
* answered          visits an agent answered
* answered_in_15s   answered with ring-to-answer ≤ 15 s (the 95598 rule, ring of the answering
                    agent until that agent answered)
* service_level     answered_in_15s / answered
* queue_sl          answered with queue wait ≤ 15 s / answered: Asterisk's ``servicelevel``
                    (``ServicelevelPerf`` counts the same, in whole seconds)
* asa_ms            average speed of answer: mean queue wait (entry → answer) of answered calls
* p90_answer_ms     90th percentile (nearest rank) of that queue wait
* avg/p90_ring_to_answer_ms   the same over ring-to-answer
* abandoned         caller hung up while waiting after at least ``grace_s``
* short_abandoned   caller hung up within ``grace_s`` (misdial, changed mind): counted apart,
                    and left out of the abandon rate's numerator and denominator
* abandon_rate      abandoned / (offered − short_abandoned)
* rings_not_answered  ring attempts that ended because the agent did not answer (ring timeout,
                    refused): not those cut short by the caller leaving or another agent answering
* avg_talk_ms       mean talk time (answer → end of the conversation) of answered calls
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from ivr.domain.queue_calls import QueueVisit, RingEnd, VisitOutcome

SERVICE_LEVEL_MS = 15_000
DEFAULT_SHORT_ABANDON_S = 5.0


@dataclass(frozen=True, slots=True)
class Figures:
    offered: int = 0
    answered: int = 0
    answered_in_15s: int = 0
    service_level: float | None = None
    queue_answered_in_15s: int = 0
    queue_sl: float | None = None
    asa_ms: int | None = None
    p90_answer_ms: int | None = None
    avg_ring_to_answer_ms: int | None = None
    p90_ring_to_answer_ms: int | None = None
    abandoned: int = 0
    short_abandoned: int = 0
    abandon_rate: float | None = None
    timed_out: int = 0
    lost: int = 0
    rings_not_answered: int = 0
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
    rings: Iterable[Any] | None = None,
) -> Figures:
    """Figures over ``visits`` (finished ones; live ones are skipped)."""
    done = [v for v in visits if v.finished]
    answered = [v for v in done if v.outcome is VisitOutcome.ANSWERED]
    waits = [v.queue_wait_ms for v in answered if v.queue_wait_ms is not None]
    ring_times = [v.ring_to_answer_ms for v in answered if v.ring_to_answer_ms is not None]
    abandoned = [v for v in done if v.outcome is VisitOutcome.ABANDONED]
    short = [v for v in abandoned if _wait_ms(v) < short_abandon_s * 1000]
    in_15 = [t for t in ring_times if t <= SERVICE_LEVEL_MS]
    queue_in_15 = [w for w in waits if w <= SERVICE_LEVEL_MS]
    talks = [v.talk_ms for v in answered if v.talk_ms is not None]
    ring_list = list(rings) if rings is not None else [r for v in done for r in v.rings]
    offered = len(done)
    return Figures(
        offered=offered,
        answered=len(answered),
        answered_in_15s=len(in_15),
        service_level=_ratio(len(in_15), len(answered)),
        queue_answered_in_15s=len(queue_in_15),
        queue_sl=_ratio(len(queue_in_15), len(answered)),
        asa_ms=_mean(waits),
        p90_answer_ms=percentile(waits, 0.9),
        avg_ring_to_answer_ms=_mean(ring_times),
        p90_ring_to_answer_ms=percentile(ring_times, 0.9),
        abandoned=len(abandoned) - len(short),
        short_abandoned=len(short),
        abandon_rate=_ratio(len(abandoned) - len(short), offered - len(short)),
        timed_out=sum(v.outcome is VisitOutcome.TIMED_OUT for v in done),
        lost=sum(v.outcome is VisitOutcome.LOST for v in done),
        rings_not_answered=sum(r.end is RingEnd.NO_ANSWER for r in ring_list),
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
    interface by default (the live dashboard), the 工号 at the time for monthly reports.
    ``offered`` for an agent is the calls the agent was rung for; abandon figures are the
    queue's business and stay zero here.
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
        result[agent] = Figures(
            **{
                **base.as_dict(),
                "offered": len(its_visits),
                "abandoned": 0,
                "short_abandoned": 0,
                "abandon_rate": None,
                "timed_out": 0,
                "lost": 0,
            }
        )
    return result
