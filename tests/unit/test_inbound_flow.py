"""The inbound flow's logic with in-memory stand-ins (the real path is in tests/integration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ivr.domain.calls import CallerHungUp, CallOutcome, CallRecord, CallStep, StepKind
from ivr.domain.speech import Grammar, Hypothesis, Word
from ivr.flows import inbound
from ivr.menu_file import load_menu
from ivr.services.call_journal import CallJournal
from ivr.speech.grammars import default_grammar_dir, load_grammars

START = inbound.CallStart("1.1", "13800000001", "95598", "Local/x;2")


class ScriptedChannel:
    """Answers play/wait with scripted keys (None = no key); raises when told to."""

    def __init__(self, keys: Sequence[str | type[BaseException] | None]) -> None:
        self.keys = list(keys)
        self.variables: dict[str, str] = {}
        self.played: list[Path] = []

    async def answer(self) -> None:
        return None

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt)
        return self._next() if escape_digits else None

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return self._next()

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    def _next(self) -> str | None:
        key = self.keys.pop(0) if self.keys else None
        if isinstance(key, type):
            raise key("scripted")
        return key


class Prompts:
    async def prompt_path(self, text: str) -> Path:
        return Path("/prompts") / str(abs(hash(text)))


class MemoryRepository:
    def __init__(self, fail_first: int = 0) -> None:
        self.calls: dict[str, CallRecord] = {}
        self.steps: dict[str, list[CallStep]] = {}
        self.fail_first = fail_first

    def _maybe_fail(self) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("database down")

    async def add(self, record: CallRecord) -> None:
        self._maybe_fail()
        self.calls[record.call_id] = record
        self.steps[record.call_id] = list(record.steps)

    async def add_steps(self, call_id: str, steps: Sequence[CallStep]) -> None:
        self._maybe_fail()
        self.steps[call_id].extend(steps)

    async def save(self, record: CallRecord) -> None:
        self._maybe_fail()
        stored = self.steps.setdefault(record.call_id, [])
        self.calls[record.call_id] = record
        stored.extend(record.steps[len(stored) :])

    async def update(self, record: CallRecord) -> None:
        self._maybe_fail()

    async def mark_ended(self, *args: object) -> bool:
        self._maybe_fail()
        return True


def deps(repository: MemoryRepository) -> inbound.InboundDeps:
    return inbound.InboundDeps(
        load_menu(), Prompts(), CallJournal(repository), lambda: datetime(2026, 1, 1, tzinfo=UTC)
    )


async def run(channel: ScriptedChannel, repository: MemoryRepository) -> CallRecord:
    """The flow, then every record write it queued."""
    call_deps = deps(repository)
    record = await inbound.run(channel, START, call_deps)
    await call_deps.journal.drain()
    return record


async def test_a_chosen_route_sets_the_channel_variables() -> None:
    channel, repo = ScriptedChannel(["1", "3"]), MemoryRepository()
    record = await run(channel, repo)
    assert record.outcome == CallOutcome.ROUTED
    assert channel.variables == {
        "__IVR_CALL_ID": record.call_id,
        "__IVR_CHOICE": "repair.hazard",
        "__IVR_MENU_PATH": "main>repair",
        "QUEUE_PRIO": "10",
        "IVR_QUEUE": "q-repair",
    }
    assert list(channel.variables)[-1] == "IVR_QUEUE"  # the dialplan acts on it: set last
    assert [s.kind for s in repo.steps[record.call_id]] == [
        StepKind.PROMPT,
        StepKind.KEY,
        StepKind.PROMPT,
        StepKind.KEY,
        StepKind.ROUTE,
    ]


async def test_hangup_in_the_menu_is_an_abandon_not_an_error() -> None:
    channel, repo = ScriptedChannel(["1", CallerHungUp]), MemoryRepository()
    record = await run(channel, repo)
    assert record.outcome == CallOutcome.ABANDONED_IN_MENU
    assert record.ended_at is not None and record.menu_path == ["main", "repair"]
    assert repo.steps[record.call_id][-1].kind == StepKind.HANGUP
    assert "IVR_QUEUE" not in channel.variables


async def test_a_bridge_fault_is_recorded_and_leaves_routing_to_the_dialplan() -> None:
    channel, repo = ScriptedChannel(["1", RuntimeError]), MemoryRepository()
    record = await run(channel, repo)
    assert record.outcome == CallOutcome.FAILED
    assert repo.steps[record.call_id][-1].detail == "RuntimeError"


async def test_a_database_outage_at_the_start_loses_nothing() -> None:
    channel, repo = ScriptedChannel(["0"]), MemoryRepository(fail_first=1)
    record = await run(channel, repo)
    assert record.outcome == CallOutcome.ROUTED  # the caller never noticed
    assert [s.kind for s in repo.steps[record.call_id]] == [
        StepKind.PROMPT,
        StepKind.KEY,
        StepKind.ROUTE,
    ]


class ListeningChannel(ScriptedChannel):
    """A caller quiet during prompts; ``record`` writes a stand-in WAV, as Asterisk would."""

    def __init__(self, keys: Sequence[str | type[BaseException] | None]) -> None:
        super().__init__(keys)
        self.recorded: list[Path] = []

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        self.played.append(prompt)
        return None

    async def record(
        self, path: Path, escape_digits: str, timeout_ms: int, silence_s: int
    ) -> str | None:
        path.with_suffix(".wav").write_bytes(b"RIFF")
        self.recorded.append(path)
        return None


class ScriptedRecognizer:
    def __init__(self, results: Sequence[Hypothesis | type[BaseException]]) -> None:
        self.results = list(results)

    async def recognize(self, recording: Path, grammar: Grammar) -> Hypothesis:
        assert recording.exists() and grammar.name == "main_menu"
        result = self.results.pop(0)
        if isinstance(result, type):
            raise result("scripted")
        return result


def speech_deps(repo: MemoryRepository, recognizer: ScriptedRecognizer, tmp: Path):  # type: ignore[no-untyped-def]
    grammars = load_grammars(default_grammar_dir())
    speech = inbound.SpeechDeps(recognizer, grammars, tmp)
    return replace(deps(repo), speech=speech)


def said(*words: str) -> Hypothesis:
    return Hypothesis(tuple(Word(w, 0.95) for w in words))


async def test_a_spoken_choice_routes_and_the_recording_is_deleted(tmp_path: Path) -> None:
    channel, repo = ListeningChannel(["2"]), MemoryRepository()
    recognizer = ScriptedRecognizer([said("投诉")])
    record = await inbound.run(channel, START, speech_deps(repo, recognizer, tmp_path))
    assert (record.route, record.choice, record.keys) == ("q-complaint", "complaint.report", "2")
    assert [s.kind for s in record.steps][:3] == [StepKind.PROMPT, StepKind.SPEECH, StepKind.KEY]
    assert len(channel.recorded) == 1 and list(tmp_path.iterdir()) == []  # voice not kept


async def test_a_broken_recogniser_costs_the_caller_nothing_but_speech(tmp_path: Path) -> None:
    channel, repo = ListeningChannel(["0"]), MemoryRepository()
    recognizer = ScriptedRecognizer([TimeoutError])
    record = await inbound.run(channel, START, speech_deps(repo, recognizer, tmp_path))
    assert (record.outcome, record.choice) == (CallOutcome.ROUTED, "agent")
    assert list(tmp_path.iterdir()) == []
