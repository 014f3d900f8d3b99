"""Callbacks over AMI: Originate for the dialer, and the events that finish attempts.

Every bridge watches ``OriginateResponse`` (AMI broadcasts it to every session allowed to read
call events) and ``Hangup`` of callback legs (``ivr.asterisk.leg_watch``, shared with repair
dispatch), so an attempt placed by a bridge that has since died is still finished correctly by
the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.leg_watch import HANGUP_GRACE_S, watch_outbound_legs
from ivr.asterisk.originate import originate
from ivr.config import CallbackSettings
from ivr.domain.attempt_ids import CALLBACK_ATTEMPT
from ivr.domain.callbacks import Claim, result_of_originate_failure
from ivr.ports import CallbackLegStore

log = logging.getLogger(__name__)


class AmiOriginator:
    def __init__(self, ami: AmiClient, settings: CallbackSettings) -> None:
        self._ami = ami
        self._settings = settings

    async def originate(self, claim: Claim) -> None:
        variables = [f"IVR_CALLBACK_ATTEMPT={claim.action_id}"]
        if self._settings.agi_url:
            variables.append(f"IVR_CB_AGI={self._settings.agi_url}")
        await originate(
            self._ami,
            action_id=claim.action_id,
            phone=claim.phone,
            trunk_context=self._settings.trunk_context,
            originate_context=self._settings.originate_context,
            caller_id=self._settings.caller_id,
            ring_timeout_s=self._settings.ring_timeout_s,
            variables=variables,
        )


class _CallbackLegs:
    """Callback attempts as the shared leg watcher records them."""

    action_prefix = CALLBACK_ATTEMPT.prefix
    leg_name = "callback"

    def __init__(self, store: CallbackLegStore, settings: CallbackSettings) -> None:
        self._store = store
        self._settings = settings

    async def answered(self, action_id: str, unique_id: str) -> None:
        await self._store.answered(action_id, unique_id, self._settings.max_call_s)

    async def originate_failed(self, action_id: str, reason: Any) -> None:
        await self._store.originate_failed(
            action_id, result_of_originate_failure(reason), f"originate reason {reason}"
        )

    async def leg_ended(self, unique_id: str) -> None:
        await self._store.channel_ended(unique_id, HANGUP_GRACE_S)


def watch_callback_events(
    ami: AmiClient,
    store: CallbackLegStore,
    settings: CallbackSettings,
    on_change: Callable[[], None],
) -> None:
    """Record originate results and callback hang-ups from AMI, whichever bridge dialled."""
    spawn = watch_outbound_legs(
        ami, _CallbackLegs(store, settings), settings.trunk_context, on_change
    )

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
