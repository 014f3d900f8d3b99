"""Repair dispatch over AMI: Originate to the crew on duty, and the events that finish calls.

As for callbacks, every bridge watches ``OriginateResponse`` and the ``Hangup`` of dispatch
legs (``ivr.asterisk.leg_watch``), so a call placed by a bridge that has since died is still
finished by the others. The Originate itself is ``ivr.asterisk.originate``'s, also shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.leg_watch import RecordedLegs, watch_outbound_legs
from ivr.asterisk.originate import AmiLegOriginator, OutboundRoute
from ivr.config import DispatchSettings
from ivr.domain.attempt_ids import DISPATCH_CALL
from ivr.domain.callbacks import AttemptResult, result_of_originate_failure
from ivr.domain.dispatch import CallResult, DispatchClaim
from ivr.domain.leg_keys import LegKeys
from ivr.ports import DispatchLegStore

_RESULTS = {AttemptResult.NO_ANSWER: CallResult.NO_ANSWER, AttemptResult.BUSY: CallResult.BUSY}


def dispatch_originator(
    ami: AmiClient, settings: DispatchSettings, keys: LegKeys
) -> AmiLegOriginator[DispatchClaim]:
    route = OutboundRoute(
        trunk_context=settings.trunk_context,
        originate_context=settings.originate_context,
        caller_id=settings.caller_id,
        attempt_variable="IVR_DISPATCH_CALL",
        agi_variable="IVR_DP_AGI",
        agi_url=settings.agi_url,
    )
    return AmiLegOriginator(ami, route, lambda claim: claim.ring_timeout_s, keys)


def originate_result(reason: str | int | None) -> CallResult:
    """Asterisk's originate failure reason (3 no answer, 5 busy, …) as a call result."""
    return _RESULTS.get(result_of_originate_failure(reason), CallResult.FAILED)


def watch_dispatch_events(
    ami: AmiClient,
    store: DispatchLegStore,
    settings: DispatchSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and dispatch hang-ups from AMI, whichever bridge dialled."""

    async def originate_failed(action_id: str, reason: Any) -> None:
        await store.finish(action_id, originate_result(reason), f"originate reason {reason}")

    legs = RecordedLegs(DISPATCH_CALL, "dispatch", store, settings.max_call_s, originate_failed)
    watch_outbound_legs(ami, legs, settings.trunk_context, on_change)
