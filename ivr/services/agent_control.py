"""Agents log in and out of their skills' queues and pause, through AMI; who may do it.

An agent may act only on themselves (matched by job number); supervisors (and admins) on
anyone. Asterisk is the truth for live state: this service changes it, the call tracker reports
it; every change made here is also stored with its time (``AgentStateStore``), which the
monthly report adds up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ivr.domain.access import Principal, Role
from ivr.domain.agent_state import AgentState, StateChange
from ivr.domain.agents import (
    AFTER_CALL_WORK_REASON,
    AGENT_DIAL_CONTEXT,
    JOB_NUMBER,
    PHONE_DEVICE,
    Agent,
    device_state_interface,
    phone_member_interface,
)
from ivr.ports import AgentStateStore

log = logging.getLogger(__name__)

QUEUE_NAME = re.compile(r"^q-[a-z0-9-]{1,30}$")
MEMBER_INTERFACE = re.compile(r"^(PJSIP/[A-Za-z0-9_-]{1,40}|Local/[0-9]{1,16}@[a-z0-9-]{1,40}/n)$")


class QueueControl(Protocol):
    async def queue_add(
        self, queue: str, interface: str, member_name: str, state_interface: str | None = None
    ) -> None: ...

    async def set_agent_device(self, job_number: str, device: str | None) -> None: ...

    async def queue_remove(self, queue: str, interface: str) -> None: ...

    async def queue_pause(
        self, queue: str | None, interface: str, paused: bool, reason: str
    ) -> None: ...


class AgentStore(Protocol):
    async def get(self, job_number: str) -> Agent | None: ...

    async def put(self, agent: Agent) -> None: ...


class AgentControlError(Exception):
    """Refused; ``status`` says how (the web layer maps it to HTTP)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def valid_device(device: str, test_phone_context: str | None = None) -> bool:
    """``PJSIP/<endpoint>``; in the sandbox also ``Local/<digits>@<test_phone_context>/n``, a
    stand-in phone (the dialplan accepts it only where ``IVR_TEST_PHONES`` names that context)."""
    if PHONE_DEVICE.match(device):
        return True
    if test_phone_context and re.fullmatch(r"[a-z0-9-]{1,40}", test_phone_context):
        return re.fullmatch(rf"Local/[0-9]{{1,16}}@{test_phone_context}/n", device) is not None
    return False


def check_agent(
    agent: Agent, test_phone_context: str | None = None, test_member_context: str | None = None
) -> Agent:
    """An agent record as we accept it from the API; the message says what is wrong.

    Only an agent's own seat can become a queue member (``Local/<工号>@agent-dial/n``, which
    rings their ``PJSIP/<seat>``): a member interface in any other context would let whoever
    sets it point a queue at the outbound trunk (toll fraud) or back at the 95598 entry (a call
    storm). The sandbox's simulated agents (``Local/<digits>@<test_member_context>/n``) are
    accepted only where that context is configured (``sandbox.simulated_agents``)."""
    if not JOB_NUMBER.match(agent.job_number):
        raise AgentControlError(400, "job_number is 1-16 digits")
    if agent.device is not None:
        if not valid_device(agent.device, test_phone_context):
            raise AgentControlError(400, "device is PJSIP/<endpoint> (letters, digits, _ and -)")
        if agent.interface != phone_member_interface(agent.job_number):
            raise AgentControlError(
                400, f"an agent with a device is member {phone_member_interface(agent.job_number)}"
            )
    elif f"@{AGENT_DIAL_CONTEXT}/" in agent.interface:
        raise AgentControlError(400, f"a member in {AGENT_DIAL_CONTEXT} needs a device to dial")
    elif not _simulated_member(agent.interface, test_member_context):
        raise AgentControlError(
            400, "an agent answers on their seat: give device PJSIP/<seat> (no other interface)"
        )
    if not MEMBER_INTERFACE.match(agent.interface):
        raise AgentControlError(400, "interface is PJSIP/<endpoint> or Local/<digits>@<ctx>/n")
    if not agent.skills or not all(QUEUE_NAME.match(q) for q in agent.skills):
        raise AgentControlError(400, "skills is a non-empty list of queue names (q-…)")
    if not 1 <= len(agent.name) <= 64 or not agent.name.isprintable():
        raise AgentControlError(400, "name is 1-64 printable characters")
    return agent


def _simulated_member(interface: str, context: str | None) -> bool:
    if not context or not re.fullmatch(r"[a-z0-9-]{1,40}", context):
        return False
    return re.fullmatch(rf"Local/[0-9]{{1,16}}@{context}/n", interface) is not None


