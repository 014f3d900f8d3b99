"""Automatic findings on a recorded call (质检 where a machine can judge).

Pure analysis on sample arrays (16-bit mono PCM, one per direction); reading the WAV files is
the adapter's job (``ivr.recording_files``). The findings:

* ``short_call`` — the answered call lasted less than ``short_call_s``;
* ``no_opening`` — the standard opening 您好，{工号}号为您服务 (the rendered prompt the bridge
  plays when the agent answers) is not on the agent's side within ``opening_window_s``;
* ``long_silence`` — neither side spoke for ``long_silence_s`` or more (dead air, a hold
  without music);
* ``over_talk`` — both sides spoke at once for ``over_talk_s`` or more without a break
  (the agent speaking over the customer).

Speech is judged on 20 ms frames: a frame is active when its RMS is at least
``active_rms``; active stretches closer than ``bridge_gap_ms`` are one stretch (the pauses
between words are not silence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

FRAME_MS = 20


class FindingKind(StrEnum):
    SHORT_CALL = "short_call"
    NO_OPENING = "no_opening"
    LONG_SILENCE = "long_silence"
    OVER_TALK = "over_talk"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    at_ms: int  # from the start of the recording
    length_ms: int

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind.value, "at_ms": self.at_ms, "length_ms": self.length_ms}


@dataclass(frozen=True, slots=True)
class FindingRules:
    """The thresholds (settings ``[recording]``; the defaults suit a telephone line)."""

    short_call_s: float = 10.0
    opening_window_s: float = 10.0
    opening_match: float = 0.8  # normalised correlation of the envelopes
    long_silence_s: float = 8.0
    over_talk_s: float = 2.0
    active_rms: float = 300.0  # about -40 dBFS
    bridge_gap_ms: int = 300


def envelope(samples: Sequence[int], rate: int) -> list[float]:
    """RMS of each whole 20 ms frame."""
    size = max(rate * FRAME_MS // 1000, 1)
    out = []
    for i in range(0, len(samples) - size + 1, size):
        frame = samples[i : i + size]
        out.append(math.sqrt(sum(s * s for s in frame) / size))
    return out


def active_spans(env: Sequence[float], rules: FindingRules) -> list[tuple[int, int]]:
    """Speech stretches as [start, end) frame indexes, short gaps bridged."""
    spans: list[tuple[int, int]] = []
    gap = rules.bridge_gap_ms // FRAME_MS
    start = None
    for i, value in enumerate(env):
        if value >= rules.active_rms:
            if start is None:  # a gap shorter than bridge_gap_ms continues the last stretch
                start = spans.pop()[0] if spans and i - spans[-1][1] <= gap else i
        elif start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(env)))
    return spans


def best_match(haystack: Sequence[float], needle: Sequence[float]) -> tuple[int, float]:
    """Frame offset and normalised correlation of ``needle``'s envelope in ``haystack``'s."""
    n = len(needle)
    best = (0, -1.0)
    if n == 0 or len(haystack) < n:
        return best
    mean_n = sum(needle) / n
    dev_n = math.sqrt(sum((v - mean_n) ** 2 for v in needle))
    if dev_n == 0:
        return best
    centred = [v - mean_n for v in needle]
    for offset in range(len(haystack) - n + 1):
        window = haystack[offset : offset + n]
        mean_w = sum(window) / n
        dev_w = math.sqrt(sum((w - mean_w) ** 2 for w in window))
        if dev_w == 0:
            continue
        score = sum((w - mean_w) * c for w, c in zip(window, centred, strict=True)) / (
            dev_w * dev_n
        )
        if score > best[1]:
            best = (offset, score)
    return best


def _silences(
    agent: list[tuple[int, int]], customer: list[tuple[int, int]], frames: int, min_frames: int
) -> list[tuple[int, int]]:
    """Stretches of at least ``min_frames`` where neither side is active."""
    busy = sorted(agent + customer)
    out = []
    cursor = 0
    for start, end in [*busy, (frames, frames)]:
        if start - cursor >= min_frames:
            out.append((cursor, start))
        cursor = max(cursor, end)
    return out


def _overlaps(
    agent: list[tuple[int, int]], customer: list[tuple[int, int]], min_frames: int
) -> list[tuple[int, int]]:
    """Stretches of at least ``min_frames`` where both sides are active."""
    out = []
    for a_start, a_end in agent:
        for c_start, c_end in customer:
            start, end = max(a_start, c_start), min(a_end, c_end)
            if end - start >= min_frames:
                out.append((start, end))
    return sorted(out)


def analyse(
    agent: Sequence[int],
    customer: Sequence[int],
    rate: int,
    greeting: Sequence[int] | None,
    greeting_rate: int,
    rules: FindingRules,
) -> list[Finding]:
    """The findings on one call. ``greeting``: the opening prompt as rendered for this agent,
    or ``None`` when no opening is due (回访, dispatch: the bridge's own script)."""
    findings: list[Finding] = []
    agent_env = envelope(agent, rate)
    customer_env = envelope(customer, rate)
    frames = max(len(agent_env), len(customer_env))
    if frames * FRAME_MS < rules.short_call_s * 1000:
        findings.append(Finding(FindingKind.SHORT_CALL, 0, frames * FRAME_MS))
    if greeting is not None:
        wanted = envelope(greeting, greeting_rate)
        window = round(rules.opening_window_s * 1000 / FRAME_MS) + len(wanted)
        _offset, score = best_match(agent_env[:window], wanted)
        if score < rules.opening_match:
            findings.append(Finding(FindingKind.NO_OPENING, 0, 0))
    a_spans = active_spans(agent_env, rules)
    c_spans = active_spans(customer_env, rules)
    silence = round(rules.long_silence_s * 1000 / FRAME_MS)
    for start, end in _silences(a_spans, c_spans, frames, silence):
        findings.append(
            Finding(FindingKind.LONG_SILENCE, start * FRAME_MS, (end - start) * FRAME_MS)
        )
    over = round(rules.over_talk_s * 1000 / FRAME_MS)
    for start, end in _overlaps(a_spans, c_spans, over):
        findings.append(Finding(FindingKind.OVER_TALK, start * FRAME_MS, (end - start) * FRAME_MS))
    return findings
