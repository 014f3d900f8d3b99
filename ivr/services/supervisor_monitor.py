"""Supervisor listen / whisper / barge: the supervisor's own phone is called (AMI Originate)
into ``[ivr-monitor]``, which runs ChanSpy on the agent's leg of a live, answered call.

Everything that reaches Asterisk comes from our side: the phone from the monitor-phone
register (an admin assigned a provisioned seat), the spied channel from the tracker (the
queue visit this call is talking on, its agent leg's ``Uniqueid``, named by Asterisk's own
channel list), the options from the mode. The caller of the API names a call id and a mode.
Every request that gets this far is audited, refused ones included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from ivr.domain.access import Principal
from ivr.domain.monitoring import (
    MONITOR_CONTEXT,
    MONITORS,
    MonitorMode,
    MonitorPhone,
    MonitorRefused,
    MonitorSession,
    check_call_id,
    check_spied_channel,
)
from ivr.domain.queue_calls import QueueVisit
from ivr.ports import CallRepository
from ivr.services.call_tracking import CallTracking

log = logging.getLogger(__name__)

SPY_CHANNEL_VARIABLE = "IVR_SPY_CHANNEL"
# its other half ([ivr-monitor-tell]) plays a beep that this half whispers to the agent
TELL_CHANNEL = "Local/beep@ivr-monitor-tell"


class MonitorStore(Protocol):
    async def phone_of(self, principal: str) -> MonitorPhone | None: ...

    async def phones(self) -> list[MonitorPhone]: ...

    async def set_phone(self, principal: str, seat: str, by: str) -> bool: ...

    async def remove_phone(self, principal: str) -> bool: ...

    async def audit(self, session: MonitorSession) -> MonitorSession: ...

    async def sessions(self, call_id: str | None, limit: int) -> list[MonitorSession]: ...


class MonitorChannels(Protocol):
    async def channel_of(self, unique_id: str) -> str | None: ...

    async def originate_monitor(
        self, device: str, context: str, exten: str, variables: dict[str, str]
    ) -> None: ...


class SupervisorMonitor:
    def __init__(
        self,
        tracking: CallTracking,
        calls: CallRepository,
        store: MonitorStore,
        clock: Callable[[], datetime],
        tell_agent: bool = False,
    ) -> None:
        self._tracking = tracking
        self._calls = calls
        self._store = store
        self._clock = clock
        self.tell_agent = tell_agent
        self.channels: MonitorChannels | None = None  # set once AMI is configured

    @property
    def store(self) -> MonitorStore:
        """The phones register and the audit (the API reads and, for admins, sets them)."""
        return self._store

    def _talking(self, unique_id: str) -> QueueVisit | None:
        for visit in self._tracking.talking():
            if visit.unique_id == unique_id and visit.agent_channel_uid:
                return visit
        return None

    async def start(self, who: Principal, call_id: str, mode: MonitorMode) -> MonitorSession:
        """Ring ``who``'s phone into ChanSpy on ``call_id``'s agent; the audited session, or
        ``MonitorRefused`` (audited too, once the call id is well-formed)."""
        check_call_id(call_id)
        session = MonitorSession(self._clock(), who.name, who.role.value, call_id, mode, "refused")
        try:
            session = await self._start(who, session)
        except MonitorRefused as exc:
            outcome = "failed" if exc.status >= 500 else "refused"
            await self._audit(replace(session, outcome=outcome, detail=str(exc)))
            log.warning(
                "%s (%s) %s call %s refused: %s", who.name, who.role.value, mode.value, call_id, exc
            )
            raise
        return await self._audit(session)

    async def _start(self, who: Principal, session: MonitorSession) -> MonitorSession:
        if not who.may(MONITORS):
            raise MonitorRefused(403, "only supervisors listen to calls")
        phone = await self._store.phone_of(who.name)
        if phone is None:
            raise MonitorRefused(409, f"no monitor phone is assigned to {who.name}")
        session = replace(session, seat=phone.seat)
        record = await self._calls.get(session.call_id)
        if record is None:
            raise MonitorRefused(404, "no such call")
        visit = self._talking(record.unique_id)
        if visit is None:
            raise MonitorRefused(409, "the call is not live and answered by an agent")
        session = replace(session, agent_job_number=visit.agent_job_number)
        channels = self.channels
        if channels is None:
            raise MonitorRefused(503, "no AMI connection configured")
        assert visit.agent_channel_uid is not None
        try:
            channel = await channels.channel_of(visit.agent_channel_uid)
        except Exception as exc:
            raise MonitorRefused(503, f"Asterisk did not answer ({type(exc).__name__})") from exc
        if channel is None:
            raise MonitorRefused(409, "the call has ended")
        check_spied_channel(channel)
        variables = {SPY_CHANNEL_VARIABLE: channel}
        try:
            if self.tell_agent:  # the site tells its agents: a beep whispered to them first
                await channels.originate_monitor(TELL_CHANNEL, MONITOR_CONTEXT, "tell", variables)
            await channels.originate_monitor(
                phone.device, MONITOR_CONTEXT, session.mode.value, variables
            )
        except Exception as exc:
            raise MonitorRefused(
                503, f"the phone could not be called ({type(exc).__name__})"
            ) from exc
        log.info(
            "%s %s call %s (agent %s) on seat %s",
            who.name,
            session.mode.value,
            session.call_id,
            visit.agent_job_number or "?",
            phone.seat,
        )
        return replace(session, outcome="started")

    async def _audit(self, session: MonitorSession) -> MonitorSession:
        return await self._store.audit(session)
