"""Automatic findings on recordings: pure rules on sample arrays, and the WAV adapter on files
with a known silence, over-talk and a missing greeting."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

from ivr.domain.recording_findings import FindingKind, FindingRules, analyse
from ivr.recording_files import RecordingFilesOnDisk

RATE = 8000
RULES = FindingRules()


def silence(seconds: float) -> list[int]:
    return [0] * int(seconds * RATE)


def voice(seconds: float, freq: float = 300.0, seed: int = 1) -> list[int]:
    """Speech-like: a tone whose loudness moves in syllables (so envelopes have a shape)."""
    n = int(seconds * RATE)
    return [
        round(
            6000
            * (0.55 + 0.45 * math.sin(2 * math.pi * (3 + seed) * i / RATE))
            * math.sin(2 * math.pi * freq * i / RATE)
        )
        for i in range(n)
    ]


def write(path: Path, samples: list[int]) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", samples).tobytes())
    return path


def kinds(findings) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.kind.value for f in findings}


GREETING = voice(2.0, 500, seed=2)


def test_a_good_call_has_no_findings() -> None:
    agent = GREETING + silence(1) + voice(3) + silence(4) + voice(3) + silence(2)
    customer = silence(3) + silence(3.5) + voice(3.5) + silence(6)
    assert analyse(agent, customer, RATE, GREETING, RATE, RULES) == []


def test_a_missing_greeting_is_no_opening() -> None:
    agent = voice(3) + silence(1) + voice(3) + silence(6)
    customer = silence(7.5) + voice(3) + silence(2.5)
    found = analyse(agent, customer, RATE, GREETING, RATE, RULES)
    assert kinds(found) == {"no_opening"}
    # 回访 / dispatch: no opening is due, so none is missing
    assert analyse(agent, customer, RATE, None, RATE, RULES) == []


def test_long_silence_is_found_where_it_is() -> None:
    agent = GREETING + silence(0.5) + voice(2) + silence(10) + voice(2)
    customer = silence(len(agent) / RATE)
    found = [f for f in analyse(agent, customer, RATE, GREETING, RATE, RULES)]
    assert kinds(found) == {"long_silence"}
    (gap,) = found
    assert abs(gap.at_ms - 4500) <= 100 and abs(gap.length_ms - 10000) <= 100


def test_over_talk_is_found_and_short_overlap_is_not() -> None:
    agent = GREETING + voice(5) + silence(4)
    customer = silence(2) + silence(1) + voice(3, 200, seed=3) + silence(5)  # 3 s over the agent
    found = analyse(agent, customer, RATE, GREETING, RATE, RULES)
    assert kinds(found) == {"over_talk"}
    (over,) = found
    assert abs(over.at_ms - 3000) <= 100 and abs(over.length_ms - 3000) <= 100
    brief = silence(6.5) + voice(1, 200, seed=3) + silence(3.5)  # 0.5 s of overlap: a turn
    assert analyse(agent, brief, RATE, GREETING, RATE, RULES) == []


def test_a_short_call() -> None:
    agent = GREETING + voice(2)
    customer = silence(1) + voice(1) + silence(2)
    assert kinds(analyse(agent, customer, RATE, GREETING, RATE, RULES)) == {"short_call"}


def test_the_adapter_reads_the_wavs(tmp_path: Path) -> None:
    """The same rules through the files: a recording with a known silence, over-talk and a
    missing greeting gets exactly those findings; sizes, duration and checksum measured."""
    agent = voice(3) + voice(4) + silence(9) + voice(2)
    customer = silence(4) + voice(3, 200, seed=3) + silence(9) + voice(2, 200, seed=3)
    files = RecordingFilesOnDisk()
    a = write(tmp_path / "a-agent.wav", agent)
    c = write(tmp_path / "a-customer.wav", customer)
    g = write(tmp_path / "greeting.wav", GREETING)
    found = files.analyse(str(a), str(c), g, RULES)
    assert kinds(found) == {"no_opening", "long_silence", "over_talk"}
    measured = files.measure(str(a))
    assert measured is not None and measured.duration_ms == 18000
    assert measured.bytes == a.stat().st_size and len(measured.sha256) == 64
    assert files.stable(str(a))
    assert files.measure(str(tmp_path / "missing.wav")) is None
    assert files.delete(str(a)) and not files.delete(str(a))


def test_an_unclosed_file_is_not_stable(tmp_path: Path) -> None:
    """format_wav writes the data length when it closes the file: until then, 0."""
    path = write(tmp_path / "open.wav", voice(1))
    data = bytearray(path.read_bytes())
    data[40:44] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert not RecordingFilesOnDisk().stable(str(path))


def test_finding_kinds_are_the_documented_ones() -> None:
    assert {k.value for k in FindingKind} == {
        "short_call",
        "no_opening",
        "long_silence",
        "over_talk",
    }