def actor_of(who: Principal) -> str:
    """Who made a change, as stored with it (``role:工号`` or ``role:name``)."""
    return f"{who.role.value}:{who.job_number or who.name}"[:64]


StateListener = Callable[[StateChange], None]


class AgentControl:
    def __init__(
        self,
        agents: AgentStore,
        queues: QueueControl | None,
        test_phone_context: str | None = None,
        logging_in: Callable[[Agent], None] | None = None,
        states: AgentStateStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._agents = agents
        self.states = states  # where every change is stored with its time (None: not stored)
        self.clock = clock
        # told every change made here (after-call work drops its timer on a pause or logout)
        self.listeners: list[StateListener] = []
        self.queues = queues  # set once AMI is configured
        self.test_phone_context = test_phone_context  # sandbox stand-in phones, never a site
        self.test_member_context: str | None = None  # sandbox simulated agents, never a site
        # told the fresh record before QueueAdd, so the call tracker knows whose member rings
        # first (waiting callers ring a new member at once)
        self._logging_in = logging_in

    async def log_in(self, who: Principal, job_number: str) -> Agent:
        """Tell Asterisk the agent's phone (a global ``[agent-dial]`` reads) and then add the
        member to each skill queue, its state watched on the phone itself."""
        agent, queues = await self._allowed(who, job_number)
        state_interface = None
        # the stored record is checked again: a row written around the API never dials
        check_agent(agent, self.test_phone_context, self.test_member_context)
        if agent.device is not None:
            await queues.set_agent_device(agent.job_number, agent.device)
            state_interface = device_state_interface(agent.device)
        if self._logging_in is not None:
            self._logging_in(agent)
        for queue in agent.skills:
            await queues.queue_add(queue, agent.interface, agent.job_number, state_interface)
        await self.record(agent.job_number, AgentState.READY, "", actor_of(who))
        return agent

    async def log_out(self, who: Principal, job_number: str) -> Agent:
        agent, queues = await self._allowed(who, job_number)
        for queue in agent.skills:
            await queues.queue_remove(queue, agent.interface)
        if agent.device is not None:
            await queues.set_agent_device(agent.job_number, None)
        await self.record(agent.job_number, AgentState.LOGGED_OUT, "", actor_of(who))
        return agent

    async def pause(self, who: Principal, job_number: str, paused: bool, reason: str) -> Agent:
        agent, queues = await self._allowed(who, job_number)
        if not reason.isprintable() or len(reason) > 64:
            raise AgentControlError(400, "reason is at most 64 printable characters")
        if reason == AFTER_CALL_WORK_REASON:
            raise AgentControlError(400, f"{AFTER_CALL_WORK_REASON} is set by the bridge only")
        await queues.queue_pause(None, agent.interface, paused, reason)
        state = AgentState.PAUSED if paused else AgentState.READY
        await self.record(agent.job_number, state, reason if paused else "", actor_of(who))
        return agent

    async def record(self, job_number: str, state: AgentState, reason: str, actor: str) -> bool:
        """Store a change made now (Asterisk has taken it) and tell the listeners. A store
        that fails loses the line in the report, never the change itself: logged, not raised."""
        if self.clock is None:
            return False
        return await self.record_change(StateChange(job_number, state, self.clock(), reason, actor))

    async def record_change(self, change: StateChange) -> bool:
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not undo what Asterisk already did
                log.exception("agent state listener failed")
        if self.states is None:
            return False
        try:
            return await self.states.record(change)
        except Exception:
            log.exception(
                "could not store agent %s's change to %s", change.job_number, change.state.value
            )
            return False

    async def agent(self, job_number: str) -> Agent | None:
        return await self._agents.get(job_number)

    async def own_agent(self, who: Principal) -> Agent:
        """The calling agent's own record (the ``/api/agents/me`` routes)."""
        if who.role is not Role.AGENT or who.job_number is None:
            raise AgentControlError(403, "only an agent's own token has a 'me'")
        agent = await self._agents.get(who.job_number)
        if agent is None:
            raise AgentControlError(404, f"no agent with job number {who.job_number}")
        return agent

    async def _allowed(self, who: Principal, job_number: str) -> tuple[Agent, QueueControl]:
        if not JOB_NUMBER.match(job_number):
            raise AgentControlError(400, "job_number is 1-16 digits")
        if who.role is Role.AGENT and who.job_number != job_number:
            raise AgentControlError(403, "an agent may act only on themselves")
        if who.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
            raise AgentControlError(403, f"role {who.role.value!r} may not do this")
        agent = await self._agents.get(job_number)
        if agent is None:
            raise AgentControlError(404, f"no agent with job number {job_number}")
        if self.queues is None:
            raise AgentControlError(503, "no AMI connection configured")
        return agent, self.queues
