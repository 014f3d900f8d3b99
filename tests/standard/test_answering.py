"""Answering: an agent answers within 15 seconds of the ring (铃响15秒内接听).

Every ring the queue presents to an agent is counted, not only the ring that was answered:
with the queues' 15 s ring timeout, counting answered calls alone would make the rule hold by
construction. Calls go through the product's own state machine (``QueueCallTracker``, fed the
events Asterisk sends) and are judged by ``ivr.domain.ring_rule`` and
``ivr.domain.service_level``: the code the dashboard, ``/metrics`` and the reports use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.domain.queue_calls import (
    AgentAnswered,
    AgentRingNoAnswer,
    AgentRung,
    CallerAbandoned,
    CallerJoined,
    ChannelHungUp,
    HangupRequested,
    QueueCallTracker,
    QueueEvent,
    QueueVisit,
)
from ivr.domain.ring_rule import RingResult, against_agent, classify
from ivr.domain.service_level import figures, figures_by_agent

ZHANG, LI = "Local/1001@agents/n", "Local/1002@agents/n"
MS = 1_000  # µs


class Call:
    """One caller in the queue, scripted in milliseconds since joining."""

    counter = 0

    def __init__(self) -> None:
        Call.counter += 1
        self.uid = f"call-{Call.counter}"
        self.events: list[QueueEvent] = [CallerJoined(0, self.uid, "q-repair", "13800138000")]

    def rings(self, agent: str, at_ms: int) -> Call:
        self.events.append(AgentRung(at_ms * MS, self.uid, agent))
        return self

    def rings_out(self, agent: str, at_ms: int) -> Call:
        self.events.append(AgentRingNoAnswer(at_ms * MS, self.uid, agent))
        return self

    def answered_by(self, agent: str, at_ms: int) -> Call:
        self.events += [
            AgentAnswered(at_ms * MS, self.uid, agent, agent_channel_uid=self.uid + "-a"),
            ChannelHungUp((at_ms + 60_000) * MS, self.uid),
        ]
        return self

    def caller_hangs_up(self, at_ms: int) -> Call:
        self.events += [
            HangupRequested(at_ms * MS, self.uid),
            CallerAbandoned(at_ms * MS, self.uid),
        ]
        return self

    def visit(self) -> QueueVisit:
        [visit] = list(track([self]))
        return visit


def track(calls: list[Call]) -> Iterator[QueueVisit]:
    tracker = QueueCallTracker()
    for call in calls:
        for event in call.events:
            result = tracker.handle(event)
            assert result.ignored is None, result.ignored
            yield from result.finished


def the_ring(call: Call, agent: str = ZHANG) -> RingResult | None:
    return classify(next(r for r in call.visit().rings if r.interface == agent))


def test_a_ring_answered_at_15_000_ms_is_within_the_rule() -> None:
    call = Call().rings(ZHANG, 0).answered_by(ZHANG, 15_000)
    assert the_ring(call) is RingResult.ANSWERED_IN_15S
    assert figures([call.visit()]).answered_in_15s == 1


def test_a_ring_answered_at_15_001_ms_is_late_and_counts_against_the_agent() -> None:
    call = Call().rings(ZHANG, 0).answered_by(ZHANG, 15_001)
    assert the_ring(call) is RingResult.ANSWERED_LATE
    assert against_agent(call.visit().rings[0])
    assert figures([call.visit()]).answered_in_15s == 0


def test_a_ring_that_rings_out_at_the_queues_15_second_timeout_is_a_miss() -> None:
    call = Call().rings(ZHANG, 0).rings_out(ZHANG, 15_000).rings(LI, 15_000)
    call.answered_by(LI, 17_000)
    visit = call.visit()
    assert the_ring(call, ZHANG) is RingResult.MISSED
    assert against_agent(visit.rings[0])
    assert figures_by_agent([visit])[ZHANG].rings_against_agent == 1


def test_a_ring_refused_before_15_seconds_still_counts_against_the_agent() -> None:
    call = Call().rings(ZHANG, 0).rings_out(ZHANG, 4_000).rings(LI, 4_000).answered_by(LI, 5_000)
    assert the_ring(call, ZHANG) is RingResult.MISSED
    assert against_agent(call.visit().rings[0])


def test_a_caller_who_hangs_up_before_the_ring_reaches_15_seconds_is_not_the_agents_miss() -> None:
    call = Call().rings(ZHANG, 0).caller_hangs_up(8_000)
    assert the_ring(call) is RingResult.GAVE_UP
    assert not against_agent(call.visit().rings[0])
    assert figures_by_agent([call.visit()])[ZHANG].ring_service_level is None  # no chance yet


def test_a_caller_who_gives_up_after_the_ring_passed_15_seconds_is_the_agents_miss() -> None:
    call = Call().rings(ZHANG, 0).caller_hangs_up(20_000)
    assert the_ring(call) is RingResult.GAVE_UP
    assert against_agent(call.visit().rings[0])
    assert figures_by_agent([call.visit()])[ZHANG].ring_service_level == 0.0


def test_a_call_is_answered_within_15_seconds_only_if_its_first_ring_was() -> None:
    call = Call().rings(ZHANG, 0).rings_out(ZHANG, 10_000).rings(LI, 10_000)
    call.answered_by(LI, 16_000)
    visit = call.visit()
    assert the_ring(call, LI) is RingResult.ANSWERED_IN_15S  # Li was quick…
    assert figures([visit]).answered_in_15s == 0  # …the caller still heard 16 s of ringing


def test_the_queues_ring_timeout_cannot_make_the_service_level_100_percent() -> None:
    """Every first agent rings out at 15 s and the second answers at once: answered-only
    figures would say 100 %; the standard's service level says 0 %."""
    calls = [
        Call().rings(ZHANG, 0).rings_out(ZHANG, 15_000).rings(LI, 15_000).answered_by(LI, 15_500)
        for _ in range(4)
    ]
    got = figures(track(calls))
    assert got.service_level == 0.0
    assert got.rings_missed == 4 and got.rings_against_agent == 4
    assert got.queue_wait_service_level == 0.0


def test_a_caller_who_gave_up_counts_against_the_service_level_and_a_misdial_does_not() -> None:
    calls = [
        Call().rings(ZHANG, 0).answered_by(ZHANG, 3_000),
        Call().rings(ZHANG, 0).caller_hangs_up(30_000),  # gave up: in the denominator
        Call().caller_hangs_up(2_000),  # hung up within 5 s (misdial): out of both terms
    ]
    got = figures(track(calls), short_abandon_s=5)
    assert (got.offered, got.short_abandoned, got.answered_in_15s) == (3, 1, 1)
    assert got.service_level == pytest.approx(1 / 2)
    assert got.answered_service_level == 1.0  # beside it, never instead of it
