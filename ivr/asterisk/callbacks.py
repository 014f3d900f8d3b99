"""Callbacks over AMI: Originate for the dialer, and the events that finish attempts.

Every bridge watches ``OriginateResponse`` (AMI broadcasts it to every session allowed to read
call events) and ``Hangup`` of callback legs, so an attempt placed by a bridge that has since
died is still finished correctly by the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.config import CallbackSettings
from ivr.db.callbacks import SqlCallbacks
from ivr.domain.callbacks import Claim, result_of_originate_failure
from ivr.domain.phone import dial_string

log = logging.getLogger(__name__)

ACTION_PREFIX = "cb-"
HANGUP_GRACE_S = 15.0  # after the leg hangs up, the conversation has this long to report


class AmiOriginator:
    def __init__(self, ami: AmiClient, settings: CallbackSettings) -> None:
        self._ami = ami
        self._settings = settings

    async def originate(self, claim: Claim) -> None:
        variables = [f"IVR_CALLBACK_ATTEMPT={claim.action_id}"]
        if self._settings.agi_url:
            variables.append(f"IVR_CB_AGI={self._settings.agi_url}")
        await self._ami.action(
            {
                "Action": "Originate",
                "ActionID": claim.action_id,
                "Channel": dial_string(claim.phone, self._settings.trunk_context),
                "Context": self._settings.originate_context,
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"95598" <{self._settings.caller_id}>',
                "Timeout": str(int(self._settings.ring_timeout_s * 1000)),
                "Variable": ",".join(variables),
                "Async": "true",
            }
        )


def watch_callback_events(
    ami: AmiClient,
    store: SqlCallbacks,
    settings: CallbackSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and callback hang-ups from AMI, whichever bridge dialled."""
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
                await store.originate_failed(
                    action_id, result_of_originate_failure(reason), f"originate reason {reason}"
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
            log.exception("could not record the end of a callback leg")
        on_change()

    async def reconcile() -> None:
        """After a (re)connect: callback legs that hung up while we were not listening."""
        asked_at = datetime.now(UTC)  # attempts answered after this may be missing from the list
        try:
            channels = await ami.action_list({"Action": "CoreShowChannels"}, timeout_s=15)
            present = {
                str(c.get("Uniqueid")) for c in channels if c.get("Event") == "CoreShowChannel"
            }
            ended = await store.legs_gone(present, asked_at, HANGUP_GRACE_S)
        except Exception:
            log.exception("could not reconcile callback legs after the AMI login")
            return
        if ended:
            log.warning("%d callback legs ended while AMI was away", ended)
        on_change()

    ami.on_login(lambda: spawn(reconcile()))
    ami.on_event("OriginateResponse", lambda event: spawn(originate_response(event)))
    ami.on_event("Hangup", lambda event: spawn(hangup(event)))
