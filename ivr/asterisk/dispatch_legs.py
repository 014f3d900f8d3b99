"""Repair dispatch over AMI: Originate to the crew on duty, and the events that finish calls.

As for callbacks, every bridge watches ``OriginateResponse`` and the ``Hangup`` of dispatch
legs (``ivr.asterisk.leg_watch``), so a call placed by a bridge that has since died is still
finished by the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.leg_watch import HANGUP_GRACE_S, watch_outbound_legs
from ivr.asterisk.originate import originate
from ivr.config import DispatchSettings
from ivr.domain.attempt_ids import DISPATCH_CALL
from ivr.domain.callbacks import AttemptResult, result_of_originate_failure
from ivr.domain.dispatch import CallResult, DispatchClaim
from ivr.ports import DispatchLegStore

log = logging.getLogger(__name__)

_RESULTS = {AttemptResult.NO_ANSWER: CallResult.NO_ANSWER, AttemptResult.BUSY: CallResult.BUSY}


class AmiDispatchOriginator:
    def __init__(self, ami: AmiClient, settings: DispatchSettings) -> None:
        self._ami = ami
        self._settings = settings

    async def originate(self, claim: DispatchClaim) -> None:
        variables = [f"IVR_DISPATCH_CALL={claim.action_id}"]
        if self._settings.agi_url:
            variables.append(f"IVR_DP_AGI={self._settings.agi_url}")
        await originate(
            self._ami,
            action_id=claim.action_id,
            phone=claim.phone,
            trunk_context=self._settings.trunk_context,
            originate_context=self._settings.originate_context,
            caller_id=self._settings.caller_id,
            ring_timeout_s=claim.ring_timeout_s,
            variables=variables,
        )


def originate_result(reason: str | int | None) -> CallResult:
    """Asterisk's originate failure reason (3 no answer, 5 busy, …) as a call result."""
    return _RESULTS.get(result_of_originate_failure(reason), CallResult.FAILED)


class _DispatchLegs:
    """Calls to crews as the shared leg watcher records them."""

    action_prefix = DISPATCH_CALL.prefix
    leg_name = "dispatch"

    def __init__(self, store: DispatchLegStore, settings: DispatchSettings) -> None:
        self._store = store
        self._settings = settings

    async def answered(self, action_id: str, unique_id: str) -> None:
        await self._store.answered(action_id, unique_id, self._settings.max_call_s)

    async def originate_failed(self, action_id: str, reason: Any) -> None:
        await self._store.finish(action_id, originate_result(reason), f"originate reason {reason}")

    async def leg_ended(self, unique_id: str) -> None:
        await self._store.channel_ended(unique_id, HANGUP_GRACE_S)


def watch_dispatch_events(
    ami: AmiClient,
    store: DispatchLegStore,
    settings: DispatchSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and dispatch hang-ups from AMI, whichever bridge dialled."""
    watch_outbound_legs(ami, _DispatchLegs(store, settings), settings.trunk_context, on_change)
