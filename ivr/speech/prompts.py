"""A disk cache of rendered prompts: the :class:`~ivr.ports.PromptLibrary` the flows use.

Prompt texts are fixed scripts, so each is rendered once (ideally at start-up, see
:meth:`PromptCache.prerender`) and then served from ``<cache_dir>/<hh>/<sha256>.wav``. A
prompt that speaks personal data (the dispatch call's address and phone number) is never
cached: :meth:`PromptCache.personal` renders it under a random name in
``<cache_dir>/personal/``, readable by the bridge and the cache directory's group (Asterisk's)
only, and deletes it once the call is done with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import secrets
import stat
from collections.abc import AsyncIterator, Iterable
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
PERSONAL_DIR = "personal"
# setgid: files made inside take the directory's group (the cache's: Asterisk's group on a
# site and in the sandbox), which may read them; others may not even list the names
PERSONAL_DIR_MODE = 0o2750
PERSONAL_FILE_MODE = 0o640


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

    @contextlib.asynccontextmanager
    async def personal(self, text: str) -> AsyncIterator[Path]:
        """Render ``text`` (it speaks personal data) for one call: path without extension of
        a fresh file under a random name, deleted when the block ends however it ends."""
        if not text.strip():
            raise PromptRenderError("cannot render empty prompt text")
        directory = await asyncio.to_thread(self._personal_dir)
        wav = directory / f"{secrets.token_hex(16)}.wav"
        try:
            await self._render(text, wav, PERSONAL_FILE_MODE)
            yield wav.with_suffix("")
        finally:
            with contextlib.suppress(OSError):
                wav.unlink(missing_ok=True)

    def remove_personal_leftovers(self) -> int:
        """Delete personal prompts a killed bridge left behind (at start, before any call);
        returns how many. Also puts the directory's group and mode right."""
        directory = self._personal_dir()
        removed = 0
        for path in directory.iterdir():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        if removed:
            log.info("removed %d personal prompt(s) left by an earlier run", removed)
        return removed

    def _personal_dir(self) -> Path:
        directory = self.cache_dir / PERSONAL_DIR
        _make_dirs(self.cache_dir)
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)  # opened up below, once its group is right
        group = self.cache_dir.stat().st_gid
        info = directory.stat()
        if info.st_gid != group:
            os.chown(directory, -1, group)
        if stat.S_IMODE(info.st_mode) != PERSONAL_DIR_MODE:
            os.chmod(directory, PERSONAL_DIR_MODE)
        return directory

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

    async def _render(self, text: str, wav: Path, mode: int = FILE_MODE) -> None:
        """Render to a hidden temporary name in the same directory, then rename: Asterisk
        (or another bridge process) never sees a half-written file."""
        await asyncio.to_thread(_make_dirs, wav.parent)
        tmp = wav.with_name(f".{wav.stem}.{os.getpid()}.{next(self._tmp_seq)}.tmp.wav")
        self.render_count += 1
        try:
            info = await self._renderer.render(text, tmp)
            os.chmod(tmp, mode)  # the worker's umask may be stricter (or looser)
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
