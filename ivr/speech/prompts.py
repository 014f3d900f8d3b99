"""A disk cache of rendered prompts: the :class:`~ivr.ports.PromptLibrary` the flows use.

Prompt texts are fixed scripts, so each is rendered once (ideally at start-up, see
:meth:`PromptCache.prerender`) and then served from ``<cache_dir>/<hh>/<sha256>.wav``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ivr.speech.audio import InvalidWavError, wav_info
from ivr.speech.tts import (
    DEFAULT_TIMEOUT_S,
    RENDERER_VERSION,
    TARGET_RATE,
    PromptRenderError,
    SpeechRenderer,
    describe,
)

if TYPE_CHECKING:
    from ivr.config import SpeechSettings

log = logging.getLogger(__name__)

DIR_MODE = 0o755  # Asterisk runs as another user: it must traverse and read, never write
FILE_MODE = 0o644


class PromptCache:
    """Renders each distinct (text, voice, rate, renderer version) once, then serves the file.

    Concurrent requests for one text share one render; different texts render one after
    another in the single TTS worker while the event loop keeps running.
    """

    def __init__(
        self, cache_dir: Path, voice: str, rate: int, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        # Absolute, because Asterisk resolves a relative path against its own sounds directory.
        self.cache_dir = Path(cache_dir).absolute()
        self.voice = voice
        self.rate = rate
        #: Renders this cache started (hits do not count): lets tests and metrics see misses.
        self.render_count = 0
        self._renderer = SpeechRenderer(voice, rate, timeout_s=timeout_s)
        self._verified: set[Path] = set()
        self._inflight: dict[Path, asyncio.Task[None]] = {}
        self._tmp_seq = itertools.count()

    @classmethod
    def from_settings(cls, settings: SpeechSettings) -> PromptCache:
        return cls(settings.cache_dir, settings.voice, settings.rate)

    def path_for(self, text: str) -> Path:
        """Where ``text`` is (or will be) cached, without extension. Pure: renders nothing."""
        key = json.dumps([RENDERER_VERSION, self.voice, self.rate, text], ensure_ascii=False)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / digest

    async def prompt_path(self, text: str) -> Path:
        """Path without extension of a verified 8 kHz mono 16-bit WAV; renders on a miss.

        Raises :class:`~ivr.speech.tts.PromptRenderError` if the text cannot be rendered.
        """
        if not text.strip():
            raise PromptRenderError("cannot render empty prompt text")
        base = self.path_for(text)
        wav = base.with_name(base.name + ".wav")
        if wav in self._verified:
            if wav.exists():  # one stat: someone may have cleaned the cache directory
                return base
            self._verified.discard(wav)
        task = self._inflight.get(wav)
        if task is None:
            task = asyncio.create_task(self._load_or_render(text, wav))
            self._inflight[wav] = task
            task.add_done_callback(lambda t: self._forget(wav, t))
        # shield: a caller that hangs up must not cancel the render other callers wait for.
        await asyncio.shield(task)
        return base

    async def prerender(self, texts: Iterable[str]) -> dict[str, Path]:
        """Render every text now (start-up, all fixed menu prompts) so no caller waits later.

        Stops at the first text that cannot be rendered: a broken menu prompt should stop the
        start-up, with a :class:`~ivr.speech.tts.PromptRenderError` naming it.
        """
        paths: dict[str, Path] = {}
        before = self.render_count
        for text in dict.fromkeys(texts):
            paths[text] = await self.prompt_path(text)
        log.info("prompts ready: %d, rendered now: %d", len(paths), self.render_count - before)
        return paths

    async def close(self) -> None:
        """Let running renders finish, then stop the TTS worker."""
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        await self._renderer.close()

    async def __aenter__(self) -> PromptCache:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _load_or_render(self, text: str, wav: Path) -> None:
        if not await asyncio.to_thread(_is_playable, wav):
            await self._render(text, wav)
        self._verified.add(wav)

    async def _render(self, text: str, wav: Path) -> None:
        """Render to a hidden temporary name in the same directory, then rename: Asterisk
        (or another bridge process) never sees a half-written file."""
        await asyncio.to_thread(_make_dirs, wav.parent)
        tmp = wav.with_name(f".{wav.stem}.{os.getpid()}.{next(self._tmp_seq)}.tmp.wav")
        self.render_count += 1
        try:
            info = await self._renderer.render(text, tmp)
            os.chmod(tmp, FILE_MODE)  # the worker's umask may be stricter
            os.replace(tmp, wav)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        log.info("rendered %s: %s (%.2f s)", describe(text), wav.name, info.duration_s)

    def _forget(self, wav: Path, task: asyncio.Task[None]) -> None:
        if self._inflight.get(wav) is task:
            del self._inflight[wav]
        if not task.cancelled():
            task.exception()  # retrieved here; every waiter still gets it from shield()


def _is_playable(wav: Path) -> bool:
    """Cheap cache-hit check: header only. The audio was fully verified when it was written."""
    try:
        info = wav_info(wav)
    except InvalidWavError as exc:
        if wav.exists():
            log.warning("re-rendering unusable cached prompt: %s", exc)
        return False
    ok = (info.rate, info.channels, info.sampwidth) == (TARGET_RATE, 1, 2) and info.duration_s > 0
    if not ok:
        log.warning("re-rendering cached prompt with wrong format %s: %s", info, wav)
    return ok


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` with mode 0755 whatever the umask (only for directories we create)."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process got there first
            continue
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask
