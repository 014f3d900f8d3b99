"""Repair dispatch over AMI: Originate to the crew on duty, and the events that finish calls.

As for callbacks, every bridge watches ``OriginateResponse`` and the ``Hangup`` of dispatch
legs, so a call placed by a bridge that has since died is still finished by the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.config import DispatchSettings
from ivr.db.dispatch import ACTION_PREFIX, SqlDispatch
from ivr.domain.callbacks import AttemptResult, result_of_originate_failure
from ivr.domain.dispatch import CallResult, DispatchClaim
from ivr.domain.phone import dial_string

log = logging.getLogger(__name__)

HANGUP_GRACE_S = 15.0  # after the leg hangs up, the conversation has this long to report
_RESULTS = {AttemptResult.NO_ANSWER: CallResult.NO_ANSWER, AttemptResult.BUSY: CallResult.BUSY}


class AmiDispatchOriginator:
    def __init__(self, ami: AmiClient, settings: DispatchSettings) -> None:
        self._ami = ami
        self._settings = settings

    async def originate(self, claim: DispatchClaim) -> None:
        variables = [f"IVR_DISPATCH_CALL={claim.action_id}"]
        if self._settings.agi_url:
            variables.append(f"IVR_DP_AGI={self._settings.agi_url}")
        await self._ami.action(
            {
                "Action": "Originate",
                "ActionID": claim.action_id,
                "Channel": dial_string(claim.phone, self._settings.trunk_context),
                "Context": self._settings.originate_context,
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"95598" <{self._settings.caller_id}>',
                "Timeout": str(claim.ring_timeout_s * 1000),
                "Variable": ",".join(variables),
                "Async": "true",
            }
        )


def originate_result(reason: str | int | None) -> CallResult:
    """Asterisk's originate failure reason (3 no answer, 5 busy, …) as a call result."""
    return _RESULTS.get(result_of_originate_failure(reason), CallResult.FAILED)


def watch_dispatch_events(
    ami: AmiClient,
    store: SqlDispatch,
    settings: DispatchSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and dispatch hang-ups from AMI, whichever bridge dialled."""
    pending: set[asyncio.Task[None]] = set()
    leg_marker = f"@{settings.trunk_context}-"

    def spawn(coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def originate_response(event: Any) -> None:
        action_id = str(event.get("ActionID", ""))
        if not action_id.startswith(ACTION_PREFIX):
            return
        try:
            if event.get("Response") == "Success":
                await store.answered(action_id, str(event.get("Uniqueid", "")), settings.max_call_s)
            else:
                reason = event.get("Reason")
                await store.finish(
                    action_id, originate_result(reason), f"originate reason {reason}"
                )
        except Exception:
            log.exception("could not record the originate result of %s", action_id)
        on_change()

    async def hangup(event: Any) -> None:
        channel = str(event.get("Channel", ""))
        if not (channel.startswith("Local/") and leg_marker in channel and channel.endswith(";1")):
            return
        try:
            await store.channel_ended(str(event.get("Uniqueid", "")), HANGUP_GRACE_S)
        except Exception:
            log.exception("could not record the end of a dispatch leg")
        on_change()

    ami.on_event("OriginateResponse", lambda event: spawn(originate_response(event)))
    ami.on_event("Hangup", lambda event: spawn(hangup(event)))
