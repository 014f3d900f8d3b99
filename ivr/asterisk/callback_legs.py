"""Callbacks over AMI: Originate for the dialer, and the events that finish attempts.

Every bridge watches ``OriginateResponse`` (AMI broadcasts it to every session allowed to read
call events) and ``Hangup`` of callback legs (``ivr.asterisk.leg_watch``, shared with repair
dispatch), so an attempt placed by a bridge that has since died is still finished correctly by
the others. The Originate itself is ``ivr.asterisk.originate``'s, also shared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.leg_watch import RecordedLegs, reconcile_on_login, watch_outbound_legs
from ivr.asterisk.originate import AmiLegOriginator, OutboundRoute
from ivr.config import CallbackSettings
from ivr.domain.attempt_ids import CALLBACK_ATTEMPT
from ivr.domain.callbacks import Claim, result_of_originate_failure
from ivr.domain.leg_keys import LegKeys
from ivr.ports import CallbackLegStore

log = logging.getLogger(__name__)


def callback_originator(
    ami: AmiClient, settings: CallbackSettings, keys: LegKeys
) -> AmiLegOriginator[Claim]:
    route = OutboundRoute(
        trunk_context=settings.trunk_context,
        originate_context=settings.originate_context,
        caller_id=settings.caller_id,
        attempt_variable="IVR_CALLBACK_ATTEMPT",
        agi_variable="IVR_CB_AGI",
        agi_url=settings.agi_url,
    )
    return AmiLegOriginator(ami, route, lambda _claim: settings.ring_timeout_s, keys)


def watch_callback_events(
    ami: AmiClient,
    store: CallbackLegStore,
    settings: CallbackSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and callback hang-ups from AMI, whichever bridge dialled."""

    async def originate_failed(action_id: str, reason: Any) -> None:
        result = result_of_originate_failure(reason)
        await store.originate_failed(action_id, result, f"originate reason {reason}")

    legs = RecordedLegs(CALLBACK_ATTEMPT, "callback", store, settings.max_call_s, originate_failed)
    spawn = watch_outbound_legs(ami, legs, settings.trunk_context, on_change)

    reconcile_on_login(ami, store, "callback", spawn, on_change)
