"""The FastAGI routes Asterisk's dialplan calls, translating the AGI environment for the flows.

``inbound``     ``AGI(agi://…/inbound)`` from the 95598 entry context: the menu.
``call-ended``  ``AGI(agi://…/call-ended,<call id>,<QUEUESTATUS>,<MEMBERINTERFACE>)`` from the
                hangup handler: when, and how, the call finally ended.
``callback``    ``AGI(agi://…/callback,<attempt id>,<leg key>)`` from ``[callback-out]``: the 回访.
``dispatch``    ``AGI(agi://…/dispatch,<call id>,<leg key>)`` from ``[dispatch-out]``: the order
                read to the repair crew on duty, who accepts with 1. Both legs must carry the
                key set at Originate (``ivr.domain.leg_keys``), or they are hung up untouched.
``agent-greeting``  ``AGI(agi://…/agent-greeting,<member interface>)`` on the agent's leg when
                the agent answers: the standard opening with the agent's job number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from ivr.asterisk.agi_channel import AgiChannel
from ivr.asterisk.agi_reader import AgiEnvironment
from ivr.asterisk.agi_server import AgiRoute
from ivr.domain.attempt_ids import CALLBACK_ATTEMPT, DISPATCH_CALL, AttemptIds, short
from ivr.domain.leg_keys import LegKeys
from ivr.flows import agent_greeting, callback_call, dispatch_call, inbound
from ivr.ports import CallJournal

log = logging.getLogger(__name__)

_CALL_ID = re.compile(r"^[0-9a-f]{32}$")
_QUEUE_STATUS = re.compile(r"^[A-Z]{1,20}$")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def clean(value: str, limit: int = 64) -> str:
    """Caller-controlled text (caller ID) as we store it: printable ASCII, bounded length."""
    value = value.strip()
    if value.lower() in ("unknown", "anonymous"):
        return ""
    return _PRINTABLE.sub("?", value)[:limit]


def inbound_route(deps: inbound.InboundDeps) -> AgiRoute:
    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        start = inbound.CallStart(
            unique_id=clean(env.get("uniqueid"), 64),
            caller_number=clean(env.get("callerid"), 32),
            dialed_number=clean(env.get("extension") or env.get("dnid"), 32),
            channel_name=clean(env.get("channel"), 128),
        )
        await inbound.run(channel, start, deps)

    return route


def call_ended_route(journal: CallJournal, clock: Callable[[], datetime]) -> AgiRoute:
    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        ended_at = clock()
        args = [*env.args, "", "", ""]
        call_id, queue_status, member = args[0].strip(), args[1].strip(), clean(args[2], 128)
        if not _CALL_ID.match(call_id):
            log.warning("call-ended with a malformed call id %r: ignored", call_id[:40])
            return
        journal.ended(
            call_id,
            ended_at,
            queue_status if _QUEUE_STATUS.match(queue_status) else None,
            member or None,
        )

    return route


def _keyed_leg(env: AgiEnvironment, ids: AttemptIds, keys: LegKeys, what: str) -> str | None:
    """The attempt id of an outbound leg whose key matches it, else None (logged)."""
    args = [*env.args, "", ""]
    action_id, key = args[0].strip(), args[1].strip()
    if not ids.valid(action_id):
        log.warning("%s leg with a malformed attempt id: hung up", what)
        return None
    if not keys.valid(action_id, key):
        log.warning("%s leg %s with a wrong or missing leg key: hung up", what, short(action_id))
        return None
    return action_id


def callback_route(deps: callback_call.CallbackDeps, keys: LegKeys) -> AgiRoute:
    """``AGI(agi://…/callback,<attempt id>,<leg key>)`` on the answered leg of a callback."""

    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        action_id = _keyed_leg(env, CALLBACK_ATTEMPT, keys, "callback")
        if action_id is None:
            await channel.hangup()
            return
        await callback_call.run(channel, action_id, deps, clean(env.get("uniqueid"), 64))

    return route


def dispatch_route(deps: dispatch_call.DispatchDeps, keys: LegKeys) -> AgiRoute:
    """``AGI(agi://…/dispatch,<call id>,<leg key>)`` on the answered leg of a call to a crew."""

    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        action_id = _keyed_leg(env, DISPATCH_CALL, keys, "dispatch")
        if action_id is None:
            await channel.hangup()
            return
        await dispatch_call.run(channel, action_id, deps)

    return route


def agent_greeting_route(deps: agent_greeting.GreetingDeps) -> AgiRoute:
    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        args = [*env.args, ""]
        await agent_greeting.run(channel, clean(args[0], 128), deps)

    return route
