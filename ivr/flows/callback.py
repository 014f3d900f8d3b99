"""The callback (回访) conversation, on the answered leg of a callback call.

Standard script (DOMAIN.md) with the owner's job number and the customer's surname and title;
confirms the person (1 yes / 2 no), asks whether the power is back (repairs) and whether the
handling satisfied them, offers to record a suggestion, says goodbye. Whatever happens (wrong
person, silence, hang-up mid-script, our own failure) the attempt's result is written back.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from ivr.domain.callbacks import (
    SCRIPT_GOODBYE,
    SCRIPT_POWER,
    SCRIPT_REPEAT,
    SCRIPT_SATISFIED,
    SCRIPT_SUGGESTION,
    SCRIPT_THANKS,
    SCRIPT_WRONG_PERSON,
    AttemptResult,
    CallbackContext,
    Conversation,
    script_greeting,
)
from ivr.domain.calls import CallerHungUp
from ivr.domain.workorders import OrderKind
from ivr.ports import CallbackStore, Channel, PromptLibrary

log = logging.getLogger(__name__)

YES, NO = "1", "2"


@dataclass(frozen=True, slots=True)
class CallbackDeps:
    store: CallbackStore
    prompts: PromptLibrary
    recordings_dir: Path
    digit_timeout_ms: int = 5000
    tries: int = 2  # a question is asked at most this often before silence is taken as silence
    suggestion_max_s: int = 60
    suggestion_silence_s: int = 4


@dataclass(slots=True)
class _Answers:
    right_person: bool | None = None
    power_restored: bool | None = None
    satisfied: bool | None = None
    suggestion_path: str | None = None


class _Silent(Exception):
    """No usable key after every try."""


async def run(channel: Channel, action_id: str, deps: CallbackDeps) -> Conversation | None:
    """Run the script for attempt ``action_id``; returns what was written back (None: unknown)."""
    ctx = await deps.store.context(action_id)
    if ctx is None:
        log.warning("callback leg for unknown attempt %s: hung up", action_id[:40])
        await channel.hangup()
        return None
    answers = _Answers()
    try:
        conversation = await _script(channel, ctx, answers, action_id, deps)
    except CallerHungUp:
        if answers.satisfied is not None:  # everything asked was answered: a complete callback
            conversation = _conversation(AttemptResult.COMPLETED, answers, "hung up after answers")
        else:
            conversation = _conversation(AttemptResult.HUNG_UP, answers, "hung up mid-script")
    except Exception as exc:
        log.exception("callback flow for order %s failed", ctx.order_no)
        conversation = _conversation(AttemptResult.FAILED, answers, f"bridge: {type(exc).__name__}")
    await deps.store.conversation_done(action_id, conversation)
    log.info("callback for order %s: %s", ctx.order_no, conversation.result.value)
    return conversation


async def _script(
    channel: Channel, ctx: CallbackContext, answers: _Answers, action_id: str, deps: CallbackDeps
) -> Conversation:
    await channel.answer()
    try:
        who = await _ask(channel, script_greeting(ctx), deps)
    except _Silent:
        return _conversation(AttemptResult.MACHINE, answers, "no key at the confirmation")
    answers.right_person = who == YES
    if not answers.right_person:
        await _say(channel, SCRIPT_WRONG_PERSON, deps)
        await _hang_up(channel)
        return _conversation(AttemptResult.WRONG_PERSON, answers, "wrong person")
    silent: list[str] = []
    if ctx.kind is OrderKind.REPAIR:
        try:
            answers.power_restored = await _ask(channel, SCRIPT_POWER, deps) == YES
        except _Silent:
            silent.append("power")
    try:
        answers.satisfied = await _ask(channel, SCRIPT_SATISFIED, deps) == YES
    except _Silent:
        silent.append("satisfaction")
    try:
        if await _ask(channel, SCRIPT_SUGGESTION, deps, tries=1) == YES:
            answers.suggestion_path = await _record(channel, ctx, action_id, deps)
            if answers.suggestion_path:
                await _say(channel, SCRIPT_THANKS, deps)
    except _Silent:
        pass  # not leaving a suggestion is an answer too
    await _say(channel, SCRIPT_GOODBYE, deps)
    await _hang_up(channel)
    detail = f"no key for: {', '.join(silent)}" if silent else None
    return _conversation(AttemptResult.COMPLETED, answers, detail)


async def _ask(channel: Channel, text: str, deps: CallbackDeps, tries: int | None = None) -> str:
    """Play the question (1 or 2 interrupts) and wait for 1 or 2; other keys count as silence."""
    for attempt in range(tries or deps.tries):
        if attempt:
            await _say(channel, SCRIPT_REPEAT, deps)
        key = await channel.play(await deps.prompts.prompt_path(text), YES + NO)
        if key is None:
            key = await channel.wait_for_digit(deps.digit_timeout_ms)
        if key in (YES, NO):
            return key
    raise _Silent


async def _hang_up(channel: Channel) -> None:
    """Our side ends the call; a customer who left first changes nothing."""
    with contextlib.suppress(CallerHungUp):
        await channel.hangup()


async def _say(channel: Channel, text: str, deps: CallbackDeps) -> None:
    await channel.play(await deps.prompts.prompt_path(text))


async def _record(
    channel: Channel, ctx: CallbackContext, action_id: str, deps: CallbackDeps
) -> str | None:
    base = deps.recordings_dir / f"callback-{ctx.order_no}-{action_id[-12:]}"
    await channel.record(
        base, "#", deps.suggestion_max_s * 1000, deps.suggestion_silence_s, beep=True
    )
    wav = base.with_name(base.name + ".wav")
    return str(wav) if wav.exists() and wav.stat().st_size > 44 else None


def _conversation(result: AttemptResult, answers: _Answers, detail: str | None) -> Conversation:
    return Conversation(
        result,
        answers.right_person,
        answers.power_restored,
        answers.satisfied,
        answers.suggestion_path,
        detail,
    )
