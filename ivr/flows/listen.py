"""Listening for a spoken answer: Asterisk records, the recogniser hears it with the question's
grammar, the recording is gone afterwards.

Shared by every conversation that accepts speech (the inbound menu, the 回访). FastAGI carries
no audio, so Asterisk records into a directory both sides see; any key ends the recording and
counts as that key, so keys keep working while we listen. A recogniser that fails or lags costs
the caller speech only: the question falls back to keys.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.domain.speech import Grammar, Heard, Silence, interpret
from ivr.ports import Channel, Recognizer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpeechDeps:
    """How a flow listens: where Asterisk records, how long, and how sure is sure enough."""

    recognizer: Recognizer
    grammars: Mapping[str, Grammar]
    recordings_dir: Path  # Asterisk writes here and we read: the same path on both sides
    listen_max_ms: int = 6000
    end_silence_s: int = 2
    min_confidence: float = 0.6
    keep_recordings: bool = False


async def listen(
    channel: Channel, grammar_name: str, name: str, speech: SpeechDeps, keys: str
) -> tuple[str | None, Heard | None]:
    """Record the answer as ``name`` and recognise it: (key pressed, None) or (None, heard).

    ``(None, None)`` means the recogniser failed or lagged: the question falls back to keys,
    the fault is logged, and nothing else changes for this call.
    """
    path = speech.recordings_dir / name
    key = await channel.record(path, keys, speech.listen_max_ms, speech.end_silence_s)
    wav = path.with_suffix(".wav")
    try:
        if key is not None:
            return key, None
        if not wav.exists():
            return None, Silence()  # Asterisk writes nothing when no audio arrived at all
        grammar = speech.grammars[grammar_name]
        hypothesis = await speech.recognizer.recognize(wav, grammar)
        return None, interpret(hypothesis, grammar, speech.min_confidence)
    except Exception:
        log.exception("recognition failed on %s; this question falls back to keys", name)
        return None, None
    finally:
        if not speech.keep_recordings:
            with contextlib.suppress(OSError):
                wav.unlink(missing_ok=True)  # a caller's voice is personal data
