"""Grammars as data: phrase lists with [unk], answers, their checks, and what a result means."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.domain.calls import StepKind
from ivr.domain.menu import MenuError, MenuSession, Prompt, Route
from ivr.domain.speech import (
    Grammar,
    GrammarError,
    Hypothesis,
    NotUnderstood,
    Silence,
    Understood,
    Word,
    interpret,
)
from ivr.menu_file import load_menu
from ivr.speech.grammars import default_grammar_dir, load_grammars
from tests.speech import KO_GRAMMARS

ANSWERS = {"yes": ["是", "对"], "no": ["不是"]}


def yes_no() -> Grammar:
    return Grammar.from_data("yes_no", ["是", "对", "不是", "[unk]"], ANSWERS)


def heard(*words: tuple[str, float]) -> Hypothesis:
    return Hypothesis(tuple(Word(w, c) for w, c in words))


@pytest.mark.parametrize(
    ("phrases", "answers", "message"),
    [
        (["是", "不是"], ANSWERS, "needs '[unk]'"),
        ("是", ANSWERS, "JSON list of strings"),
        (["是", "是 ", "不是", "[unk]"], ANSWERS, "listed twice"),
        (["是", "", "[unk]"], ANSWERS, "empty phrase"),
        (["是", "对", "不是", "也许", "[unk]"], ANSWERS, "without an answer: 也许"),
        (["是", "对", "[unk]"], ANSWERS, "'不是' is not in the phrase list"),
        (["是", "对", "不是", "[unk]"], {"yes": ["是", "对"], "no": ["不是", "对"]}, "means both"),
        (["是", "对", "不是", "[unk]"], {"yes": ["是", "对"], "no": ["[unk]"]}, "never means"),
        (["是", "对", "不是", "[unk]"], {"Yes!": ["是"]}, "neither a key nor an answer id"),
        (["是", "[unk]"], {}, "no answers"),
    ],
)
def test_broken_grammars_are_refused_with_the_reason(phrases, answers, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GrammarError, match=re.escape(message)):
        Grammar.from_data("yes_no", phrases, answers)


def test_phrases_are_words_separated_by_spaces() -> None:
    grammar = Grammar.from_data("g", ["转  人工", "[unk]"], {"0": ["转 人工"]})
    assert grammar.phrases == ("转 人工", "[unk]")
    assert grammar.words() == {"转", "人工"}


def test_interpretation() -> None:
    grammar = yes_no()
    assert interpret(heard(("是", 0.9)), grammar, 0.6) == Understood("yes", "是", 0.9)
    assert interpret(heard(), grammar, 0.6) == Silence()
    assert isinstance(interpret(heard(("[unk]", 1.0)), grammar, 0.6), NotUnderstood)
    # a grammar recogniser loops: two phrases in a row are no answer
    two = interpret(heard(("是", 1.0), ("不是", 1.0)), grammar, 0.6)
    assert two == NotUnderstood("是 不是", "not one phrase of the question")
    unsure = interpret(heard(("不是", 0.4)), grammar, 0.6)
    assert isinstance(unsure, NotUnderstood) and "confidence 0.40" in unsure.why


def test_the_shipped_grammars_load_and_fit_the_menu() -> None:
    menu = load_menu()
    for directory in (default_grammar_dir(), KO_GRAMMARS):
        grammars = load_grammars(directory)
        assert set(grammars) == {"main_menu", "repair_fixed", "satisfaction"}
        assert all("[unk]" in g.phrases for g in grammars.values())
        menu.check_grammars(grammars)
    mandarin = load_grammars(default_grammar_dir())
    # the synonyms real callers use, mapped to the main menu's keys
    said = mandarin["main_menu"].answers
    assert [said[p] for p in ("报修", "停电 了", "没 电 了", "电费", "交费", "欠费")] == list(
        "111222"
    )
    assert [said[p] for p in ("投诉", "举报", "人工", "转 人工")] == list("4400")
    assert mandarin["satisfaction"].answers["还行"] == "neutral"
    assert mandarin["repair_fixed"].answers["不是"] == "no"


def test_a_broken_grammar_directory_names_the_file(tmp_path: Path) -> None:
    shutil.copytree(KO_GRAMMARS, tmp_path / "g")
    (tmp_path / "g" / "extra.json").write_text('["네", "[unk]"]', encoding="utf-8")
    with pytest.raises(GrammarError, match="no answers for extra"):
        load_grammars(tmp_path / "g")
    (tmp_path / "g" / "extra.json").unlink()
    (tmp_path / "g" / "satisfaction.json").write_text("[not json", encoding="utf-8")
    with pytest.raises(GrammarError, match=r"satisfaction\.json: not valid JSON"):
        load_grammars(tmp_path / "g")
    (tmp_path / "g" / "satisfaction.json").unlink()
    with pytest.raises(GrammarError, match=r"satisfaction\.json is missing"):
        load_grammars(tmp_path / "g")
    with pytest.raises(GrammarError, match=r"answers\.toml: missing"):
        load_grammars(tmp_path)


def test_a_menu_grammar_must_answer_with_that_menus_keys(tmp_path: Path) -> None:
    menu = load_menu()
    grammars = load_grammars(KO_GRAMMARS)
    bad = Grammar.from_data("main_menu", ["고장", "[unk]"], {"7": ["고장"]})
    with pytest.raises(GrammarError, match=r"nodes\.main: grammar 'main_menu' answers 7"):
        menu.check_grammars({**grammars, "main_menu": bad})
    with pytest.raises(MenuError, match="no grammar named 'main_menu'"):
        menu.check_grammars({})
    assert json.loads((KO_GRAMMARS / "main_menu.json").read_text(encoding="utf-8"))[-1] == "[unk]"


def clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


def test_session_listens_only_where_a_grammar_is_and_speech_is_on() -> None:
    menu = load_menu()
    off = MenuSession(menu, clock).start()
    assert off.grammar is None and menu.nodes["main"].speech_hint not in off.texts
    on = MenuSession(menu, clock, speech=True).start()
    assert on.grammar == "main_menu"
    assert on.texts == (menu.greeting, menu.nodes["main"].speech_hint, menu.nodes["main"].prompt)


def test_a_spoken_answer_acts_as_its_key_and_is_recorded() -> None:
    menu = load_menu()
    session = MenuSession(menu, clock, speech=True)
    session.start()
    action = session.on_speech(Understood("1", "报修", 0.93))
    assert action == Prompt("repair", (menu.nodes["repair"].prompt,))  # repair menu: no grammar
    assert session.keys == ""  # nothing was pressed
    speech = [s for s in session.steps if s.kind == StepKind.SPEECH]
    assert [s.detail for s in speech] == ["报修 -> 1 (0.93)"]
    route = session.on_key("1")
    assert isinstance(route, Route) and route.choice == "repair.no_power"


def test_a_silent_caller_who_pressed_nothing_goes_to_an_agent_after_the_key_wait() -> None:
    session = MenuSession(load_menu(), clock, speech=True)
    session.start()
    assert session.on_speech(Silence()) == Prompt("main", ())  # one wait for a key
    assert session.on_timeout() == Route("q-general", "agent.default", 0, by_default=True)
    kinds = [s.kind for s in session.steps]
    assert kinds[-4:] == [StepKind.SPEECH, StepKind.TIMEOUT, StepKind.DEFAULT, StepKind.ROUTE]


def test_silence_waits_for_keys_and_unclear_speech_is_asked_again_once() -> None:
    menu = load_menu()
    session = MenuSession(menu, clock, speech=True)
    session.start()
    session.on_key("*")  # a caller who pressed something is not handed over for silence
    assert session.on_speech(Silence()) == Prompt("main", ())  # straight to waiting for a key
    assert session.on_timeout().grammar is None  # type: ignore[union-attr]  # keys only here now
    session.on_key("1")
    assert session.on_key("#").grammar == "main_menu"  # type: ignore[union-attr]  # back: listens
    again = session.on_speech(NotUnderstood("[unk]", "outside the grammar"))
    assert again.grammar == "main_menu" and again.texts[0] == menu.speech_retry_prompt
    keys_only = session.on_speech(NotUnderstood("[unk]", "outside the grammar"))
    assert keys_only == Prompt("main", (menu.speech_keys_prompt, menu.nodes["main"].prompt))
    # after that the menu no longer listens, but keys and their retries work as before
    assert session.on_timeout().grammar is None  # type: ignore[union-attr]
    assert session.on_key("0") == Route("q-general", "agent", 0, by_default=False)
