"""The WAV checks that stand between a TTS render and a caller hearing nothing."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from ivr.speech.audio import InvalidWavError, WavInfo, verify_speech_wav, wav_info


def write_wav(
    path: Path,
    samples: list[int],
    *,
    rate: int = 8000,
    channels: int = 1,
    sampwidth: int = 2,
) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sampwidth)
        w.setframerate(rate)
        if sampwidth == 2:
            w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        else:
            w.writeframes(bytes(s & 0xFF for s in samples))
    return path


def tone(
    seconds: float, *, rate: int = 8000, amplitude: int = 8000, hz: float = 440.0
) -> list[int]:
    return [
        round(amplitude * math.sin(2 * math.pi * hz * n / rate)) for n in range(int(seconds * rate))
    ]


def test_good_tone_is_accepted(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "tone.wav", tone(1.0))

    info = verify_speech_wav(path, rate=8000, channels=1)

    assert info == WavInfo(8000, 1, 2, 1.0)
    assert wav_info(path) == (8000, 1, 2, 1.0)


def test_wav_info_reports_format_without_judging_it(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stereo.wav", [0] * 44100, rate=22050, channels=2)

    assert wav_info(path) == WavInfo(rate=22050, channels=2, sampwidth=2, duration_s=1.0)


def test_silence_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "silence.wav", [0] * 16000)

    with pytest.raises(InvalidWavError, match="silent"):
        verify_speech_wav(path)


def test_near_silence_like_dither_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "dither.wav", [(-1) ** n for n in range(16000)])

    with pytest.raises(InvalidWavError, match="silent"):
        verify_speech_wav(path)


def test_quiet_but_real_speech_level_is_accepted(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "quiet.wav", tone(1.0, amplitude=1000))  # RMS ~707, -33 dBFS

    assert verify_speech_wav(path).duration_s == 1.0


def test_short_file_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "short.wav", tone(0.1))

    with pytest.raises(InvalidWavError, match="too short"):
        verify_speech_wav(path)
    assert verify_speech_wav(path, min_duration_s=0.05).duration_s == pytest.approx(0.1)


def test_header_only_file_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "header.wav", [])

    assert wav_info(path).duration_s == 0
    with pytest.raises(InvalidWavError, match="too short"):
        verify_speech_wav(path)


def test_truncated_data_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "cut.wav", tone(1.0))
    path.write_bytes(path.read_bytes()[: 44 + 8000])  # header still claims 16,000 bytes

    with pytest.raises(InvalidWavError, match="truncated"):
        verify_speech_wav(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"this is not audio at all, just some text " * 20, "not a PCM WAV"),
        (b"RIFF\x00\x00", "not a PCM WAV"),
        (b"ID3\x03\x00\x00\x00" + bytes(500), "not a PCM WAV"),  # an MP3 with a .wav name
    ],
    ids=["empty", "text", "cut-header", "mp3"],
)
def test_garbage_is_rejected(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)

    with pytest.raises(InvalidWavError, match=reason):
        wav_info(path)
    with pytest.raises(InvalidWavError, match=reason):
        verify_speech_wav(path)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidWavError, match="missing"):
        wav_info(tmp_path / "nope.wav")
    with pytest.raises(InvalidWavError, match="missing"):
        verify_speech_wav(tmp_path / "nope.wav")


def test_8_bit_is_rejected(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "u8.wav", [128 + (n % 50) for n in range(8000)], sampwidth=1)

    with pytest.raises(InvalidWavError, match="8-bit"):
        verify_speech_wav(path)


def test_wrong_rate_or_channels_is_rejected_when_asked(tmp_path: Path) -> None:
    wide = write_wav(tmp_path / "wide.wav", tone(1.0, rate=22050), rate=22050)
    stereo = write_wav(tmp_path / "stereo.wav", tone(2.0), channels=2)

    with pytest.raises(InvalidWavError, match="22050 Hz, expected 8000 Hz"):
        verify_speech_wav(wide, rate=8000)
    with pytest.raises(InvalidWavError, match="2 channels, expected 1"):
        verify_speech_wav(stereo, channels=1)
    assert verify_speech_wav(stereo).duration_s == 1.0


def test_error_names_the_file(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "named-prompt.wav", [0] * 8000)

    with pytest.raises(InvalidWavError, match=r"named-prompt\.wav"):
        verify_speech_wav(path)
