"""What ``/metrics`` exposes, through ``prometheus_client``: one registry per bridge.

Three kinds of figures, each where it is true:

* **this process** — counters and histograms fed as things happen here: calls that entered the
  menu, finished queue visits by outcome, agent rings not answered, ring-to-answer and queue
  wait, the AGI think time (ours, between a reply from Asterisk and our next command). They
  start at zero with the process, as Prometheus expects of a counter.
* **the database** — callback attempts and dispatch calls by result, alerts by level and kind:
  any bridge may record any of them (every bridge hears every ``OriginateResponse``), so only
  the shared tables know each one exactly once. Read at scrape time; every bridge shows the
  same totals (aggregate them with ``max``, not ``sum``).
* **now** — gauges of the live picture, the same snapshot as the dashboard's.

A registry of its own per bridge (never the library's global one), so two bridges or two
test apps in one process do not collide; it also carries the library's process, platform and
garbage-collector collectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.domain.queue_calls import QueueVisit, RingEnd, VisitOutcome
from ivr.domain.ring_rule import RING_RESULTS, against_agent, answered_within_rule, classify
from ivr.ports import StoredOutcomeCounts, StoredOutcomes

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# around the 15 s rule and the queues' timeouts
RING_BUCKETS = (1.0, 2.0, 3.0, 5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0, 45.0, 60.0)
WAIT_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
THINK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# today's figures as gauges (the dashboard's "today" for the centre and per queue)
TODAY = {
    "offered": "calls that entered the queue today",
    "answered": "calls answered today",
    "answered_in_15s": "calls answered within 15 s of their first ring today",
    "abandoned": "callers who hung up while waiting (after the grace period) today",
    "short_abandoned": "callers who hung up within the grace period today",
    "timed_out": "calls the queue gave up on today",
    "service_level": "answered within 15 s of the first ring / (offered - short abandoned), "
    "today (the standard's service level)",
    "answered_service_level": "answered within 15 s of the first ring / answered, today",
    "queue_wait_service_level": "answered within 15 s of joining the queue / answered, today "
    "(Asterisk's servicelevel)",
    "rings": "rings presented to agents today",
    "rings_answered_in_15s": "rings the agent answered within 15 s, today",
    "rings_answered_late": "rings the agent answered after 15 s, today",
    "rings_missed": "rings that rang out or were refused (AgentRingNoAnswer), today",
    "rings_gave_up": "rings the caller (or the queue) ended while it rang, today",
    "rings_against_agent": "rings that count against the agent (late, missed, or over 15 s "
    "before the caller gave up), today",
    "ring_service_level": "rings answered within 15 s / rings the agent had 15 s for, today",
    "abandon_rate": "abandoned / (offered - short abandoned), today",
    "asa_ms": "average queue wait of answered calls today (ms)",
    "p90_answer_ms": "90th percentile queue wait of answered calls today (ms)",
    "avg_ring_to_answer_ms": "average ring-to-answer today (ms)",
    "avg_talk_ms": "average talk time today (ms)",
}


class BridgeMetrics:
    """The bridge's registry and the hooks that feed it (cheap, synchronous, never raise)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        self.agi_sessions = Counter(
            "ivr_agi_sessions", "FastAGI sessions served, by route", ["route"], registry=r
        )
        self.calls = Counter("ivr_calls", "calls that entered the menu (this bridge)", registry=r)
        self.queue_calls = Counter(
            "ivr_queue_calls",
            "finished queue visits by outcome (answered, abandoned, timed_out, lost)",
            ["queue", "outcome"],
            registry=r,
        )
        self.answered = Counter(
            "ivr_queue_answered", "queue calls answered by an agent", ["queue"], registry=r
        )
        self.answered_in_15s = Counter(
            "ivr_queue_answered_in_15s",
            "queue calls answered within 15 s of their first ring",
            ["queue"],
            registry=r,
        )
        self.rings = Counter(
            "ivr_rings",
            "rings presented to agents, by result (answered_in_15s, answered_late, missed, "
            "gave_up, taken_by_other) and whether the ring counts against the agent",
            ["queue", "result", "against_agent"],
            registry=r,
        )
        self.abandoned = Counter(
            "ivr_queue_abandoned", "callers who hung up while waiting", ["queue"], registry=r
        )
        self.rings_missed = Counter(
            "ivr_rings_missed", "agent rings that ended unanswered (no_answer)", ["queue"],
            registry=r,
        )  # fmt: skip
        self.ring_to_answer = Histogram(
            "ivr_ring_to_answer_seconds",
            "the answering agent's ring (AgentCalled) to the answer (AgentConnect)",
            ["queue"],
            buckets=RING_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "ivr_queue_wait_seconds",
            "joining the queue to the answer (speed of answer)",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.agi_think = Histogram(
            "ivr_agi_think_seconds",
            "our time between Asterisk's reply to an AGI command and our next command",
            buckets=THINK_BUCKETS,
            registry=r,
        )
        self._stored = _StoredOutcomesCollector()
        self._live = _LiveStateCollector()
        r.register(self._stored)
        r.register(self._live)

    # ------------------------------------------------------------ hooks

    def agi_session(self, route: str) -> None:
        self.agi_sessions.labels(route=route).inc()
        if route == "inbound":
            self.calls.inc()

    def agi_think_time(self, seconds: float) -> None:
        self.agi_think.observe(max(0.0, seconds))

    def visits_finished(self, visits: Iterable[QueueVisit]) -> None:
        for visit in visits:
            queue = visit.queue
            self.queue_calls.labels(queue=queue, outcome=visit.outcome.value).inc()
            for ring in visit.rings:
                result = classify(ring)
                if result is None:
                    continue
                against = "true" if against_agent(ring) else "false"
                self.rings.labels(queue=queue, result=result.value, against_agent=against).inc()
                if ring.end is RingEnd.NO_ANSWER:
                    self.rings_missed.labels(queue=queue).inc()
            if visit.outcome is VisitOutcome.ABANDONED:
                self.abandoned.labels(queue=queue).inc()
            if visit.outcome is not VisitOutcome.ANSWERED:
                continue
            self.answered.labels(queue=queue).inc()
            if answered_within_rule(visit):
                self.answered_in_15s.labels(queue=queue).inc()
            if visit.ring_to_answer_ms is not None:
                self.ring_to_answer.labels(queue=queue).observe(visit.ring_to_answer_ms / 1000)
            if visit.queue_wait_ms is not None:
                self.queue_wait.labels(queue=queue).observe(visit.queue_wait_ms / 1000)

    # ------------------------------------------------------------ scrape

    async def exposition(
        self,
        snapshot: Callable[[], Any] | None = None,
        stored: StoredOutcomes | None = None,
    ) -> bytes:
        """The text a scrape gets. ``snapshot`` (async: the dashboard's) and ``stored`` are read
        first; either failing leaves its families out and is logged, the rest still answers."""
        live: dict[str, Any] | None = None
        counts: StoredOutcomeCounts | None = None
        if snapshot is not None:
            try:
                live = await snapshot()
            except Exception:
                log.exception("metrics: the live snapshot failed; its gauges are left out")
        if stored is not None:
            try:
                counts = await stored.outcome_counts()
            except Exception:
                log.exception("metrics: the stored outcomes could not be read; left out")
        self._live.snapshot, self._stored.counts = live, counts
        try:
            return generate_latest(self.registry)
        finally:
            self._live.snapshot, self._stored.counts = None, None


class _StoredOutcomesCollector(Collector):
    def __init__(self) -> None:
        self.counts: StoredOutcomeCounts | None = None

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        if counts is None:
            return
        families = (
            ("ivr_callback_attempts", "finished callback (回访) attempts by result", ["result"],
             counts.callback_results),
            ("ivr_dispatch_calls", "finished repair dispatch calls by result", ["result"],
             counts.dispatch_results),
            ("ivr_alerts", "alerts raised, by level and kind", ["level", "kind"], counts.alerts),
        )  # fmt: skip
        for name, text, labels, values in families:
            family = CounterMetricFamily(
                name, text + " (all bridges, from the database)", labels=labels
            )
            for key, value in sorted(values.items()):
                family.add_metric(list(key), value)
            yield family
        yield CounterMetricFamily(
            "ivr_outage_callers_informed",
            "callers who hung up after an outage notice (all bridges, from the database)",
            value=counts.callers_informed,
        )


class _LiveStateCollector(Collector):
    def __init__(self) -> None:
        self.snapshot: dict[str, Any] | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        queues = snap["queues"]
        for name, text, field in (
            ("ivr_queue_waiting_callers", "callers waiting in the queue now", "waiting"),
            ("ivr_queue_longest_wait_seconds", "longest wait in the queue now", "longest_wait_s"),
            ("ivr_queue_members", "agents logged in to the queue", "agents"),
        ):  # fmt: skip
            family = GaugeMetricFamily(name, text, labels=["queue"])
            for queue, values in queues.items():
                family.add_metric([queue], values[field])
            yield family
        held = snap.get("today", {}).get("virtual_hold")
        if held is not None:
            family = GaugeMetricFamily(
                "ivr_virtual_hold_today",
                "virtual hold today: places kept, call-backs placed, connected to an agent,"
                " failed (all bridges, from the database)",
                labels=["figure"],
            )
            for figure in ("kept", "called_back", "connected", "failed"):
                family.add_metric([figure], held[figure])
            yield family
            yield GaugeMetricFamily(
                "ivr_virtual_hold_open",
                "kept places waiting for their turn or being called back now",
                value=held["open"],
            )
        yield GaugeMetricFamily(
            "ivr_calls_talking", "calls connected to an agent now", value=len(snap["talking"])
        )
        states: dict[tuple[str, str], int] = {}
        for agent in snap["agents"]:
            key = (agent["state"], "true" if agent["paused"] else "false")
            states[key] = states.get(key, 0) + 1
        agents = GaugeMetricFamily("ivr_agents", "agents by state", labels=["state", "paused"])
        for (state, paused), n in sorted(states.items()):
            agents.add_metric([state, paused], n)
        yield agents
        yield CounterMetricFamily(
            "ivr_ami_resyncs", "resyncs with Asterisk since start", value=snap["ami_resyncs"]
        )
        security = snap.get("sip_security_events")
        if security is not None:
            family = CounterMetricFamily(
                "ivr_sip_security_events",
                "Asterisk security failures (refused SIP logins, unknown sources) since start",
                labels=["event"],
            )
            for event, count in sorted(security.items()):
                family.add_metric([event], count)
            yield family
        today = snap["today"]
        for field, text in TODAY.items():
            family = GaugeMetricFamily(f"ivr_today_{field}", text, labels=["queue"])
            rows = [("_all", today["total"]), *today["by_queue"].items()]
            for queue, figures in rows:
                if figures[field] is not None:
                    family.add_metric([queue], float(figures[field]))
            yield family
        yield from _agent_rings(today.get("by_agent", {}))


def _agent_rings(by_agent: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    """Today's rings per agent (工号; a member nobody has: its interface), by result."""
    rings = GaugeMetricFamily(
        "ivr_today_agent_rings", "rings presented to the agent today, by result",
        labels=["agent", "result"],
    )  # fmt: skip
    against = GaugeMetricFamily(
        "ivr_today_agent_rings_against", "the agent's rings today that count against them",
        labels=["agent"],
    )  # fmt: skip
    level = GaugeMetricFamily(
        "ivr_today_agent_ring_service_level",
        "the agent's rings answered within 15 s / rings they had 15 s for, today",
        labels=["agent"],
    )
    for agent, figures in sorted(by_agent.items()):
        for result in RING_RESULTS:
            rings.add_metric([agent, result.value], float(figures[f"rings_{result.value}"]))
        against.add_metric([agent], float(figures["rings_against_agent"]))
        if figures["ring_service_level"] is not None:
            level.add_metric([agent], float(figures["ring_service_level"]))
    yield from (rings, against, level)
