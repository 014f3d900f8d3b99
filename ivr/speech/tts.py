"""Text → verified 8 kHz mono 16-bit WAV, via pyttsx3/espeak-ng in one dedicated worker process.

pyttsx3 and espeak-ng keep process-global state, are not thread-safe and block while they
work, so all synthesis happens in a single spawned worker process; the event loop only awaits
it. :class:`SpeechRenderer` is the parent-side handle; the ``_worker_*`` functions run in the
worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ivr.speech.audio import InvalidWavError, WavInfo, verify_speech_wav

log = logging.getLogger(__name__)

#: Part of every cache key: bump it whenever rendering changes (engine fix, sox chain, checks)
#: so every cached prompt is rendered again.
RENDERER_VERSION = "1"
RAW_RATE = 22_050  # what pyttsx3's espeak driver writes
TARGET_RATE = 8_000  # what Asterisk plays without transcoding to narrowband codecs
DEFAULT_TIMEOUT_S = 60.0  # espeak renders ~20 s of speech in ~0.05 s: anything near this is a hang


class PromptRenderError(RuntimeError):
    """A prompt could not be turned into a playable file. The message names the text."""


def describe(text: str) -> str:
    """A prompt as error messages and logs name it: its length and a short digest, never its
    words (a dispatch prompt speaks a customer's address and phone number digit by digit in
    Chinese, which no number mask recognises)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return f"prompt {digest} ({len(text)} characters)"


def raw_path(out_path: Path) -> Path:
    """Where the worker puts espeak's 22 kHz output before sox converts it to ``out_path``."""
    return out_path.with_name(out_path.name + ".raw.wav")


class SpeechRenderer:
    """Parent-side handle on the worker process. Renders one text at a time.

    The worker is started on first use. If it dies the render is retried once in a new worker;
    if it hangs past ``timeout_s`` it is killed and the render fails.
    """

    def __init__(self, voice: str, rate: int, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.voice = voice
        self.rate = rate
        self.timeout_s = timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._pid: int | None = None
        # Serialises renders on our side, so the timeout measures one render rather than
        # time spent queued, and killing a hung worker never takes a queued render with it.
        self._lock = asyncio.Lock()
        self._closed = False

    async def render(self, text: str, out_path: Path) -> WavInfo:
        """Render ``text`` to ``out_path`` (8000 Hz mono 16-bit WAV, verified); return its info.

        Raises :class:`PromptRenderError`. The file is written in place: callers wanting an
        atomic publish render to a temporary name and rename it.
        """
        if not text.strip():
            # The espeak driver never finishes its loop for empty text: it would hang the worker.
            raise PromptRenderError("cannot render empty prompt text")
        async with self._lock:
            try:
                return await self._render_locked(text, out_path)
            except BaseException:
                with contextlib.suppress(OSError):
                    raw_path(out_path).unlink(missing_ok=True)
                raise

    async def worker_pid(self) -> int:
        """The worker's process id, starting the worker if needed (for monitoring and tests)."""
        async with self._lock:
            try:
                await self._ensure_pool()
            except (BrokenProcessPool, TimeoutError) as exc:
                self._discard_pool()
                raise PromptRenderError(f"TTS worker process failed to start: {exc!r}") from exc
            assert self._pid is not None
            return self._pid

    async def close(self) -> None:
        """Wait for a running render, then stop the worker. Later renders raise."""
        async with self._lock:
            self._closed = True
            pool, self._pool, self._pid = self._pool, None, None
            if pool is not None:
                await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _render_locked(self, text: str, out_path: Path) -> WavInfo:
        what = describe(text)
        for attempt in (1, 2):
            try:
                await self._ensure_pool()
                return await self._call(_worker_render, text, str(out_path))
            except BrokenProcessPool as exc:
                self._discard_pool()
                if attempt == 2:
                    raise PromptRenderError(
                        f"TTS worker process died twice while rendering {what}"
                    ) from exc
                log.warning("TTS worker process died rendering %s; starting a new one", what)
            except TimeoutError:
                self._discard_pool(kill=True)
                raise PromptRenderError(
                    f"TTS worker hung for over {self.timeout_s:g} s rendering {what}; killed it"
                ) from None
            except PromptRenderError:
                raise
            except Exception as exc:
                raise PromptRenderError(f"rendering {what} failed: {exc!r}") from exc
        raise AssertionError("unreachable")

    async def _ensure_pool(self) -> None:
        if self._closed:
            raise PromptRenderError("speech renderer is closed")
        if self._pool is None:
            # spawn, not fork: the worker must not inherit the event loop, sockets or threads.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.voice, self.rate),
            )
            self._pid = None
            # Learn the pid (to kill a hung worker); this also starts the worker eagerly.
            self._pid = await self._call(os.getpid)

    async def _call(self, fn: Any, *args: Any) -> Any:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._pool, fn, *args), self.timeout_s)

    def _discard_pool(self, *, kill: bool = False) -> None:
        pool, pid, self._pool, self._pid = self._pool, self._pid, None, None
        if kill and pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------------------------
