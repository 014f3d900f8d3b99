"""Blind transfer (转接) of the call an agent is talking on, to another queue or to a named
agent, through AMI ``Redirect`` of the caller's channel into ``[agent-transfer]``.

The call is found by the tracker (the queue visit this agent answered and is still talking
on), never named by the page; the target is an allowed queue or an agent's 工号, which the
dialplan turns into that agent's own ``[agent-dial]`` member. The transfer is stored on the
call. The work order recorded on the call keeps its owner (首问负责制): nothing here touches
orders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from ivr.domain.access import Principal
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import QueueVisit
from ivr.domain.transfers import (
    TRANSFER_CONTEXT,
    CallTransfer,
    TargetKind,
    TransferRefused,
    transfer_target,
)
from ivr.ports import CallTransferStore
from ivr.services.agent_control import AgentControl, AgentControlError, actor_of
from ivr.services.call_tracking import CallTracking

log = logging.getLogger(__name__)

CALL_ID_VARIABLE = "IVR_CALL_ID"  # set by the bridge on the caller's channel in the menu


class ChannelControl(Protocol):
    async def channel_of(self, unique_id: str) -> str | None:
        """The live channel's name for Asterisk's ``Uniqueid`` (None: gone)."""
        ...

    async def get_variable(self, channel: str, name: str) -> str | None: ...

    async def redirect(self, channel: str, context: str, exten: str) -> None: ...


class CallTransferService:
    def __init__(
        self,
        control: AgentControl,
        tracking: CallTracking,
        store: CallTransferStore | None,
        allowed_queues: frozenset[str],
        clock: Callable[[], datetime],
    ) -> None:
        self._control = control
        self._tracking = tracking
        self._store = store
        self.allowed_queues = allowed_queues
        self.channels: ChannelControl | None = None  # set once AMI is configured
        self._clock = clock

    def current_call(self, job_number: str, interface: str) -> QueueVisit | None:
        """The queue call this agent answered and is still talking on."""
        for visit in self._tracking.talking():
            if visit.agent_job_number == job_number or visit.agent_interface == interface:
                return visit
        return None

    async def transfer(
        self, who: Principal, queue: str | None, job_number: str | None
    ) -> CallTransfer:
        """Move the calling agent's current call; raises ``TransferRefused`` (with the HTTP
        status) or ``AgentControlError``; an AMI failure propagates (the web says 503)."""
        agent = await self._control.own_agent(who)
        target = transfer_target(queue, job_number, self.allowed_queues)
        visit = self.current_call(agent.job_number, agent.interface)
        if visit is None:
            raise TransferRefused(409, "you are not talking on a queue call")
        if target.kind is TargetKind.QUEUE and target.target == visit.queue:
            raise TransferRefused(400, f"the call came from {visit.queue}: choose another queue")
        if target.kind is TargetKind.AGENT:
            await self._check_agent(agent.job_number, target.target)
        channels = self.channels
        if channels is None:
            raise AgentControlError(503, "no AMI connection configured")
        channel = await channels.channel_of(visit.unique_id)
        if channel is None:
            raise TransferRefused(409, "the call has ended")
        call_id = await channels.get_variable(channel, CALL_ID_VARIABLE)
        await channels.redirect(channel, TRANSFER_CONTEXT, target.extension)
        done = CallTransfer(
            unique_id=visit.unique_id,
            call_id=call_id if call_id and call_id.isalnum() else None,
            at=self._clock(),
            from_job_number=agent.job_number,
            from_queue=visit.queue,
            target=target,
            actor=actor_of(who),
        )
        log.info(
            "agent %s transferred the call of %s from %s to %s %s",
            agent.job_number,
            mask_number(visit.caller_number),
            visit.queue,
            target.kind.value,
            target.target,
        )
        if self._store is not None:
            try:
                await self._store.record(done)
            except Exception:  # the call has moved: say so, and log what was not stored
                log.exception("transfer of call %s not stored", done.call_id or "-")
        return done

    async def _check_agent(self, own: str, job_number: str) -> None:
        if job_number == own:
            raise TransferRefused(400, "that is you: choose another agent or a queue")
        other = await self._control.agent(job_number)
        if other is None:
            raise TransferRefused(404, f"no agent with job number {job_number}")
        if other.device is None:
            raise TransferRefused(409, f"agent {job_number} has no seat to ring")
        members = self._tracking.board.by_interface().get(other.interface)
        if not members:
            raise TransferRefused(409, f"agent {job_number} is not logged in")
        if any(m.paused for m in members):
            raise TransferRefused(409, f"agent {job_number} is paused")
