"""Checks that a WAV file really holds speech before Asterisk is told to play it.

A TTS engine can "succeed" and still leave a missing, empty, truncated or silent file (see
``tts.py``); a caller would then hear nothing. Every rendered file goes through
:func:`verify_speech_wav`. Pure standard library, so it also runs inside the TTS worker.
"""

from __future__ import annotations

import math
import operator
import sys
import wave
from array import array
from pathlib import Path
from typing import NamedTuple

#: RMS (in 16-bit sample units) below which a file counts as silent: about -50 dBFS.
#: espeak-ng speech sits near 2,500-4,000; sox dither on digital silence is ~1.
DEFAULT_MIN_RMS = 100.0
DEFAULT_MIN_DURATION_S = 0.3

_CHUNK_FRAMES = 65_536


class InvalidWavError(ValueError):
    """The file is not a playable speech WAV; the message says why and names the file."""


class WavInfo(NamedTuple):
    rate: int
    channels: int
    sampwidth: int
    duration_s: float


def wav_info(path: Path) -> WavInfo:
    """Format and length from the header only (cheap: no sample data is read)."""
    with _open(path) as w:
        rate, channels, sampwidth = w.getframerate(), w.getnchannels(), w.getsampwidth()
        if rate <= 0:
            raise InvalidWavError(f"{path}: sample rate {rate} in header")
        return WavInfo(rate, channels, sampwidth, w.getnframes() / rate)


def verify_speech_wav(
    path: Path,
    min_duration_s: float = DEFAULT_MIN_DURATION_S,
    min_rms: float = DEFAULT_MIN_RMS,
    *,
    rate: int | None = None,
    channels: int | None = None,
) -> WavInfo:
    """Raise :class:`InvalidWavError` unless ``path`` is a long-enough, audible 16-bit WAV.

    ``rate``/``channels``, when given, must match too. Reads every sample (to compute RMS and
    to catch a data chunk shorter than its header claims), so use :func:`wav_info` for
    repeated cheap checks.
    """
    with _open(path) as w:
        info = WavInfo(w.getframerate(), w.getnchannels(), w.getsampwidth(), 0.0)
        if info.sampwidth != 2:
            raise InvalidWavError(f"{path}: {8 * info.sampwidth}-bit samples, expected 16-bit")
        if rate is not None and info.rate != rate:
            raise InvalidWavError(f"{path}: {info.rate} Hz, expected {rate} Hz")
        if channels is not None and info.channels != channels:
            raise InvalidWavError(f"{path}: {info.channels} channels, expected {channels}")
        if info.rate <= 0 or info.channels <= 0:
            raise InvalidWavError(f"{path}: bad header ({info.rate} Hz, {info.channels} ch)")
        declared = w.getnframes()
        frames, sum_squares = _sum_squares(w)
    if frames < declared:
        raise InvalidWavError(f"{path}: truncated, {frames} of {declared} frames present")
    info = info._replace(duration_s=frames / info.rate)
    if info.duration_s < min_duration_s:
        raise InvalidWavError(
            f"{path}: too short, {info.duration_s:.3f} s < {min_duration_s:.3f} s"
        )
    rms = math.sqrt(sum_squares / (frames * info.channels))
    if rms < min_rms:
        raise InvalidWavError(f"{path}: silent, RMS {rms:.1f} < {min_rms:.1f}")
    return info


def _open(path: Path) -> wave.Wave_read:
    """``wave.open`` with the failure modes turned into one clear exception type."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InvalidWavError(f"{path}: missing") from None
    if size == 0:
        raise InvalidWavError(f"{path}: empty (0 bytes)")
    try:
        return wave.open(str(path), "rb")
    except (wave.Error, EOFError) as exc:
        raise InvalidWavError(f"{path}: not a PCM WAV file ({exc or 'truncated header'})") from None


def _sum_squares(w: wave.Wave_read) -> tuple[int, float]:
    """Frames actually present and the sum of squared 16-bit samples over all channels."""
    frames = 0
    total = 0
    while data := w.readframes(_CHUNK_FRAMES):
        samples = array("h")
        samples.frombytes(data[: len(data) - len(data) % 2])
        if sys.byteorder == "big":  # WAV is little-endian
            samples.byteswap()
        frames += len(samples) // w.getnchannels()
        total += sum(map(operator.mul, samples, samples))
    return frames, float(total)
