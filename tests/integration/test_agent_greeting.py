"""The caller hears 您好，{工号}号为您服务 in our TTS when the agent answers.

The simulated caller records what it hears (``Record()`` on its own leg, so only audio that
reached the caller is in the file); the recording must contain the rendered greeting for the
answering agent's job number, after the answer and not before.
"""

from __future__ import annotations

import asyncio
import math
import uuid
import wave
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.domain.agents import Agent, greeting_text
from ivr_sandbox.simulation import SimulatedCaller, log_in_agent, log_out_agent, place_queue_call
from tests.integration.test_answer_times import finished_visits

pytestmark = pytest.mark.integration

FRAME = 160  # 20 ms at 8 kHz


def envelope(path: Path) -> list[float]:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        data = w.readframes(w.getnframes())
    samples = memoryview(data).cast("h")
    return [
        math.sqrt(sum(s * s for s in samples[i : i + FRAME]) / FRAME)
        for i in range(0, len(samples) - FRAME + 1, FRAME)
    ]


def best_match(recording: list[float], prompt: list[float]) -> tuple[int, float]:
    """Offset (in frames) and normalised correlation of the prompt's envelope in the recording."""
    best = (0, -1.0)
    n = len(prompt)
    p_mean = sum(prompt) / n
    p_dev = math.sqrt(sum((p - p_mean) ** 2 for p in prompt))
    for offset in range(len(recording) - n + 1):
        window = recording[offset : offset + n]
        w_mean = sum(window) / n
        w_dev = math.sqrt(sum((w - w_mean) ** 2 for w in window))
        if w_dev == 0:
            continue
        corr = sum((w - w_mean) * (p - p_mean) for w, p in zip(window, prompt, strict=True))
        score = corr / (w_dev * p_dev)
        if score > best[1]:
            best = (offset, score)
    return best


async def test_caller_hears_the_greeting_with_the_job_number(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    interface = "Local/2101@sim-agents/n"
    await bridge.agents.put(Agent("1024", "test agent", interface, ("q-t-1",)))
    prompt = await bridge.prompts.prompt_path(greeting_text("1024"))
    recordings = Settings().sandbox.recordings_dir
    target = recordings / f"greeting-{uuid.uuid4().hex[:8]}"
    await log_in_agent(client, "2101", ["q-t-1"], answer_after_s=1.0, talk_s=4)
    try:
        await place_queue_call(
            client,
            SimulatedCaller("13500000101", pause_s=0, hold_s=8),
            "q-t-1",
            record_to=str(target),
        )
        visits = await finished_visits(bridge, {"13500000101"}, 40)
    finally:
        await log_out_agent(client, interface, ["q-t-1"])
    visit = visits["13500000101"]
    assert visit.agent_interface == interface
    wav = target.with_suffix(".wav")
    for _ in range(20):  # Record() closes its file as the channel goes
        if wav.exists():
            break
        await asyncio.sleep(0.2)
    try:
        heard = envelope(wav)
        # all but the last 200 ms: the greeting plays on both legs at once (the agent hears it
        # too) and the bridge that joins them may cut its fading tail
        greeting = envelope(prompt.with_suffix(".wav"))[:-10]
        offset, score = best_match(heard, greeting)
        print(f"greeting found at {offset * 20} ms into the recording, correlation {score:.3f}")
        assert score > 0.9
        # nothing loud before the answer (hold music is silence in the sandbox)
        answered_at = (visit.answered_us - visit.joined_us) / 1e6  # type: ignore[operator]
        assert max(heard[: int(answered_at * 50) - 5], default=0) < 100
        # and it began soon after the agent answered (recording starts ~ when the caller joined)
        assert answered_at - 0.2 <= offset * 0.02 <= answered_at + 1.0
    finally:
        wav.unlink(missing_ok=True)


async def test_unknown_agent_gets_no_greeting_and_the_call_goes_on(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    interface = await log_in_agent(client, "2102", ["q-t-2"], answer_after_s=0.5, talk_s=1)
    try:
        await place_queue_call(client, SimulatedCaller("13500000102", pause_s=0, hold_s=6), "q-t-2")
        visits = await finished_visits(bridge, {"13500000102"}, 30)
    finally:
        await log_out_agent(client, interface, ["q-t-2"])
    assert visits["13500000102"].agent_interface == interface
    assert visits["13500000102"].talk_ms is not None
