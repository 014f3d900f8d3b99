"""The callback conversation against a scripted channel: what each answer (or silence, or a
hang-up) becomes. Real calls are in tests/integration/test_callbacks.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.domain.callbacks import (
    SCRIPT_POWER,
    SCRIPT_SATISFIED,
    SCRIPT_SUGGESTION,
    AttemptResult,
    CallbackContext,
    Conversation,
    script_greeting,
)
from ivr.domain.calls import CallerHungUp
from ivr.domain.speech import Grammar, Hypothesis, Word
from ivr.domain.workorders import OrderKind
from ivr.flows import callback_call
from ivr.flows.listen import SpeechDeps
from ivr.speech.grammars import default_grammar_dir, load_grammars

CTX = CallbackContext("0123456789ABCDEF0123", OrderKind.REPAIR, "王", "女士", "1024")


class Prompts:
    """Every text at ``/p/<text>``; ``personal`` ones are recorded while in use."""

    def __init__(self) -> None:
        self.personal_in_use: list[str] = []
        self.personal_released: list[str] = []

    async def prompt_path(self, text: str) -> Path:
        return Path("/p") / text

    @contextlib.asynccontextmanager
    async def personal(self, text: str) -> AsyncIterator[Path]:
        self.personal_in_use.append(text)
        try:
            yield Path("/p") / text
        finally:
            self.personal_in_use.remove(text)
            self.personal_released.append(text)


class Store:
    def __init__(self, ctx: CallbackContext | None = CTX) -> None:
        self.ctx = ctx
        self.done: list[Conversation] = []
        self.answered_ids: list[str] = []
        self.live = True
        self.fail_writes = 0

    async def context(self, action_id: str) -> CallbackContext | None:
        return self.ctx

    async def conversation_done(self, action_id: str, conversation: Conversation) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise ConnectionError("database down")
        self.done.append(conversation)

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool:
        self.answered_ids.append(unique_id)
        return self.live


class ScriptedChannel:
    """Answers each prompt/wait with the next key from ``keys`` ('' = nothing, 'H' = hang up)."""

    def __init__(self, keys: list[str], record_to: Path | None = None) -> None:
        self.keys = keys
        self.played: list[str] = []
        self.hung_up = False
        self.record_to = record_to

    def _next(self) -> str | None:
        key = self.keys.pop(0) if self.keys else ""
        if key == "H":
            raise CallerHungUp("gone")
        return key or None

    async def answer(self) -> None: ...

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt.name)
        return self._next() if escape_digits else None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self._next()

    async def set_variable(self, name: str, value: str) -> None: ...

    async def record(
        self, path: Path, escape: str, timeout_ms: int, silence_s: int, beep: bool = False
    ) -> str | None:
        assert beep, "a suggestion is asked for after a beep"
        path.with_name(path.name + ".wav").write_bytes(b"RIFF" + b"\0" * 4000)
        return "#"

    async def hangup(self) -> None:
        self.hung_up = True


async def talk(keys: list[str], tmp_path: Path, ctx: CallbackContext = CTX) -> Conversation:
    store = Store(ctx)
    deps = callback_call.CallbackDeps(store, Prompts(), tmp_path)  # type: ignore[arg-type]
    result = await callback_call.run(ScriptedChannel(keys), "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert result is not None and store.done == [result]
    return result


def test_greeting_is_the_standard_wording() -> None:
    assert script_greeting(CTX).startswith(
        "您好，我是供电公司客户服务中心幺零二四号，请问您是王女士吗？"
    )


async def test_satisfied_no_suggestion(tmp_path: Path) -> None:
    c = await talk(["1", "1", "1", "2"], tmp_path)
    assert (c.result, c.right_person, c.power_restored, c.satisfied) == (
        AttemptResult.COMPLETED,
        True,
        True,
        True,
    )
    assert c.suggestion_path is None


async def test_power_not_back_dissatisfied_with_suggestion(tmp_path: Path) -> None:
    c = await talk(["1", "2", "2", "1"], tmp_path)
    assert (c.power_restored, c.satisfied) == (False, False)
    assert c.suggestion_path is not None and Path(c.suggestion_path).exists()
    assert CTX.order_no in c.suggestion_path


async def test_wrong_person(tmp_path: Path) -> None:
    c = await talk(["2"], tmp_path)
    assert (c.result, c.right_person) == (AttemptResult.WRONG_PERSON, False)


async def test_silence_is_asked_twice_then_taken_as_a_machine(tmp_path: Path) -> None:
    c = await talk(["", "", "", ""], tmp_path)
    assert c.result is AttemptResult.MACHINE and c.right_person is None


async def test_a_wrong_key_then_the_right_one(tmp_path: Path) -> None:
    c = await talk(["", "7", "1", "1", "1", "2"], tmp_path)
    assert c.result is AttemptResult.COMPLETED and c.satisfied is True


async def test_hang_up_mid_script(tmp_path: Path) -> None:
    c = await talk(["1", "H"], tmp_path)
    assert (c.result, c.right_person, c.power_restored) == (AttemptResult.HUNG_UP, True, None)


async def test_hang_up_after_every_answer_is_complete(tmp_path: Path) -> None:
    c = await talk(["1", "1", "2", "H"], tmp_path)
    assert c.result is AttemptResult.COMPLETED and c.satisfied is False


async def test_complaints_skip_the_power_question(tmp_path: Path) -> None:
    ctx = CallbackContext("0123456789ABCDEF0123", OrderKind.COMPLAINT, "李", "先生", "7")
    store = Store(ctx)
    channel = ScriptedChannel(["1", "1", "2"])
    await callback_call.run(
        channel, "cb-" + "0" * 32, callback_call.CallbackDeps(store, Prompts(), tmp_path)
    )  # type: ignore[arg-type]
    assert SCRIPT_POWER not in channel.played
    assert SCRIPT_SATISFIED in channel.played and SCRIPT_SUGGESTION in channel.played
    assert store.done[0].satisfied is True


async def test_unknown_attempt_hangs_up_writes_nothing(tmp_path: Path) -> None:
    store = Store(None)
    channel = ScriptedChannel([])
    deps = callback_call.CallbackDeps(store, Prompts(), tmp_path)  # type: ignore[arg-type]
    assert await callback_call.run(channel, "cb-" + "0" * 32, deps) is None  # type: ignore[arg-type]
    assert channel.hung_up and store.done == []


@pytest.mark.parametrize("boom", [RuntimeError("db down")])
async def test_our_failure_is_recorded_as_failed(tmp_path: Path, boom: Exception) -> None:
    class Broken(Prompts):
        async def prompt_path(self, text: str) -> Path:
            raise boom

    store = Store()
    deps = callback_call.CallbackDeps(store, Broken(), tmp_path)  # type: ignore[arg-type]
    c = await callback_call.run(ScriptedChannel(["1"]), "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert c is not None and c.result is AttemptResult.FAILED


async def test_an_attempt_given_up_meanwhile_is_not_talked_to(tmp_path: Path) -> None:
    store = Store()
    store.live = False  # its lease expired: it counts as failed and will be retried
    channel = ScriptedChannel(["1", "1", "1", "2"])
    deps = callback_call.CallbackDeps(store, Prompts(), tmp_path)  # type: ignore[arg-type]
    assert await callback_call.run(channel, "cb-" + "0" * 32, deps, "1.5") is None  # type: ignore[arg-type]
    assert store.done == [] and store.answered_ids == ["1.5"]


async def test_the_result_is_written_back_after_a_database_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callback_call, "WRITE_RETRY_MIN_S", 0.01)
    store = Store()
    store.fail_writes = 3
    deps = callback_call.CallbackDeps(store, Prompts(), tmp_path)  # type: ignore[arg-type]
    result = await callback_call.run(ScriptedChannel(["1", "1", "1", "2"]), "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert result is not None and store.done == [result]  # once, after three failures


# --- no valid answer, re-asking, spoken answers ---------------------------------------------


async def test_no_valid_answer_to_satisfaction_is_not_a_completed_callback(
    tmp_path: Path,
) -> None:
    channel = ScriptedChannel(["1", "1", "", "", "9"])  # silence, then a key that means nothing
    store = Store()
    deps = callback_call.CallbackDeps(store, Prompts(), tmp_path)  # type: ignore[arg-type]
    c = await callback_call.run(channel, "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert c is not None
    assert (c.result, c.right_person, c.power_restored, c.satisfied) == (
        AttemptResult.NO_VALID_ANSWER,
        True,
        True,
        None,
    )
    assert channel.played.count(SCRIPT_SATISFIED) == 2  # asked, and asked again once
    assert SCRIPT_SUGGESTION not in channel.played and channel.hung_up


@pytest.mark.parametrize(("reasks", "asked"), [(0, 1), (1, 2), (3, 4)])
async def test_the_satisfaction_question_is_asked_again_reasks_times(
    tmp_path: Path, reasks: int, asked: int
) -> None:
    channel = ScriptedChannel(["1", "1"] + ["", ""] * 5)
    deps = callback_call.CallbackDeps(Store(), Prompts(), tmp_path, reasks=reasks)  # type: ignore[arg-type]
    c = await callback_call.run(channel, "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert c is not None and c.result is AttemptResult.NO_VALID_ANSWER
    assert channel.played.count(SCRIPT_SATISFIED) == asked


async def test_a_valid_answer_on_the_last_reask_completes(tmp_path: Path) -> None:
    channel = ScriptedChannel(["1", "1", "", "", "9", "1", "2"])
    deps = callback_call.CallbackDeps(Store(), Prompts(), tmp_path, reasks=2)  # type: ignore[arg-type]
    c = await callback_call.run(channel, "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert c is not None and (c.result, c.satisfied) == (AttemptResult.COMPLETED, True)


class SpeakingChannel(ScriptedChannel):
    """A customer who presses nothing during the prompts and answers by voice: ``record``
    writes a stand-in WAV as Asterisk would (the recogniser is scripted); the suggestion
    question is keys only, so ``keys`` answer the waits."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys)
        self.recorded: list[Path] = []

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt.name)
        return None

    async def record(
        self, path: Path, escape: str, timeout_ms: int, silence_s: int, beep: bool = False
    ) -> str | None:
        assert not beep and escape == "12"
        path.with_suffix(".wav").write_bytes(b"RIFF")
        self.recorded.append(path)
        return None


