"""Loading grammars from a directory: ``<name>.json`` phrase lists + ``answers.toml``.

The I/O half of :mod:`ivr.domain.speech`; everything is checked before the first call.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ivr.domain.speech import Grammar, GrammarError

ANSWERS_FILE = "answers.toml"


def default_grammar_dir() -> Path:
    """The repository's ``grammars/`` (beside the package), the production Mandarin grammars."""
    return Path(__file__).resolve().parents[2] / "grammars"


def load_grammars(directory: Path) -> dict[str, Grammar]:
    """Every grammar in ``directory``: each table of answers.toml with its JSON phrase list.

    A JSON file without answers, or answers without a JSON file, is an error: a question whose
    phrases mean nothing (or that nobody can say) is a mistake, not an option.
    """
    answers_path = directory / ANSWERS_FILE
    try:
        answers = tomllib.loads(answers_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GrammarError(f"{answers_path}: missing (what each phrase means)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GrammarError(f"{answers_path}: not valid TOML: {exc}") from exc
    lists = {p.stem: p for p in sorted(directory.glob("*.json"))}
    orphans = sorted(set(lists) - set(answers))
    if orphans:
        raise GrammarError(f"{answers_path}: no answers for {', '.join(orphans)}")
    grammars: dict[str, Grammar] = {}
    for name, table in answers.items():
        path = lists.get(name)
        if path is None:
            raise GrammarError(
                f"{directory}: answers.toml names {name!r} but {name}.json is missing"
            )
        try:
            phrases = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GrammarError(f"{path}: not valid JSON: {exc}") from exc
        try:
            grammars[name] = Grammar.from_data(name, phrases, table)
        except GrammarError as exc:
            raise GrammarError(f"{path}: {exc}") from exc
    return grammars
