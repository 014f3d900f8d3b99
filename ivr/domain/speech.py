"""Spoken answers: which phrases a question accepts, and what a recognition result means.

A *grammar* is one question's phrase list (what vosk may hear, always with ``[unk]`` so that
anything else is heard as "unknown" instead of being forced onto the nearest phrase) plus the
meaning of each phrase: a menu key (``"1"``) or an answer id (``"satisfied"``). Both are data
(``grammars/*.json`` and ``grammars/answers.toml``); this module checks them and interprets
results. It does no I/O and knows no engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

UNKNOWN = "[unk]"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ANSWER = re.compile(r"^[0-9*#]$|^[a-z][a-z0-9_.]{0,63}$")


class GrammarError(ValueError):
    """A grammar file or its answers are not usable; the message says where."""


def normalise(phrase: str) -> str:
    """Words separated by single spaces (vosk splits phrases into words on whitespace)."""
    return " ".join(phrase.split())


@dataclass(frozen=True, slots=True)
class Grammar:
    """One question: the phrases vosk listens for and what each one means."""

    name: str
    phrases: tuple[str, ...]  # as given to the recogniser, "[unk]" included
    answers: Mapping[str, str]  # normalised phrase -> answer (menu key or answer id)

    @classmethod
    def from_data(cls, name: str, phrases: Any, answers: Any) -> Grammar:
        """Check a phrase list (parsed JSON) against its answer table (parsed TOML)."""
        where = f"grammar {name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise GrammarError(f"{where}: a grammar name is a lower-case word (a-z, 0-9, _)")
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise GrammarError(f"{where}: the phrase list is a JSON list of strings")
        cleaned = [normalise(p) for p in phrases]
        if any(not p for p in cleaned):
            raise GrammarError(f"{where}: an empty phrase")
        duplicates = sorted({p for p in cleaned if cleaned.count(p) > 1})
        if duplicates:
            raise GrammarError(f"{where}: phrases listed twice: {', '.join(duplicates)}")
        if UNKNOWN not in cleaned:
            raise GrammarError(
                f"{where}: the phrase list needs {UNKNOWN!r} (out-of-grammar speech)"
            )
        if not isinstance(answers, Mapping) or not answers:
            raise GrammarError(f"{where}: no answers (a table of answer = [phrases])")
        meaning: dict[str, str] = {}
        for answer, said in answers.items():
            answer = str(answer)
            if not _ANSWER.match(answer):
                raise GrammarError(f"{where}: {answer!r} is neither a key nor an answer id")
            if not isinstance(said, list) or not said or not all(isinstance(s, str) for s in said):
                raise GrammarError(f"{where}.{answer}: expected a non-empty list of phrases")
            for phrase in map(normalise, said):
                if phrase == UNKNOWN:
                    raise GrammarError(f"{where}.{answer}: {UNKNOWN!r} never means an answer")
                if phrase not in cleaned:
                    raise GrammarError(f"{where}.{answer}: {phrase!r} is not in the phrase list")
                if phrase in meaning and meaning[phrase] != answer:
                    raise GrammarError(
                        f"{where}: {phrase!r} means both {meaning[phrase]!r} and {answer!r}"
                    )
                meaning[phrase] = answer
        unmapped = sorted(set(cleaned) - set(meaning) - {UNKNOWN})
        if unmapped:
            raise GrammarError(f"{where}: phrases without an answer: {', '.join(unmapped)}")
        return cls(name, tuple(cleaned), meaning)

    def words(self) -> set[str]:
        """Every word the recogniser must know (``[unk]`` is the engine's business)."""
        return {w for p in self.phrases if p != UNKNOWN for w in p.split()}

    def answer_ids(self) -> set[str]:
        return set(self.answers.values())


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What the recogniser heard in one recording, word by word."""

    words: tuple[Word, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class Understood:
    answer: str
    phrase: str
    confidence: float


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """Speech that is no single phrase of the question, or too unsure to act on."""

    text: str
    why: str


@dataclass(frozen=True, slots=True)
class Silence:
    """Nothing was said (or nothing the recogniser could make words of)."""


Heard = Understood | NotUnderstood | Silence


def interpret(hypothesis: Hypothesis, grammar: Grammar, min_confidence: float) -> Heard:
    """Act only on exactly one phrase of the grammar, said with enough confidence.

    A grammar recogniser loops over its phrases, so speech outside the grammar comes back as
    ``[unk]`` or as a string of phrases ("电费 报修"): neither is an answer. Confidence is the
    lowest word confidence, so one doubtful word is enough to ask again.
    """
    words = tuple(w for w in hypothesis.words if w.text)
    if not words:
        return Silence()
    text = " ".join(w.text for w in words)
    if any(w.text == UNKNOWN for w in words):
        return NotUnderstood(text, "outside the grammar")
    answer = grammar.answers.get(text)
    if answer is None:
        return NotUnderstood(text, "not one phrase of the question")
    confidence = min(w.confidence for w in words)
    if confidence < min_confidence:
        return NotUnderstood(text, f"confidence {confidence:.2f} below {min_confidence:.2f}")
    return Understood(answer, text, confidence)


def describe(heard: Heard) -> str:
    """The call step's detail: what was heard and what it meant (no personal data: menu words)."""
    match heard:
        case Understood(answer, phrase, confidence):
            return f"{phrase} -> {answer} ({confidence:.2f})"
        case NotUnderstood(text, why):
            return f"not understood: {text} ({why})"[:200]
        case _:
            return "nothing said"


def check_answers(grammar: Grammar, allowed: Sequence[str], where: str) -> None:
    """Every answer of ``grammar`` must be one of ``allowed`` (a menu's keys, a question's ids)."""
    unknown = sorted(grammar.answer_ids() - set(allowed))
    if unknown:
        raise GrammarError(
            f"{where}: grammar {grammar.name!r} answers {', '.join(unknown)}, "
            f"which are not among {', '.join(sorted(allowed))}"
        )
