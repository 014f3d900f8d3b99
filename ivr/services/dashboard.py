"""What the supervisors' dashboard, its JSON API and ``/metrics`` show: one snapshot.

Callers' numbers are masked here (supervisors watch the queues; they do not need the number),
so no view can leak one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ivr.domain.agents import Agent
from ivr.domain.privacy import mask_number
from ivr.ports import AgentDirectory, OutageRegister
from ivr.services.call_tracking import CallTracking
from ivr.services.security_events import SecurityEvents


@dataclass
class DashboardSource:
    tracking: CallTracking
    agents: AgentDirectory
    timezone: tzinfo
    cache_s: float = 1.0
    security: SecurityEvents | None = None  # Asterisk's security failures, when AMI is up
    outages: OutageRegister | None = None  # storm days: callers informed by a notice today
    _cached: tuple[float, dict[str, Any]] | None = None

    def day_start(self, now: datetime) -> datetime:
        local = now.astimezone(self.timezone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def snapshot(self) -> dict[str, Any]:
        """Live state plus today's figures (the figures are cached ``cache_s`` seconds)."""
        if self._cached and time.monotonic() - self._cached[0] < self.cache_s:
            figures = self._cached[1]
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
            self._cached = (time.monotonic(), figures)
        security = self.security.counts() if self.security is not None else {}
        return {
            **self._live(await self.agents.all()),
            "today": figures,
            "sip_security_events": security,
        }

    def _live(self, directory: list[Agent]) -> dict[str, Any]:
        now_us = self.tracking.now_us()
        by_interface = {a.interface: a for a in directory}
        waiting = [
            {
                "queue": v.queue,
                "caller": mask_number(v.caller_number),
                "waiting_s": round((now_us - v.joined_us) / 1e6, 1),
                "ringing": [r.interface for r in v.rings if r.end is None],
            }
            for v in self.tracking.waiting()
        ]
        talking = [
            {
                "queue": v.queue,
                "caller": mask_number(v.caller_number),
                "agent": v.agent_interface,
                "job_number": _job(by_interface.get(v.agent_interface or "")),
                "talking_s": round((now_us - (v.answered_us or now_us)) / 1e6, 1),
                "ring_to_answer_ms": v.ring_to_answer_ms,
            }
            for v in self.tracking.talking()
        ]
        agents = []
        for interface, memberships in self.tracking.board.by_interface().items():
            known = by_interface.get(interface)
            agents.append(
                {
                    "interface": interface,
                    "job_number": _job(known),
                    "name": known.name if known else memberships[0].name,
                    "queues": [m.queue for m in memberships],
                    "state": memberships[0].state.value,
                    "paused": any(m.paused for m in memberships),
                    "pause_reason": next((m.pause_reason for m in memberships if m.paused), ""),
                }
            )
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
        return {
            "at": datetime.fromtimestamp(now_us / 1e6, self.timezone).isoformat(),
            "ami_resyncs": self.tracking.resyncs,
            "queues": dict(sorted(queues.items())),
            "waiting": waiting,
            "talking": talking,
            "agents": agents,
        }


def _job(agent: Agent | None) -> str | None:
    return agent.job_number if agent else None
