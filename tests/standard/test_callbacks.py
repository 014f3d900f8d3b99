"""回访 (callbacks): every order that needs one ends with the customer's satisfaction recorded
or with the reason there is none; an answer that is no answer is asked for again and never
counts as a completed 回访; spoken answers count like keys; nobody spares an order its 回访.

These tests call the product's policy and conversation (against a scripted line); the real
calls are in tests/integration/test_callbacks.py and test_callback_speech.py, the list in
test_do_not_call.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.domain.callbacks import (
    RETRYABLE,
    SCRIPT_SATISFIED,
    AttemptResult,
    CallbackContext,
    CallbackOutcome,
    CallbackPolicy,
    Conversation,
    TaskState,
    outcome_of,
)
from ivr.domain.calls import CallerHungUp
from ivr.domain.reports import CallbackFact, callback_outcomes
from ivr.domain.speech import Grammar, Hypothesis, Word
from ivr.domain.workorders import OrderKind, OrderStatus, TransitionError, check_manual_move
from ivr.flows import callback_call
from ivr.flows.listen import SpeechDeps
from ivr.speech.grammars import default_grammar_dir, load_grammars

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, inside calling hours
POLICY = CallbackPolicy()  # 3 attempts
CTX = CallbackContext("0123456789ABCDEF0123", OrderKind.REPAIR, "王", "女士", "1024")


class Line:
    """The customer's side: ``answers`` are keys ('' nothing, 'H' hang up) or, with speech, the
    words the recogniser hears."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.played: list[str] = []

    def _next(self) -> str | None:
        answer = self.answers.pop(0) if self.answers else ""
        if answer == "H":
            raise CallerHungUp("gone")
        return answer or None

    async def answer(self) -> None: ...

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt.name)
        return self._next() if escape_digits else None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self._next()

    async def record(
        self, path: Path, escape: str, timeout_ms: int, silence_s: int, beep: bool = False
    ) -> str | None:
        path.with_suffix(".wav").write_bytes(b"RIFF")
        return None

    async def set_variable(self, name: str, value: str) -> None: ...

    async def hangup(self) -> None: ...


class SpeakingLine(Line):
    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt.name)
        return None


class Ears:
    def __init__(self, line: Line) -> None:
        self.line = line

    async def recognize(self, recording: Path, grammar: Grammar) -> Hypothesis:
        words = self.line.answers.pop(0)
        return Hypothesis(tuple(Word(w, 0.95) for w in words.split()))


class Prompts:
    async def prompt_path(self, text: str) -> Path:
        return Path("/p") / text


class Store:
    def __init__(self) -> None:
        self.done: list[Conversation] = []

    async def context(self, action_id: str) -> CallbackContext:
        return CTX

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool:
        return True

    async def conversation_done(self, action_id: str, conversation: Conversation) -> None:
        self.done.append(conversation)