class Recognizer:
    def __init__(self, *said: tuple[str, str]) -> None:
        self.said = list(said)  # (grammar expected, words heard)

    async def recognize(self, recording: Path, grammar: Grammar) -> Hypothesis:
        assert recording.exists()
        expected, words = self.said.pop(0)
        assert grammar.name == expected
        return Hypothesis(tuple(Word(w, 0.95) for w in words.split()))


def spoken_deps(tmp_path: Path, recognizer: Recognizer) -> callback_call.CallbackDeps:
    speech = SpeechDeps(recognizer, load_grammars(default_grammar_dir()), tmp_path / "speech")
    speech.recordings_dir.mkdir()
    return callback_call.CallbackDeps(Store(), Prompts(), tmp_path, speech=speech)  # type: ignore[arg-type]


async def test_spoken_answers_are_understood_and_not_kept(tmp_path: Path) -> None:
    recognizer = Recognizer(
        ("repair_fixed", "是"), ("repair_fixed", "正常"), ("satisfaction", "满意")
    )
    deps = spoken_deps(tmp_path, recognizer)
    channel = SpeakingChannel(["2"])  # no suggestion (a key: that question does not listen)
    c = await callback_call.run(channel, "cb-" + "0" * 32, deps)  # type: ignore[arg-type]
    assert c is not None
    assert (c.result, c.right_person, c.power_restored, c.satisfied) == (
        AttemptResult.COMPLETED,
        True,
        True,
        True,
    )
    assert len(channel.recorded) == 3 and recognizer.said == []
    assert deps.speech is not None and list(deps.speech.recordings_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("words", "satisfied", "detail"),
    [("不满意", False, None), ("一般", False, "answered neutral"), ("很 满意", True, None)],
)
async def test_a_spoken_satisfaction_is_recorded_as_said(
    tmp_path: Path, words: str, satisfied: bool, detail: str | None
) -> None:
    recognizer = Recognizer(
        ("repair_fixed", "是"), ("repair_fixed", "不 正常"), ("satisfaction", words)
    )
    c = await callback_call.run(
        SpeakingChannel(["2"]), "cb-" + "0" * 32, spoken_deps(tmp_path, recognizer)
    )  # type: ignore[arg-type]
    assert c is not None and (c.power_restored, c.satisfied, c.detail) == (False, satisfied, detail)


async def test_words_outside_the_question_are_asked_again(tmp_path: Path) -> None:
    recognizer = Recognizer(
        ("repair_fixed", "是"),
        ("repair_fixed", "好 了"),
        ("satisfaction", "电费"),  # a word of the model, not an answer to this question
        ("satisfaction", "满意"),
    )
    channel = SpeakingChannel(["2"])
    c = await callback_call.run(channel, "cb-" + "0" * 32, spoken_deps(tmp_path, recognizer))  # type: ignore[arg-type]
    assert c is not None and (c.result, c.satisfied) == (AttemptResult.COMPLETED, True)
    assert channel.played.count(SCRIPT_SATISFIED) == 2


async def test_words_outside_the_question_every_time_are_no_valid_answer(tmp_path: Path) -> None:
    recognizer = Recognizer(
        ("repair_fixed", "是"),
        ("repair_fixed", "是"),
        ("satisfaction", "[unk]"),
        ("satisfaction", "[unk]"),
    )
    c = await callback_call.run(
        SpeakingChannel([]), "cb-" + "0" * 32, spoken_deps(tmp_path, recognizer)
    )  # type: ignore[arg-type]
    assert c is not None and c.result is AttemptResult.NO_VALID_ANSWER
