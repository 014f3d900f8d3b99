"""What the supervisors' wallboard, its JSON API and ``/metrics`` show: one snapshot.

Callers' numbers are masked here (supervisors watch the queues; they do not need the number),
so no view can leak one. Agents are named by 工号 and name (never by an Asterisk interface,
unless a member belongs to no agent), each with one live state (``ivr.domain.wallboard``);
headline figures carry their colour; instants are in the centre's zone, to the second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ivr.domain.agents import Agent, Membership
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd
from ivr.domain.ring_rule import against_agent
from ivr.domain.wallboard import (
    HEADLINES,
    AgentFacts,
    WallboardRules,
    agent_state,
    headline_label,
    level,
    queue_alarms,
    state_label,
)
from ivr.ports import AgentDirectory, KeptPlaceBoard, OutageRegister
from ivr.services.call_tracking import CallTracking
from ivr.services.security_events import SecurityEvents


@dataclass
class DashboardSource:
    tracking: CallTracking
    agents: AgentDirectory
    timezone: tzinfo
    cache_s: float = 1.0
    security: SecurityEvents | None = None  # Asterisk's security failures, when AMI is up
    rules: WallboardRules = field(default_factory=WallboardRules)
    outages: OutageRegister | None = None  # storm days: callers informed by a notice today
    kept_places: KeptPlaceBoard | None = None  # virtual hold, when on
    _cached: tuple[float, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def day_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.timezone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def snapshot(self) -> dict[str, Any]:
        """Live state plus today's figures and the active outages (those two cached
        ``cache_s`` seconds)."""
        outages: list[dict[str, Any]] = []
        held: list[dict[str, Any]] = []
        if self._cached and time.monotonic() - self._cached[0] < self.cache_s:
            _, figures, outages, held = self._cached
        else:
            now = datetime.now(self.timezone)
            report = await self.tracking.report(self.day_start(now), now + timedelta(seconds=1))
            figures = {
                "total": report.total.as_dict(),
                "by_queue": {q: f.as_dict() for q, f in report.by_queue.items()},
                "by_agent": {a: f.as_dict() for a, f in report.by_agent.items()},
            }
            if self.outages is not None:
                figures["callers_informed"] = await self.outages.informed_since(self.day_start(now))
                outages = await self._active_outages(now)
            if self.kept_places is not None:
                figures["virtual_hold"], held = await self._virtual_hold(self.day_start(now))
            self._cached = (time.monotonic(), figures, outages, held)
        security = self.security.counts() if self.security is not None else {}
        live = self._live(await self.agents.all())
        return {
            **live,
            "timezone": str(self.timezone),
            "language": self.rules.language,
            "headline": self._headline(figures["total"], live["queues"]),
            "outages": outages,
            "virtual_hold": held,
            "queue_alarms": self._alarms(figures["by_queue"], live["queues"]),
            "today": figures,
            "sip_security_events": security,
        }

    async def _virtual_hold(self, since: datetime) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """Today's kept places counted apart, and the list (numbers masked)."""
        assert self.kept_places is not None
        counts = await self.kept_places.counts(since)
        figures = {
            "kept": sum(counts.values()),
            "called_back": await self.kept_places.called_back(since),
            "connected": counts["connected"],
            "failed": counts["failed"],
            "open": sum((await self.kept_places.open_by_queue()).values()),
        }
        places = [
            {
                "queue": p.queue,
                "caller": p.phone_masked,
                "arrived_at": p.arrived_at.astimezone(self.timezone).isoformat(timespec="seconds"),
                "state": p.state,
                "attempts": p.attempts,
            }
            for p in await self.kept_places.listing()
        ]
        return figures, places

    async def _active_outages(self, now: datetime) -> list[dict[str, Any]]:
        """The outages active now, the one restored last first, each with the callers its
        notice informed (counted from its start: no notice is read before it)."""
        assert self.outages is not None
        active = [o for o in await self.outages.open_outages() if o.active(now)]
        if not active:
            return []
        counts = await self.outages.informed_counts(
            since=min(o.starts_at for o in active), outage_ids=[o.id for o in active]
        )
        active.sort(key=lambda o: (o.expected_at, o.id), reverse=True)
        return [
            {
                "id": o.id,
                "kind": o.kind.value,
                "areas": list(o.areas),
                "feeders": list(o.feeders),
                "cause": o.cause,
                "starts_at": o.starts_at.astimezone(self.timezone).isoformat(),
                "expected_at": o.expected_at.astimezone(self.timezone).isoformat(),
                "callers_informed": counts.get(o.id, 0),
            }
            for o in active
        ]

    def _alarms(
        self, by_queue: dict[str, dict[str, Any]], queues: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        alarms = queue_alarms(
            {q: f.get("service_level") for q, f in by_queue.items()},
            {q: live["waiting"] for q, live in queues.items()},
            self.rules.alarm_limit,
        )
        return [
            {"queue": a.queue, "figure": a.figure.value, "value": a.value, "limit": a.limit}
            for a in alarms
        ]

    def _headline(self, today: dict[str, Any], queues: dict[str, Any]) -> list[dict[str, Any]]:
        asa = today.get("asa_ms")
        values = {
            "service_level": today.get("service_level"),
            "abandon_rate": today.get("abandon_rate"),
            "asa_s": None if asa is None else asa / 1000,
            "waiting": sum(q["waiting"] for q in queues.values()),
            "longest_wait_s": max((q["longest_wait_s"] for q in queues.values()), default=0.0),
            "ring_service_level": today.get("ring_service_level"),
        }
        out = []
        for h in HEADLINES:
            threshold = self.rules.threshold(h.key)
            out.append(
                {
                    "key": h.key,
                    "label": headline_label(h.key, self.rules.language),
                    "value": values[h.key],
                    "unit": h.unit,
                    "level": level(h.key, values[h.key], threshold).value,
                    "green": threshold.green,
                    "amber": threshold.amber,
                    "higher_is_better": h.higher_is_better,
                }
            )
        return out

    def _live(self, directory: list[Agent]) -> dict[str, Any]:
        now_us = self.tracking.now_us()
        by_interface = {a.interface: a for a in directory}

        def who(ring: RingAttempt) -> str:
            """The 工号 rung: stored with the ring, else the directory's, else the member's
            name (a member no agent has)."""
            known = by_interface.get(ring.interface)
            return ring.job_number or (known.job_number if known else ring.member_name or "?")

        waiting_visits = self.tracking.waiting()
        talking_visits = self.tracking.talking()
        waiting = [
            {
                "queue": v.queue,
                "caller": mask_number(v.caller_number),
                "waiting_s": round((now_us - v.joined_us) / 1e6, 1),
                "ringing": [who(r) for r in v.rings if r.end is None],
            }
            for v in waiting_visits
        ]
        talking = [
            {
                "queue": v.queue,
                "caller": mask_number(v.caller_number),
                "agent": v.agent_interface,
                "job_number": v.agent_job_number or _job(by_interface.get(v.agent_interface or "")),
                "talking_s": round((now_us - (v.answered_us or now_us)) / 1e6, 1),
                "ring_to_answer_ms": v.ring_to_answer_ms,
            }
            for v in talking_visits
        ]
        facts = _AgentHistory(now_us, waiting_visits, talking_visits, self.tracking.recent())
        agents = []
        for interface, memberships in self.tracking.board.by_interface().items():
            known = by_interface.get(interface)
            agents.append(self._agent(interface, known, memberships, facts))
        agents.sort(key=lambda a: (a["job_number"] is None, a["job_number"] or a["interface"]))
        queues: dict[str, dict[str, Any]] = {}
        for member in self.tracking.board.members.values():
            queues.setdefault(member.queue, {"waiting": 0, "longest_wait_s": 0.0, "agents": 0})
            queues[member.queue]["agents"] += 1
        for entry in waiting:
            q = queues.setdefault(
                entry["queue"], {"waiting": 0, "longest_wait_s": 0.0, "agents": 0}
            )
            q["waiting"] += 1
            q["longest_wait_s"] = max(q["longest_wait_s"], entry["waiting_s"])
        at = datetime.fromtimestamp(now_us / 1e6, self.timezone).replace(microsecond=0)
        return {
            "at": at.isoformat(),
            "ami_resyncs": self.tracking.resyncs,
            "queues": dict(sorted(queues.items())),
            "waiting": waiting,
            "talking": talking,
            "agents": agents,
        }

    def _agent(
        self,
        interface: str,
        known: Agent | None,
        memberships: list[Membership],
        history: _AgentHistory,
    ) -> dict[str, Any]:
        paused = any(m.paused for m in memberships)
        reason = next((m.pause_reason for m in memberships if m.paused), "")
        device = memberships[0].state.value
        state = agent_state(
            AgentFacts(
                being_rung=interface in history.rung,
                talking=interface in history.talking,
                paused=paused,
                pause_reason=reason,
                device=device,
                seconds_since_call_ended=history.since_call_ended(interface),
                last_ring_missed_s_ago=history.last_ring_missed(interface),
            ),
            self.rules.after_call_work_s,
            self.rules.not_answering_s,
        )
        return {
            "interface": interface,
            "job_number": _job(known),
            "name": known.name if known else memberships[0].name,
            "queues": [m.queue for m in memberships],
            "state": state.value,
            "state_label": state_label(state, self.rules.language, reason),
            "device_state": device,
            "paused": paused,
            "pause_reason": reason,
            "ringing_s": history.ringing_for(interface),
        }


class _AgentHistory:
    """Per member interface, from the tracker's live and recently finished calls."""

    def __init__(
        self,
        now_us: int,
        waiting: list[QueueVisit],
        talking: list[QueueVisit],
        recent: list[QueueVisit],
    ) -> None:
        self.now_us = now_us
        self.rung: dict[str, int] = {}  # interface -> when its open ring started
        for visit in waiting:
            for ring in visit.rings:
                if ring.end is None:
                    self.rung[ring.interface] = min(
                        ring.started_us, self.rung.get(ring.interface, ring.started_us)
                    )
        self.talking = {v.agent_interface for v in talking if v.agent_interface}
        self.call_ended: dict[str, int] = {}
        self.last_ring: dict[str, RingAttempt] = {}
        for visit in [*recent, *waiting, *talking]:
            if visit.agent_interface and visit.ended_us is not None:
                previous = self.call_ended.get(visit.agent_interface, 0)
                self.call_ended[visit.agent_interface] = max(previous, visit.ended_us)
            for ring in visit.rings:
                if ring.ended_us is None:
                    continue
                last = self.last_ring.get(ring.interface)
                if last is None or (last.ended_us or 0) <= ring.ended_us:
                    self.last_ring[ring.interface] = ring

    def since_call_ended(self, interface: str) -> float | None:
        ended = self.call_ended.get(interface)
        return None if ended is None else (self.now_us - ended) / 1e6

    def last_ring_missed(self, interface: str) -> float | None:
        ring = self.last_ring.get(interface)
        if ring is None or ring.end is RingEnd.ANSWERED or not against_agent(ring):
            return None
        return (self.now_us - (ring.ended_us or self.now_us)) / 1e6

    def ringing_for(self, interface: str) -> float | None:
        started = self.rung.get(interface)
        return None if started is None else round((self.now_us - started) / 1e6, 1)


def _job(agent: Agent | None) -> str | None:
    return agent.job_number if agent else None
