"""Virtual-hold call-backs over AMI: the Originate, and the events that finish an attempt.

The customer is dialled like a 回访 (``Local/<number>@<trunk_context>``, the leg key, the
dialer's caller id); the answered leg runs ``[vhold-out]`` in the dialplan, not a FastAGI
conversation: it plays the greeting and joins the queue at the place's ``position``, so a
bridge that dies after dialling costs the customer nothing. ``[vhold-connected]`` (Queue's
gosub on the agent's leg) sends ``UserEvent IvrCallBackConnected`` the moment an agent
answers. Every bridge records ``OriginateResponse``, that event and the leg's ``Hangup``
(``ivr.asterisk.leg_watch``), whichever bridge dialled.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.leg_watch import RecordedLegs, reconcile_on_login, watch_outbound_legs
from ivr.asterisk.originate import originate
from ivr.config import CallbackSettings
from ivr.domain.attempt_ids import VHOLD_ATTEMPT
from ivr.domain.callbacks import result_of_originate_failure
from ivr.domain.leg_keys import LegKeys
from ivr.domain.virtual_hold import CALL_ID, QUEUE_NAME, CallBackClaim
from ivr.ports import KeptPlaceStore

log = logging.getLogger(__name__)

ORIGINATE_CONTEXT = "vhold-out"
CONNECTED_EVENT = "IvrCallBackConnected"


class CallBackOriginatorAmi:
    """The ``CallBackOriginator`` port: every value that reaches the dialplan is checked."""

    def __init__(
        self,
        ami: AmiClient,
        settings: CallbackSettings,
        keys: LegKeys,
        greeting: Callable[[], Awaitable[Path]],
    ) -> None:
        self._ami = ami
        self._settings = settings
        self._keys = keys
        self._greeting = greeting  # the rendered greeting (path without extension)

    async def originate(self, claim: CallBackClaim) -> None:
        if not VHOLD_ATTEMPT.valid(claim.action_id) or not QUEUE_NAME.match(claim.queue):
            raise ValueError("a call-back with a malformed id or queue is not dialled")
        variables = [
            f"IVR_VHOLD_ATTEMPT={claim.action_id}",
            f"IVR_LEG_KEY={self._keys.key_for(claim.action_id)}",
            f"IVR_VHOLD_QUEUE={claim.queue}",
            f"IVR_VHOLD_POSITION={max(1, int(claim.position))}",
        ]
        if claim.call_id and CALL_ID.match(claim.call_id):
            variables.append(f"IVR_VHOLD_CALL={claim.call_id}")
        greeting = str(await self._greeting())
        if "," not in greeting and "=" not in greeting:
            variables.append(f"IVR_VHOLD_PROMPT={greeting}")
        await originate(
            self._ami,
            action_id=claim.action_id,
            phone=claim.phone,
            trunk_context=self._settings.trunk_context,
            originate_context=ORIGINATE_CONTEXT,
            caller_id=self._settings.caller_id,
            ring_timeout_s=self._settings.ring_timeout_s,
            variables=variables,
        )


def watch_call_back_events(
    ami: AmiClient,
    store: KeptPlaceStore,
    settings: CallbackSettings,
    max_call_s: float,
    on_change: Callable[[], None],
) -> None:
    """Record originate results, agents' answers and leg hang-ups of call-backs."""

    async def originate_failed(action_id: str, reason: Any) -> None:
        result = result_of_originate_failure(reason)
        await store.originate_failed(action_id, result, f"originate reason {reason}")

    legs = RecordedLegs(VHOLD_ATTEMPT, "call-back", store, max_call_s, originate_failed)
    spawn = watch_outbound_legs(ami, legs, settings.trunk_context, on_change)

    async def connected(event: Any) -> None:
        action_id = str(event.get("Attempt", ""))
        if not VHOLD_ATTEMPT.valid(action_id):
            return
        try:
            await store.connected(action_id)
        except Exception:
            log.exception("could not record that call-back %s reached an agent", action_id)
        on_change()

    def user_event(event: Any) -> None:
        if event.get("UserEvent") == CONNECTED_EVENT:
            spawn(connected(event))

    ami.on_event("UserEvent", user_event)
    reconcile_on_login(ami, store, "call-back", spawn, on_change)
