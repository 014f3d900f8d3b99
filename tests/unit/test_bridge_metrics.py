"""The hooks that feed /metrics, on made-up visits (the scrape itself: integration tests)."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome
from ivr.domain.service_level import Figures
from ivr.services.metrics import BridgeMetrics


def samples(metrics: BridgeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


S = 1_000_000


def ring(end: RingEnd, start_s: float = 0, end_s: float = 1e-6) -> RingAttempt:
    return RingAttempt("Local/1@x/n", "agent", int(start_s * S), int(end_s * S), end)


def visit(outcome: VisitOutcome, ring_ms: int | None = None, wait_ms: int | None = None,
          rings: tuple[RingAttempt, ...] = ()) -> QueueVisit:  # fmt: skip
    answered = None if wait_ms is None else wait_ms * 1000
    return QueueVisit("u", "q-a", "13800000000", 0, outcome, rings=rings, answered_us=answered,
                      ring_to_answer_ms=ring_ms, queue_wait_ms=wait_ms)  # fmt: skip


def test_finished_visits_feed_counters_and_histograms_at_the_15_second_boundary() -> None:
    m = BridgeMetrics()
    m.visits_finished([
        # first rang 15.000 s before the answer: within, though the first agent missed
        visit(VisitOutcome.ANSWERED, 11_000, 15_000,
              (ring(RingEnd.NO_ANSWER, 0, 4), ring(RingEnd.ANSWERED, 4, 15))),
        visit(VisitOutcome.ANSWERED, 15_001, 15_001, (ring(RingEnd.ANSWERED, 0, 15.001),)),
        # the second agent took 6 s, but the call first rang 16 s before: not within
        visit(VisitOutcome.ANSWERED, 6_000, 16_000,
              (ring(RingEnd.NO_ANSWER, 0, 10), ring(RingEnd.ANSWERED, 10, 16))),
        visit(VisitOutcome.ABANDONED, rings=(ring(RingEnd.CALLER_LEFT, 0, 8),)),
        visit(VisitOutcome.TIMED_OUT, rings=(ring(RingEnd.NO_ANSWER, 0, 15),)),
    ])  # fmt: skip
    got = samples(m)
    q = (("queue", "q-a"),)
    assert got[("ivr_queue_answered_total", q)] == 3
    assert got[("ivr_queue_answered_in_15s_total", q)] == 1  # 15.000 s is within, 15.001 s not
    assert got[("ivr_queue_abandoned_total", q)] == 1
    assert got[("ivr_rings_missed_total", q)] == 3  # a caller leaving is not a missed ring

    def rings(result: str, against: str) -> float:
        key = (("against_agent", against), ("queue", "q-a"), ("result", result))
        return got.get(("ivr_rings_total", key), 0)

    assert rings("answered_in_15s", "false") == 2
    assert rings("answered_late", "true") == 1
    assert rings("missed", "true") == 3
    assert rings("gave_up", "false") == 1  # the caller left at 8 s: the agent had 7 s left
    assert got[("ivr_queue_calls_total", (("outcome", "timed_out"), ("queue", "q-a")))] == 1
    assert got[("ivr_ring_to_answer_seconds_bucket", (("le", "15.0"), ("queue", "q-a")))] == 2
    assert got[("ivr_ring_to_answer_seconds_bucket", (("le", "20.0"), ("queue", "q-a")))] == 3
    assert got[("ivr_queue_wait_seconds_sum", q)] == 46.001


def test_agi_sessions_count_calls_only_for_the_menu_and_think_time_never_goes_negative() -> None:
    m = BridgeMetrics()
    for route in ("inbound", "call-ended", "inbound", "callback"):
        m.agi_session(route)
    m.agi_think_time(-0.001)  # a clock step: counted as 0
    m.agi_think_time(0.0003)
    got = samples(m)
    assert got[("ivr_calls_total", ())] == 2
    assert got[("ivr_agi_sessions_total", (("route", "callback"),))] == 1
    assert got[("ivr_agi_think_seconds_count", ())] == 2
    assert got[("ivr_agi_think_seconds_bucket", (("le", "0.0005"),))] == 2


def test_each_bridge_has_its_own_registry() -> None:
    one, two = BridgeMetrics(), BridgeMetrics()  # the global registry would refuse a second
    one.agi_session("inbound")
    assert samples(one)[("ivr_calls_total", ())] == 1
    assert samples(two)[("ivr_calls_total", ())] == 0


async def test_todays_rings_per_agent_are_gauges_by_job_number_and_result() -> None:
    rings = {
        "rings_answered_in_15s": 3, "rings_answered_late": 1, "rings_missed": 2,
        "rings_gave_up": 1, "rings_taken_by_other": 0, "rings_against_agent": 3,
        "ring_service_level": 0.5,
    }  # fmt: skip
    snapshot = {"queues": {}, "talking": [], "agents": [], "ami_resyncs": 0,
                "today": {"total": Figures().as_dict(), "by_queue": {},
                          "by_agent": {"1001": rings}}}  # fmt: skip

    async def live() -> dict[str, object]:
        return snapshot

    text = (await BridgeMetrics().exposition(live)).decode()
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("ivr_today_agent")
    }
    assert got[("ivr_today_agent_rings", (("agent", "1001"), ("result", "missed")))] == 2
    assert got[("ivr_today_agent_rings", (("agent", "1001"), ("result", "answered_late")))] == 1
    assert got[("ivr_today_agent_rings_against", (("agent", "1001"),))] == 3
    assert got[("ivr_today_agent_ring_service_level", (("agent", "1001"),))] == 0.5
