"""The recording files on disk: measured, checksummed, analysed and deleted.

MixMonitor writes 8 kHz 16-bit mono WAV (format_wav), one file per direction. A file is done
when its header's data length matches what is on disk (format_wav writes the header last, as
the channel's recording closes). Reading is blocking: the service calls these in a thread.
"""

from __future__ import annotations

import hashlib
import os
import time
import wave
from array import array
from datetime import UTC, datetime
from pathlib import Path

from ivr.domain.recording_findings import Finding, FindingRules, analyse
from ivr.domain.recordings import RecordingFile, call_id_of_file

_CHUNK = 1 << 20


def read_samples(path: Path | str) -> tuple[array[int], int]:
    """The samples (16-bit mono) and rate of a WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{Path(path).name}: not 16-bit mono")
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    samples = array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    return samples, rate


class RecordingFilesOnDisk:
    """``RecordingFiles`` over the local file system (the directory Asterisk shares)."""

    def measure(self, path: str) -> RecordingFile | None:
        try:
            with wave.open(path, "rb") as w:
                frames, rate = w.getnframes(), w.getframerate()
            digest = hashlib.sha256()
            size = 0
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except (OSError, wave.Error, EOFError):
            return None
        duration_ms = round(frames * 1000 / rate) if rate else 0
        return RecordingFile(size, duration_ms, digest.hexdigest())

    def stable(self, path: str) -> bool:
        try:
            size = os.path.getsize(path)
            with wave.open(path, "rb") as w:
                declared = w.getnframes() * w.getsampwidth() * w.getnchannels()
        except (OSError, wave.Error, EOFError):
            return False
        return size >= declared + 44 and declared > 0

    def analyse(
        self, agent_path: str, customer_path: str, greeting: Path | None, rules: FindingRules
    ) -> list[Finding]:
        agent, rate = read_samples(agent_path)
        customer, customer_rate = read_samples(customer_path)
        if customer_rate != rate:
            raise ValueError("the two sides of a recording have different rates")
        prompt, prompt_rate = (None, rate)
        if greeting is not None:
            prompt, prompt_rate = read_samples(greeting)
        return analyse(agent, customer, rate, prompt, prompt_rate, rules)

    def delete(self, path: str) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def size(self, path: str) -> int | None:
        try:
            return os.path.getsize(path)
        except OSError:
            return None

    def read(self, path: str, start: int, length: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(length)

    def recorded_calls(self, directory: str, quiet_for_s: float) -> list[tuple[str, datetime]]:
        """The call ids with files in ``directory`` that nobody has written for ``quiet_for_s``,
        each with its files' last write (names that are not ``<call id>-<side>.wav`` are
        left alone)."""
        last: dict[str, float] = {}
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            call_id = call_id_of_file(entry.name)
            if call_id is None or not entry.is_file():
                continue
            try:
                written = entry.stat().st_mtime
            except OSError:
                continue  # deleted meanwhile
            last[call_id] = max(written, last.get(call_id, 0.0))
        quiet_since = time.time() - quiet_for_s
        return [
            (call_id, datetime.fromtimestamp(at, UTC))
            for call_id, at in last.items()
            if at <= quiet_since
        ]