async def call(line: Line, tmp_path: Path, *, reasks: int = 1, speech: bool = False):  # type: ignore[no-untyped-def]
    ears = None
    if speech:
        ears = SpeechDeps(Ears(line), load_grammars(default_grammar_dir()), tmp_path)
    deps = callback_call.CallbackDeps(Store(), Prompts(), tmp_path, reasks=reasks, speech=ears)  # type: ignore[arg-type]
    conversation = await callback_call.run(line, "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert conversation is not None
    state, _ = POLICY.after_attempt(conversation.result, POLICY.retry.max_attempts, NOW)
    return conversation, outcome_of(state, conversation.result.value, conversation.satisfied)


async def test_a_customer_without_a_valid_answer_to_satisfaction_is_asked_again(
    tmp_path: Path,
) -> None:
    line = Line(["1", "1", "", "", "1", "2"])  # silent the first time, 满意 the second
    conversation, outcome = await call(line, tmp_path)
    assert line.played.count(SCRIPT_SATISFIED) == 2
    assert conversation.result is AttemptResult.COMPLETED
    assert outcome is CallbackOutcome.SATISFIED


@pytest.mark.parametrize("reasks", [0, 2])
async def test_how_often_it_is_asked_again_is_a_setting(tmp_path: Path, reasks: int) -> None:
    line = Line(["1", "1"] + ["9"] * 6)  # a key that answers nothing, every time
    await call(line, tmp_path, reasks=reasks)
    assert line.played.count(SCRIPT_SATISFIED) == 1 + reasks


async def test_still_no_valid_answer_is_not_a_completed_callback(tmp_path: Path) -> None:
    conversation, _ = await call(Line(["1", "1", "", "", "", ""]), tmp_path)
    assert conversation.result is AttemptResult.NO_VALID_ANSWER
    assert conversation.satisfied is None
    # retried like an unanswered call …
    assert AttemptResult.NO_VALID_ANSWER in RETRYABLE
    assert POLICY.after_attempt(conversation.result, 1, NOW)[0] is TaskState.PENDING
    # … and after the last attempt handed to a person, with its reason
    last = POLICY.retry.max_attempts
    assert POLICY.after_attempt(conversation.result, last, NOW)[0] is TaskState.NEEDS_HUMAN
    assert outcome_of(TaskState.NEEDS_HUMAN, conversation.result.value, None) is (
        CallbackOutcome.NO_VALID_ANSWER
    )


@pytest.mark.parametrize(
    ("words", "outcome"),
    [("满意", CallbackOutcome.SATISFIED), ("不满意", CallbackOutcome.DISSATISFIED)],
)
async def test_spoken_satisfaction_counts_like_a_key(
    tmp_path: Path, words: str, outcome: CallbackOutcome
) -> None:
    line = SpeakingLine(["是", "正常", words, "2"])  # the suggestion question takes keys
    conversation, got = await call(line, tmp_path, speech=True)
    assert (conversation.result, conversation.power_restored) == (AttemptResult.COMPLETED, True)
    assert got is outcome


async def test_spoken_power_not_back_is_recorded(tmp_path: Path) -> None:
    line = SpeakingLine(["是", "不 正常", "满意", "2"])
    conversation, _ = await call(line, tmp_path, speech=True)
    assert conversation.power_restored is False


def test_every_callback_that_ends_has_a_satisfaction_or_a_reason() -> None:
    for result in AttemptResult:
        for satisfied in (True, False) if result is AttemptResult.COMPLETED else (None,):
            for made in range(1, POLICY.retry.max_attempts + 1):
                state, _ = POLICY.after_attempt(result, made, NOW)
                outcome = outcome_of(state, result.value, satisfied)
                assert (state is TaskState.PENDING) == (outcome is None), (result, made)


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (AttemptResult.NO_ANSWER, CallbackOutcome.UNREACHABLE),
        (AttemptResult.BUSY, CallbackOutcome.UNREACHABLE),
        (AttemptResult.FAILED, CallbackOutcome.UNREACHABLE),
        (AttemptResult.MACHINE, CallbackOutcome.UNREACHABLE),
        (AttemptResult.WRONG_PERSON, CallbackOutcome.UNREACHABLE),
        (AttemptResult.HUNG_UP, CallbackOutcome.REFUSED),
    ],
)
def test_not_reached_after_the_last_attempt_or_refused_is_said_so(
    result: AttemptResult, outcome: CallbackOutcome
) -> None:
    state, _ = POLICY.after_attempt(result, POLICY.retry.max_attempts, NOW)
    assert state is TaskState.NEEDS_HUMAN  # a person follows up
    assert outcome_of(state, result.value, None) is outcome


def test_a_number_on_the_do_not_call_list_ends_as_do_not_call() -> None:
    assert outcome_of(TaskState.CANCELLED, "do_not_call", None) is CallbackOutcome.DO_NOT_CALL


def test_nobody_marks_a_callback_done_by_hand() -> None:
    for kind in OrderKind:
        with pytest.raises(TransitionError, match="recorded by the 回访"):
            check_manual_move(kind, OrderStatus.CLOSED, OrderStatus.CALLBACK_DONE)


def test_the_monthly_report_shows_the_share_of_each_ending() -> None:
    due = NOW
    endings = ["satisfied", "satisfied", "dissatisfied", "no_valid_answer", "refused"]
    endings += ["unreachable", "do_not_call", None]
    figures = callback_outcomes(
        [CallbackFact("done", due, None, None, e) for e in endings]  # state is not read here
    )
    assert figures["callbacks_needed"] == 8
    assert figures["callbacks_satisfied_share"] == 2 / 8
    assert figures["callbacks_still_owed"] == 1
    shares = [v for k, v in figures.items() if k.endswith("_share")]
    assert len(shares) == len(CallbackOutcome) + 1 and sum(shares) == pytest.approx(1.0)
