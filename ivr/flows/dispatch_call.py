"""The dispatch call (派单), on the answered leg of a call to the repair crew on duty.

The crew hears ``您好，我是客服{工号}值班员，有故障报修请接令`` with the order's address, fault and
the customer's callback number (digit by digit), then ``接令请按1，重听请按2``. 1 accepts (接令:
stored at once, the order is dispatched), 2 reads the order again; silence or any other key
reads it again too, and the order is read at most ``max_plays`` times. The call ends with
``再见`` either way. Not accepting is written back *before* the goodbye, so the next crew is
rung while this one still hears it.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ivr.domain.calls import CallerHungUp
from ivr.domain.dispatch import (
    ACCEPT,
    REPEAT,
    SCRIPT_ACCEPTED,
    SCRIPT_ASK,
    SCRIPT_BAD_KEY,
    SCRIPT_NOT_ACCEPTED,
    CallResult,
    order_message,
)
from ivr.ports import Channel, DispatchConversation, PromptLibrary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatchDeps:
    store: DispatchConversation
    prompts: PromptLibrary
    max_plays: int = 3
    digit_timeout_ms: int = 5000


async def run(channel: Channel, action_id: str, deps: DispatchDeps) -> CallResult | None:
    """Read the order to the crew; returns what was written back (None: unknown call)."""
    ctx = await deps.store.context(action_id)
    if ctx is None:
        log.warning("dispatch leg for an unknown or finished call %s: hung up", action_id[:40])
        await _hang_up(channel)
        return None
    plays = 0
    accepted = False
    result = CallResult.NO_KEY
    try:
        ask = await deps.prompts.prompt_path(SCRIPT_ASK)
        # the order's address and phone number: a file for this call alone, gone after it
        async with deps.prompts.personal(order_message(ctx)) as message:
            await channel.answer()
            while plays < deps.max_plays and not accepted:
                plays += 1
                heard = await _read_order(channel, action_id, plays, message, ask, deps)
                accepted = heard is True
                if heard is None:
                    break
        if accepted:
            await _say(channel, SCRIPT_ACCEPTED, deps)
        else:
            detail = f"not accepted after {plays} reading(s)"
            await deps.store.finish(action_id, CallResult.NO_KEY, detail, plays)
            await _say(channel, SCRIPT_NOT_ACCEPTED, deps)
        await _hang_up(channel)
    except CallerHungUp:
        if not accepted:
            result = CallResult.HUNG_UP
            await deps.store.finish(
                action_id, CallResult.HUNG_UP, f"hung up during reading {plays}", plays
            )
    except Exception as exc:
        log.exception("dispatch flow for order %s failed", ctx.order_no)
        if not accepted:
            result = CallResult.FAILED
            await deps.store.finish(
                action_id, CallResult.FAILED, f"bridge: {type(exc).__name__}", plays
            )
    if accepted:
        await deps.store.conversation_over(action_id, plays)
        return CallResult.ACCEPTED
    return result


async def _read_order(
    channel: Channel, action_id: str, plays: int, message: Path, ask: Path, deps: DispatchDeps
) -> bool | None:
    """One reading of the order and the question: True if the crew accepted it, False to read
    it again, None if the acceptance came too late (another crew has the order, or it is
    over)."""
    key = await channel.play(message, ACCEPT + REPEAT)
    if key is None:
        key = await channel.play(ask, ACCEPT + REPEAT)
    if key is None:
        key = await channel.wait_for_digit(deps.digit_timeout_ms)
    if key == ACCEPT:
        if await deps.store.accept(action_id, plays) is not None:
            return True
        log.warning("dispatch call %s: acceptance came too late", action_id)
        return None
    if key not in (None, REPEAT):
        await _say(channel, SCRIPT_BAD_KEY, deps)
    return False


async def _say(channel: Channel, text: str, deps: DispatchDeps) -> None:
    await channel.play(await deps.prompts.prompt_path(text))


async def _hang_up(channel: Channel) -> None:
    with contextlib.suppress(CallerHungUp):
        await channel.hangup()