# Worker process side. Module globals are per worker process, set once by the initializer.

_engine: Any = None
_voice = ""
_rate = 0
_init_error: str | None = None

#: espeak-ng's queue thread can sit up to 3 x 50 ms on a command whose wake-up it missed.
_SETTLE_S = 0.2


def _worker_init(voice: str, rate: int) -> None:
    """Create the pyttsx3 engine once per worker and apply voice and rate. Never raises: a
    failure is reported by every render instead (an initializer exception only shows up as a
    broken pool).

    Why not just ``setProperty`` + the first ``runAndWait()``: pyttsx3 queues the properties
    until that first run and applies them right before its ``endLoop``, whose ``stop()``
    cancels espeak if espeak is still busy (here: with the rate it was just given, or the
    driver's own start-up settings). espeak then drops the rate (measured: 10 of 300 fresh
    processes rendered at the driver's default rate 200) and the driver keeps a stale "stopping"
    flag that cancels the next render. So: let espeak go idle, mark pyttsx3 idle (the proxy
    starts "busy"), set the properties (applied at once), wait for espeak, check. With this,
    300 of 300 fresh processes rendered three prompts each correctly.
    """
    global _engine, _voice, _rate, _init_error
    # Ctrl-C in a terminal reaches the whole process group; the parent shuts us down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The espeak driver prints "Audio saved to …" from its callback thread for every file.
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process' life
    try:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        engine = pyttsx3.init("espeak")
        voices = {v.id for v in engine.getProperty("voices")}
        if voice.lower() not in voices:
            raise ValueError(f"espeak-ng voice {voice!r} is not installed (espeak-ng --voices)")
        _espeak.Synchronize()  # the driver's own start-up settings...
        time.sleep(_SETTLE_S)
        _espeak.Synchronize()  # ...including one espeak's thread was slow to pick up
        engine.proxy.setBusy(False)  # from now on pyttsx3 runs each command when it is pushed
        engine.setProperty("voice", voice)
        engine.setProperty("rate", rate)
        _espeak.Synchronize()
        _check_settings(engine, _espeak, voice.lower(), rate)
    except Exception as exc:
        _init_error = f"{type(exc).__name__}: {exc}"
        return
    _engine, _voice, _rate = engine, voice.lower(), rate


