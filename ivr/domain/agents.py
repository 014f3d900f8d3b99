"""Agents (客户代表): who they are, their opening line, and their live state in the queues."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ivr.domain import scripts, spoken

JOB_NUMBER = re.compile(rf"^[0-9]{{1,{spoken.JOB_NUMBER_MAX_DIGITS}}}$")
# The only devices [agent-dial] dials: a PJSIP endpoint with a name that cannot smuggle Dial
# syntax (no '&', ',', '/', '@', spaces). Checked here and again in the dialplan.
PHONE_DEVICE = re.compile(r"^PJSIP/[A-Za-z0-9_-]{1,40}$")
AGENT_DIAL_CONTEXT = "agent-dial"  # shipped in asterisk_conf/extensions.conf
# The pause reason of after-call work (话后处理): the bridge pauses an agent with it when their
# call ends and unpauses them when the wrap-up time is over (``ivr.services.wrap_up``); an
# agent or supervisor can never pause with it themselves.
AFTER_CALL_WORK_REASON = "话后处理"


def greeting_text(job_number: str) -> str:
    """The standard opening on answer: 您好，{工号}号为您服务."""
    if not JOB_NUMBER.match(job_number):
        raise ValueError("a job number (工号) is 1-16 digits")
    return scripts.opening(job_number)


def phone_member_interface(job_number: str) -> str:
    """The queue member for an agent on a desk phone: ``[agent-dial]`` rings the phone and
    greets the caller on answer (a bare ``PJSIP/…`` member could not play the greeting)."""
    if not JOB_NUMBER.match(job_number):
        raise ValueError("a job number (工号) is 1-16 digits")
    return f"Local/{job_number}@{AGENT_DIAL_CONTEXT}/n"


def device_state_interface(device: str) -> str:
    """What Asterisk watches for the member's busy/ringing state: the phone itself (a Local
    stand-in's device state is named without the ``/n``)."""
    return device.removesuffix("/n")


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent as the database knows them. ``interface`` is their queue member interface;
    ``device`` their phone (``PJSIP/<endpoint>``) when the member is ``[agent-dial]``, else None
    (simulated agents are members themselves)."""

    job_number: str
    name: str
    interface: str
    skills: tuple[str, ...]  # the queues the agent logs in to
    device: str | None = None


class AgentRoster:
    """Who answers at which member interface, as the agents table said when last read.

    Kept in memory so the call tracker can put the agent's job number on every ring and
    answer without a query per event; the tracking service reloads it when agents change.
    """

    def __init__(self, agents: Iterable[Agent] = ()) -> None:
        self._by_interface: dict[str, str] = {}
        self._jobs: frozenset[str] = frozenset()
        self.load(agents)

    def load(self, agents: Iterable[Agent]) -> None:
        by_interface = {a.interface: a.job_number for a in agents}
        self._by_interface, self._jobs = by_interface, frozenset(by_interface.values())

    def note(self, agent: Agent) -> None:
        """One agent as just read (e.g. at login), before the next full reload."""
        by_interface = {i: j for i, j in self._by_interface.items() if j != agent.job_number}
        by_interface[agent.interface] = agent.job_number
        self._by_interface, self._jobs = by_interface, frozenset(by_interface.values())

    def __len__(self) -> int:
        return len(self._by_interface)

    def job_number_for(self, interface: str, member_name: str = "") -> str | None:
        """The member's name when it is a known job number (the bridge adds members named
        by 工号 at login: who logged in, even if the table changed since), else the agent
        the table gives that interface now, else None."""
        if member_name in self._jobs:
            return member_name
        return self._by_interface.get(interface)


class MemberState(StrEnum):
    """Asterisk's device state of a queue member (QueueMember ``Status``), by name."""

    UNKNOWN = "unknown"
    IDLE = "idle"
    IN_CALL = "in_call"
    BUSY = "busy"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    RINGING = "ringing"
    RING_IN_CALL = "ringing_in_call"
    ON_HOLD = "on_hold"


_STATUS = {
    "0": MemberState.UNKNOWN,
    "1": MemberState.IDLE,
    "2": MemberState.IN_CALL,
    "3": MemberState.BUSY,
    "4": MemberState.INVALID,
    "5": MemberState.UNAVAILABLE,
    "6": MemberState.RINGING,
    "7": MemberState.RING_IN_CALL,
    "8": MemberState.ON_HOLD,
}


def member_state(status: str) -> MemberState:
    return _STATUS.get(status.strip(), MemberState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Membership:
    queue: str
    interface: str
    name: str
    state: MemberState = MemberState.UNKNOWN
    paused: bool = False
    pause_reason: str = ""
    calls_taken: int = 0


@dataclass(slots=True)
class AgentBoard:
    """Queue membership as Asterisk last told us, keyed by (queue, interface)."""

    members: dict[tuple[str, str], Membership] = field(default_factory=dict)

    def upsert(self, member: Membership) -> None:
        self.members[(member.queue, member.interface)] = member

    def update(self, queue: str, interface: str, **changes: object) -> None:
        current = self.members.get((queue, interface))
        if current is not None:
            self.members[(queue, interface)] = replace(current, **changes)  # type: ignore[arg-type]

    def remove(self, queue: str, interface: str) -> None:
        self.members.pop((queue, interface), None)

    def replace_all(self, members: list[Membership]) -> None:
        self.members = {(m.queue, m.interface): m for m in members}

    def by_interface(self) -> dict[str, list[Membership]]:
        out: dict[str, list[Membership]] = {}
        for member in sorted(self.members.values(), key=lambda m: (m.interface, m.queue)):
            out.setdefault(member.interface, []).append(member)
        return out
