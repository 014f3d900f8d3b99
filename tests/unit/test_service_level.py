"""Figures checked against a hand computation (docs/answer-times.md, "Figures")."""

from __future__ import annotations

import pytest

from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome
from ivr.domain.service_level import figures, figures_by_agent, figures_by_queue, percentile

S = 1_000_000
A, B = "Local/1001@x/n", "Local/1002@x/n"


def answered(queue: str, agent: str, ring_ms: int, wait_ms: int, talk_ms: int) -> QueueVisit:
    ring = RingAttempt(agent, "", (wait_ms - ring_ms) * 1000, wait_ms * 1000, RingEnd.ANSWERED)
    return QueueVisit(
        "u", queue, "", 0, VisitOutcome.ANSWERED, (ring,), agent,
        answered_us=wait_ms * 1000, ring_to_answer_ms=ring_ms, queue_wait_ms=wait_ms,
        left_us=wait_ms * 1000, ended_us=(wait_ms + talk_ms) * 1000, talk_ms=talk_ms,
    )  # fmt: skip


def gave_up(queue: str, outcome: VisitOutcome, after_s: float, rings=()) -> QueueVisit:  # type: ignore[no-untyped-def]
    at = int(after_s * S)
    return QueueVisit("u", queue, "", 0, outcome, tuple(rings), left_us=at, ended_us=at)


VISITS = [
    answered("q-a", A, 2_000, 2_000, 60_000),
    answered("q-a", A, 10_000, 25_000, 120_000),  # waited 25 s in the queue, rang 10 s
    answered("q-a", B, 15_000, 15_000, 30_000),  # exactly 15 s: within
    answered("q-b", B, 15_001, 15_001, 90_000),  # 1 ms over
    gave_up("q-a", VisitOutcome.ABANDONED, 3.0),  # short (grace 5 s)
    gave_up("q-a", VisitOutcome.ABANDONED, 40.0),
    gave_up(
        "q-b",
        VisitOutcome.TIMED_OUT,
        300.0,
        [RingAttempt(A, "", 0, 15 * S, RingEnd.NO_ANSWER), RingAttempt(B, "", 16 * S, 300 * S)],
    ),
    QueueVisit("live", "q-a", "", 0),  # still waiting: not in any figure
]


def test_totals_by_hand() -> None:
    f = figures(VISITS, short_abandon_s=5)
    assert (f.offered, f.answered, f.answered_in_15s) == (7, 4, 3)
    assert f.service_level == pytest.approx(3 / 6)  # the short abandon is out of both terms
    assert f.answered_service_level == pytest.approx(3 / 4)
    assert f.queue_answered_in_15s == 2  # queue waits 2, 25, 15, 15.001 s
    assert f.queue_wait_service_level == pytest.approx(2 / 4)
    assert f.asa_ms == round((2_000 + 25_000 + 15_000 + 15_001) / 4)  # 14250
    assert f.p90_answer_ms == 25_000  # nearest rank ceil(0.9*4)=4th of 2000,15000,15001,25000
    assert f.avg_ring_to_answer_ms == round((2_000 + 10_000 + 15_000 + 15_001) / 4)
    assert (f.abandoned, f.short_abandoned) == (1, 1)
    assert f.abandon_rate == pytest.approx(1 / 6)
    assert f.timed_out == 1
    assert f.rings_missed == 1  # A's ring timed out; B's ring never ended (not counted)
    assert (f.rings, f.rings_answered_in_15s, f.rings_answered_late) == (5, 3, 1)
    assert f.rings_against_agent == 2 and f.ring_service_level == pytest.approx(3 / 5)
    assert f.avg_talk_ms == 75_000


def test_per_queue_and_per_agent() -> None:
    by_queue = figures_by_queue(VISITS, short_abandon_s=5)
    assert by_queue["q-a"].offered == 5 and by_queue["q-a"].answered == 3
    assert by_queue["q-b"].service_level == 0.0
    by_agent = figures_by_agent(VISITS, short_abandon_s=5)
    a, b = by_agent[A], by_agent[B]
    assert (a.offered, a.answered, a.answered_in_15s, a.rings_missed) == (3, 2, 2, 1)
    assert (b.offered, b.answered, b.answered_in_15s, b.rings_missed) == (3, 2, 1, 0)
    assert a.ring_service_level == pytest.approx(2 / 3) and b.rings_answered_late == 1
    assert a.service_level is None  # the centre's figure; an agent's is ring_service_level
    assert a.avg_talk_ms == 90_000


def test_empty_and_percentile_edges() -> None:
    f = figures([])
    assert f.offered == 0 and f.service_level is None and f.asa_ms is None
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(range(1, 11), 0.9) == 9
    assert figures(VISITS, short_abandon_s=0).abandon_rate == pytest.approx(2 / 7)


def test_a_call_is_timed_from_its_first_ring_whoever_answers() -> None:
    """A rang 10 s unanswered, B answered 6 s later: B was quick, the call was not."""
    rings = (
        RingAttempt(A, "", 0, 10 * S, RingEnd.NO_ANSWER),
        RingAttempt(B, "", 10 * S, 16 * S, RingEnd.ANSWERED),
    )
    call = QueueVisit(
        "u", "q-a", "", 0, VisitOutcome.ANSWERED, rings, B, answered_us=16 * S,
        ring_to_answer_ms=6_000, queue_wait_ms=16_000, left_us=16 * S, ended_us=20 * S,
    )  # fmt: skip
    f = figures([call])
    assert (f.answered, f.answered_in_15s, f.service_level) == (1, 0, 0.0)
    by_agent = figures_by_agent([call])
    assert by_agent[B].answered_in_15s == 1  # B's own ring: 6 s
    assert (by_agent[A].rings_missed, by_agent[A].rings_against_agent) == (1, 1)