def _worker_render(text: str, out_path: str) -> WavInfo:
    """Synthesize ``text``, verify espeak's 22 kHz output, convert it with sox, verify again."""
    from pyttsx3.drivers import _espeak

    what = describe(text)
    if _engine is None:
        raise PromptRenderError(f"speech engine unavailable ({_init_error}); cannot render {what}")
    out, raw = Path(out_path), raw_path(Path(out_path))
    try:
        for attempt in (1, 2):
            _synthesize(_espeak, text, raw)
            try:
                verify_speech_wav(raw, rate=RAW_RATE, channels=1)
                break
            except InvalidWavError as exc:
                if attempt == 2:
                    raise PromptRenderError(
                        f"espeak output for {what} is unusable: {exc}"
                    ) from None
                # A synthesis the driver cancelled leaves no file; a second run starts clean.
                log.warning("espeak output for %s unusable (%s); rendering it again", what, exc)
        try:  # the cache key promises this voice and rate; pyttsx3 swallows setProperty errors
            _check_settings(_engine, _espeak, _voice, _rate)
        except PromptRenderError as exc:
            raise PromptRenderError(f"{exc}; refusing to render {what}") from None
        _convert(raw, out, what)
        try:
            return verify_speech_wav(out, rate=TARGET_RATE, channels=1)
        except InvalidWavError as exc:
            raise PromptRenderError(f"sox output for {what} is unusable: {exc}") from None
    finally:
        raw.unlink(missing_ok=True)


def _synthesize(espeak: Any, text: str, raw: Path) -> None:
    """``save_to_file`` + ``runAndWait`` + ``espeak_Synchronize``.

    Why ``Synchronize()``: pyttsx3 2.99's espeak driver runs espeak-ng in
    AUDIO_OUTPUT_RETRIEVAL mode, which is asynchronous: espeak synthesises in its own thread and
    the driver writes the WAV from its callback, on EVENT_MSG_TERMINATED. ``runAndWait()`` can
    return as soon as ``espeak_Synth`` has merely *queued* the text (when the proxy is "busy",
    it pumps ``save_to_file`` and its own ``endLoop`` in the same pass), and a render started
    while espeak is still busy cancels it. Long sentences were then never written.
    ``espeak_Synchronize`` "returns when all data have been spoken", i.e. after the callback
    has written the file, and leaves espeak idle for the next render.
    """
    raw.unlink(missing_ok=True)
    _engine.save_to_file(text, str(raw))
    _engine.runAndWait()
    espeak.Synchronize()


def _check_settings(engine: Any, espeak: Any, voice: str, rate: int) -> None:
    actual_voice, actual_rate = engine.getProperty("voice"), _current_rate(espeak)
    if (actual_voice, actual_rate) != (voice, rate):
        raise PromptRenderError(
            f"espeak runs voice {actual_voice!r} at rate {actual_rate}, "
            f"not {voice!r} at rate {rate}"
        )


def _current_rate(espeak: Any) -> int:
    """The rate espeak really uses. pyttsx3 binds ``espeak_GetParameter`` without its second
    argument (``current``), so its ``getProperty("rate")`` returns the default (175) or the
    current value depending on leftover register contents."""
    get_parameter = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int)(
        ("espeak_GetParameter", espeak.dll)
    )
    return int(get_parameter(espeak.RATE, 1))


def _convert(raw: Path, out: Path, what: str) -> None:
    """22 kHz → 8 kHz mono 16-bit. Normalising to -3 dBFS first avoids the clipping the
    resampler otherwise reports on espeak's near-full-scale output, and evens out loudness."""
    output = ["-t", "wav", "-r", str(TARGET_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]
    effects = ["gain", "-n", "-3", "rate", "-h", str(TARGET_RATE)]
    args = ["sox", str(raw), *output, str(out), *effects]
    try:
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=DEFAULT_TIMEOUT_S)
    except FileNotFoundError:
        raise PromptRenderError(f"sox is not installed; cannot convert {what}") from None
    except subprocess.CalledProcessError as exc:
        raise PromptRenderError(
            f"sox failed ({exc.returncode}) converting {what}: {exc.stderr.strip()[-300:]}"
        ) from None
    except subprocess.TimeoutExpired:
        raise PromptRenderError(f"sox timed out converting {what}") from None
