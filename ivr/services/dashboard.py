"""What the supervisors' wallboard, its JSON API and ``/metrics`` show: one snapshot.

Callers' numbers are masked here (supervisors watch the queues; they do not need the number),
so no view can leak one. Agents are named by 工号 and name (never by an Asterisk interface,
unless a member belongs to no agent), each with one live state (``ivr.domain.wallboard``);
headline figures carry their colour; instants are in the centre's zone, to the second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ivr.domain.agents import Agent, Membership
from ivr.domain.live_picture import (
    BridgePicture,
    CentrePicture,
    SharedAgent,
    SharedCall,
    merge,
)
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd
from ivr.domain.ring_rule import against_agent
from ivr.domain.wallboard import (
    HEADLINES,
    AgentFacts,
    BoardState,
    WallboardRules,
    agent_state,
    headline_label,
    level,
    queue_alarms,
    state_label,
)
from ivr.ports import AgentDirectory, KeptPlaceBoard, OutageRegister
from ivr.services.call_tracking import CallTracking
from ivr.services.live_share import LiveShare
from ivr.services.security_events import SecurityEvents

log = logging.getLogger(__name__)


@dataclass
class DashboardSource:
    tracking: CallTracking
    agents: AgentDirectory
    timezone: tzinfo
    cache_s: float = 1.0
    security: SecurityEvents | None = None  # Asterisk's security failures, when AMI is up
    rules: WallboardRules = field(default_factory=WallboardRules)
    outages: OutageRegister | None = None  # storm days: callers informed by a notice today
    shared: LiveShare | None = None  # the other bridges' pictures (several on PostgreSQL)
    bridge: str = ""  # this bridge, as its picture names it
    server: str = ""  # its Asterisk, as the pictures name it
    _directory: dict[str, Agent] = field(default_factory=dict)  # member interface → agent
    _directory_at: float = -1e9
    # our call id per Uniqueid: a live call's listen / whisper / barge buttons name it
    call_ids: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None
    kept_places: KeptPlaceBoard | None = None  # virtual hold, when on
    _cached: tuple[float, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]] | None = None

    def day_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.timezone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def snapshot(self) -> dict[str, Any]:
        """Live state plus today's figures, the active outages and the virtual-hold list (all
        three cached ``cache_s`` seconds)."""
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
        await self.directory_current()
        live = self._live(self.centre())
        ids: dict[str, str] = {}
        own = [t["unique_id"] for t in live["talking"] if t["server"] == self.server]
        if self.call_ids is not None and own:
            try:
                ids = await self.call_ids(own)
            except Exception:  # the figures still show; the buttons wait for the database
                log.warning("call ids of the live calls not read", exc_info=True)
        for entry in live["talking"]:
            # only this bridge's Asterisk can be listened in on from here: another server's
            # call has no buttons (its own bridge's page has them)
            mine = entry.pop("server") == self.server
            entry["call_id"] = ids.get(entry.pop("unique_id")) if mine else None
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

    async def directory_current(self) -> None:
        """The agents table as read at most ``cache_s`` ago (names and 工号 on the board)."""
        if time.monotonic() - self._directory_at >= self.cache_s:
            self._directory = {a.interface: a for a in await self.agents.all()}
            self._directory_at = time.monotonic()

    def centre(self) -> CentrePicture:
        """This bridge's picture merged with the other bridges' (only its own without any)."""
        others = self.shared.others if self.shared is not None else []
        return merge(self.local_picture(), others)

    def local_picture(self) -> BridgePicture:
        """What this bridge's Asterisk has now: queue calls and agents, numbers masked, each
        agent in one live state (what it publishes for the others)."""
        now_us = self.tracking.now_us()
        by_interface = self._directory

        def who(ring: RingAttempt) -> str:
            """The 工号 rung: stored with the ring, else the directory's, else the member's
            name (a member no agent has)."""
            known = by_interface.get(ring.interface)
            return ring.job_number or (known.job_number if known else ring.member_name or "?")

        waiting_visits = self.tracking.waiting()
        talking_visits = self.tracking.talking()
        calls = [
            SharedCall(
                server=self.server,
                unique_id=v.unique_id,
                queue=v.queue,
                caller=mask_number(v.caller_number),
                state="waiting",
                joined_ms=v.joined_us // 1000,
                ringing=tuple(who(r) for r in v.rings if r.end is None),
            )
            for v in waiting_visits
        ]
        calls += [
            SharedCall(
                server=self.server,
                unique_id=v.unique_id,
                queue=v.queue,
                caller=mask_number(v.caller_number),
                state="talking",
                joined_ms=v.joined_us // 1000,
                answered_ms=(v.answered_us or now_us) // 1000,
                agent=v.agent_interface,
                job_number=v.agent_job_number or _job(by_interface.get(v.agent_interface or "")),
                ring_to_answer_ms=v.ring_to_answer_ms,
            )
            for v in talking_visits
        ]
        facts = _AgentHistory(now_us, waiting_visits, talking_visits, self.tracking.recent())
        agents = [
            self._agent(interface, by_interface.get(interface), memberships, facts)
            for interface, memberships in self.tracking.board.by_interface().items()
        ]
        return BridgePicture(
            bridge=self.bridge,
            server=self.server,
            at_ms=now_us // 1000,
            calls=tuple(calls),
            agents=tuple(agents),
            resyncs=self.tracking.resyncs,
        )

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

    def _live(self, centre: CentrePicture) -> dict[str, Any]:
        now_ms = self.tracking.now_us() // 1000
        waiting = [
            {
                "queue": c.queue,
                "caller": c.caller,
                "waiting_s": round((now_ms - c.joined_ms) / 1000, 1),
                "ringing": list(c.ringing),
            }
            for c in centre.waiting()
        ]
        talking = [
            {
                "queue": c.queue,
                "unique_id": c.unique_id,
                "server": c.server,
                "caller": c.caller,
                "agent": c.agent,
                "job_number": c.job_number,
                "talking_s": round((now_ms - (c.answered_ms or now_ms)) / 1000, 1),
                "ring_to_answer_ms": c.ring_to_answer_ms,
            }
            for c in centre.talking()
        ]
        agents = [
            {
                "interface": a.interface,
                "job_number": a.job_number,
                "name": a.name,
                "queues": list(a.queues),
                "state": a.state,
                "state_label": state_label(
                    BoardState(a.state), self.rules.language, a.pause_reason
                ),
                "device_state": a.device_state,
                "paused": a.paused,
                "pause_reason": a.pause_reason,
                "ringing_s": None
                if a.ringing_since_ms is None
                else round((now_ms - a.ringing_since_ms) / 1000, 1),
            }
            for a in centre.agents
        ]
        queues = {
            name: {"waiting": q.waiting, "longest_wait_s": q.longest_wait_s, "agents": q.agents}
            for name, q in centre.queues(now_ms).items()
        }
        at = datetime.fromtimestamp(now_ms / 1e3, self.timezone).replace(microsecond=0)
        return {
            "at": at.isoformat(),
            "ami_resyncs": self.tracking.resyncs,
            "bridges": list(centre.bridges),
            "queues": queues,
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
    ) -> SharedAgent:
        paused_in = tuple(m.queue for m in memberships if m.paused)
        reason = next((m.pause_reason for m in memberships if m.paused), "")
        device = memberships[0].state.value
        state = agent_state(
            AgentFacts(
                being_rung=interface in history.rung,
                talking=interface in history.talking,
                paused=bool(paused_in),
                pause_reason=reason,
                device=device,
                seconds_since_call_ended=history.since_call_ended(interface),
                last_ring_missed_s_ago=history.last_ring_missed(interface),
            ),
            self.rules.after_call_work_s,
            self.rules.not_answering_s,
        )
        rung = history.rung.get(interface)
        return SharedAgent(
            server=self.server,
            interface=interface,
            job_number=_job(known),
            name=known.name if known else memberships[0].name,
            queues=tuple(m.queue for m in memberships),
            paused_in=paused_in,
            state=state.value,
            device_state=device,
            pause_reason=reason,
            ringing_since_ms=None if rung is None else rung // 1000,
        )


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


def _job(agent: Agent | None) -> str | None:
    return agent.job_number if agent else None
