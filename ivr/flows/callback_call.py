"""The callback (回访) conversation, on the answered leg of a callback call.

Standard script (docs/standard.md) with the owner's job number and the customer's surname and title;
confirms the person (1 yes / 2 no), asks whether the power is back (repairs) and whether the
handling satisfied them, offers to record a suggestion, says goodbye. With speech on, the
questions also listen (``ivr.flows.listen``, as the menu does): 是/不是, 正常/不正常, 满意/不满意.
A question without a valid answer (silence, a wrong key, words outside its grammar) is asked
again ``reasks`` times; a satisfaction question still unanswered makes the attempt
``no_valid_answer`` (retried, then a person's follow-up), never a completed 回访. Whatever
happens (wrong person, silence, hang-up mid-script, our own failure) the attempt's result is
written back.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from ivr.domain.callbacks import (
    NEUTRAL,
    SATISFACTION_GRAMMAR,
    SATISFACTION_KEYS,
    SCRIPT_GOODBYE,
    SCRIPT_POWER,
    SCRIPT_REPEAT,
    SCRIPT_SATISFIED,
    SCRIPT_SUGGESTION,
    SCRIPT_THANKS,
    SCRIPT_WRONG_PERSON,
    YES,
    YES_NO_GRAMMAR,
    YES_NO_KEYS,
    AttemptResult,
    CallbackContext,
    Conversation,
    is_satisfied,
    script_greeting,
)
from ivr.domain.calls import CallerHungUp
from ivr.domain.speech import NotUnderstood, Understood
from ivr.domain.workorders import OrderKind
from ivr.flows.listen import SpeechDeps, listen
from ivr.ports import CallbackStore, Channel, PromptLibrary

log = logging.getLogger(__name__)

WRITE_RETRY_MIN_S = 0.5
WRITE_RETRY_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class CallbackDeps:
    store: CallbackStore
    prompts: PromptLibrary
    recordings_dir: Path
    digit_timeout_ms: int = 5000
    reasks: int = 1  # a question without a valid answer is asked again this often
    suggestion_max_s: int = 60
    suggestion_silence_s: int = 4
    max_call_s: float = 600.0  # the answered attempt's lease: how long its result may take
    speech: SpeechDeps | None = None  # None: keys only


@dataclass(frozen=True, slots=True)
class _Question:
    """What is asked, which keys answer it (key → answer id) and the grammar it listens with."""

    text: str
    keys: Mapping[str, str]
    grammar: str | None = None


@dataclass(slots=True)
class _Answers:
    right_person: bool | None = None
    power_restored: bool | None = None
    satisfied: bool | None = None
    suggestion_path: str | None = None


class _Silent(Exception):
    """No valid answer (key or word) after every try."""


async def run(
    channel: Channel, action_id: str, deps: CallbackDeps, unique_id: str = ""
) -> Conversation | None:
    """Run the script for attempt ``action_id``; returns what was written back (None: unknown
    attempt, or one that is no longer live)."""
    ctx = await deps.store.context(action_id)
    if ctx is None:
        log.warning("callback leg for unknown attempt %s: hung up", action_id[:40])
        await channel.hangup()
        return None
    # The customer answered: say so now, not only when (if) AMI's OriginateResponse is seen (the
    # link may be down), so the attempt's lease covers the conversation. An attempt already
    # given up (lease expired: it counts as failed and is retried) must not also be talked.
    if not await deps.store.answered(action_id, unique_id, deps.max_call_s):
        log.warning("callback leg for attempt %s, which is no longer live: hung up", action_id)
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
    await _write_back(action_id, conversation, deps)
    log.info("callback for order %s: %s", ctx.order_no, conversation.result.value)
    return conversation


async def _write_back(action_id: str, conversation: Conversation, deps: CallbackDeps) -> None:
    """Store the result, retrying while the database is away: a result lost here would make the
    lease count the attempt as failed, and the customer would be called a second time. Safe to
    repeat (the store applies a result once)."""

    def failed(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "callback %s: result not stored (%s); retrying in %.1f s",
            action_id,
            type(exc).__name__,
            wait,
        )

    attempts = AsyncRetrying(
        wait=wait_exponential(multiplier=WRITE_RETRY_MIN_S, max=WRITE_RETRY_MAX_S)
        + wait_random(0, WRITE_RETRY_MIN_S),
        stop=stop_before_delay(deps.max_call_s),  # no retry would start after the call's limit
        retry=retry_if_exception_type(Exception),
        before_sleep=failed,
        reraise=True,
    )
    await attempts(deps.store.conversation_done, action_id, conversation)


async def _script(
    channel: Channel, ctx: CallbackContext, answers: _Answers, action_id: str, deps: CallbackDeps
) -> Conversation:
    await channel.answer()
    ask = _Asker(channel, deps, f"cb-{action_id[-12:]}")
    try:
        who = await ask(_Question(script_greeting(ctx), YES_NO_KEYS, YES_NO_GRAMMAR))
    except _Silent:
        return _conversation(AttemptResult.MACHINE, answers, "no answer at the confirmation")
    answers.right_person = who == YES
    if not answers.right_person:
        await _say(channel, SCRIPT_WRONG_PERSON, deps)
        await _hang_up(channel)
        return _conversation(AttemptResult.WRONG_PERSON, answers, "wrong person")
    silent: list[str] = []
    if ctx.kind is OrderKind.REPAIR:
        try:
            power = await ask(_Question(SCRIPT_POWER, YES_NO_KEYS, YES_NO_GRAMMAR))
            answers.power_restored = power == YES
        except _Silent:
            silent.append("power")
    try:
        said = await ask(_Question(SCRIPT_SATISFIED, SATISFACTION_KEYS, SATISFACTION_GRAMMAR))
    except _Silent:
        # not a completed 回访: retried, and after the last attempt a person calls
        await _say(channel, SCRIPT_GOODBYE, deps)
        await _hang_up(channel)
        silent.append("satisfaction")
        detail = f"no valid answer to: {', '.join(silent)}"
        return _conversation(AttemptResult.NO_VALID_ANSWER, answers, detail)
    answers.satisfied = is_satisfied(said)
    try:
        if await ask(_Question(SCRIPT_SUGGESTION, YES_NO_KEYS), tries=1) == YES:
            answers.suggestion_path = await _record(channel, ctx, action_id, deps)
            if answers.suggestion_path:
                await _say(channel, SCRIPT_THANKS, deps)
    except _Silent:
        pass  # not leaving a suggestion is an answer too
    await _say(channel, SCRIPT_GOODBYE, deps)
    await _hang_up(channel)
    notes = [f"answered {said}"] if said == NEUTRAL else []
    if silent:
        notes.append(f"no valid answer to: {', '.join(silent)}")
    return _conversation(AttemptResult.COMPLETED, answers, "; ".join(notes) or None)


class _Asker:
    """Asks the questions of one call: keys always, and the question's grammar when speech is
    on; each recording gets its own name (``cb-<attempt>-<n>``) and is deleted once heard."""

    def __init__(self, channel: Channel, deps: CallbackDeps, name: str) -> None:
        self._channel = channel
        self._deps = deps
        self._name = name
        self._recordings = 0

    async def __call__(self, question: _Question, tries: int | None = None) -> str:
        """The answer id; a wrong key, silence or words outside the grammar are no answer, and
        the question is asked again up to ``reasks`` times."""
        channel, deps, digits = self._channel, self._deps, "".join(question.keys)
        for attempt in range(tries or 1 + deps.reasks):
            if attempt:
                await _say(channel, SCRIPT_REPEAT, deps)
            key = await channel.play(await deps.prompts.prompt_path(question.text), digits)
            if key is None and question.grammar is not None and deps.speech is not None:
                self._recordings += 1
                name = f"{self._name}-{self._recordings}"
                key, heard = await listen(channel, question.grammar, name, deps.speech, digits)
                if isinstance(heard, Understood):
                    return heard.answer
                if isinstance(heard, NotUnderstood):
                    continue  # said something else: asked again
            if key is None:
                key = await channel.wait_for_digit(deps.digit_timeout_ms)
            if key in question.keys:
                return question.keys[key]
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
