"""The AMI watcher that finishes outbound legs (callbacks, repair dispatch), whichever bridge
dialled them.

Both kinds are placed the same way (Originate through the trunk context, ``Local/`` legs) and
finished by the same two events: AMI broadcasts ``OriginateResponse`` to every session allowed
to read call events, and the ``Hangup`` of the leg's ``;1`` side. So one watcher serves both;
what differs (which ActionIDs are ours, what an originate failure means, the log wording) is
``RecordedLegs``: the kind's ids, its store and what an originate failure means.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ivr.asterisk.ami import AmiClient
from ivr.domain.attempt_ids import AttemptIds

log = logging.getLogger(__name__)

HANGUP_GRACE_S = 15.0  # after the leg hangs up, the conversation has this long to report

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class LegStore(Protocol):
    """What both stores of outbound calls record from AMI (``ivr.ports`` has each in full)."""

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> object: ...

    async def channel_ended(self, unique_id: str, grace_s: float) -> None: ...


class ReconciledLegStore(Protocol):
    """A store that can finish, after a reconnect, the legs Asterisk no longer has."""

    async def legs_gone(
        self, present_uids: set[str], answered_before: datetime, grace_s: float
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class RecordedLegs:
    """One kind of outbound call, as the watcher records it."""

    ids: AttemptIds  # the ActionIDs this kind originates with
    leg_name: str  # in log lines: "callback", "dispatch"
    store: LegStore
    max_call_s: float  # an answered call is finished by lease after this
    # Asterisk's ``Reason`` (3 no answer, 5 busy, …; may be missing) for this action
    originate_failed: Callable[[str, Any], Awaitable[None]]

    async def answered(self, action_id: str, unique_id: str) -> None:
        await self.store.answered(action_id, unique_id, self.max_call_s)

    async def leg_ended(self, unique_id: str) -> None:
        await self.store.channel_ended(unique_id, HANGUP_GRACE_S)


def watch_outbound_legs(
    ami: AmiClient, legs: RecordedLegs, trunk_context: str, on_change: Callable[[], None]
) -> Spawn:
    """Record originate results and leg hang-ups of ``legs`` from AMI, then ``on_change()``.
    Returns the spawner that keeps the watcher's tasks alive, for further handlers."""
    pending: set[asyncio.Task[None]] = set()
    leg_marker = f"@{trunk_context}-"

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def originate_response(event: Any) -> None:
        action_id = str(event.get("ActionID", ""))
        if not legs.ids.owns(action_id):
            return
        try:
            if event.get("Response") == "Success":
                await legs.answered(action_id, str(event.get("Uniqueid", "")))
            else:
                await legs.originate_failed(action_id, event.get("Reason"))
        except Exception:
            log.exception("could not record the originate result of %s", action_id)
        on_change()

    async def hangup(event: Any) -> None:
        channel = str(event.get("Channel", ""))
        if not (channel.startswith("Local/") and leg_marker in channel and channel.endswith(";1")):
            return
        try:
            await legs.leg_ended(str(event.get("Uniqueid", "")))
        except Exception:
            log.exception("could not record the end of a %s leg", legs.leg_name)
        on_change()

    ami.on_event("OriginateResponse", lambda event: spawn(originate_response(event)))
    ami.on_event("Hangup", lambda event: spawn(hangup(event)))
    return spawn


def reconcile_on_login(
    ami: AmiClient,
    store: ReconciledLegStore,
    leg_name: str,
    spawn: Spawn,
    on_change: Callable[[], None],
) -> None:
    """After every (re)connect, finish the answered legs that hung up while we were not
    listening: Asterisk's channel list says which are still up."""

    async def reconcile() -> None:
        asked_at = datetime.now(UTC)  # legs answered after this may be missing from the list
        try:
            channels = await ami.action_list({"Action": "CoreShowChannels"}, timeout_s=15)
            present = {
                str(c.get("Uniqueid")) for c in channels if c.get("Event") == "CoreShowChannel"
            }
            ended = await store.legs_gone(present, asked_at, HANGUP_GRACE_S)
        except Exception:
            log.exception("could not reconcile %s legs after the AMI login", leg_name)
            return
        if ended:
            log.warning("%d %s legs ended while AMI was away", ended, leg_name)
        on_change()

    ami.on_login(lambda: spawn(reconcile()))
