"""The database schema at start: migrated now, or, while the database is down, in the background.

A bridge started while its database is unreachable still serves calls (FastAGI and the menu do
not need the database; call records wait in the journal and its spool). The migration is tried
once at start; if that fails it is retried with backoff until it succeeds, and then the parts
that need the schema (the dialer, the dispatcher, the time-limit watch …) are started by
``on_ready``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

RETRY_S = 1.0  # first wait after a failed migration; doubles up to RETRY_MAX_S
RETRY_MAX_S = 30.0


class SchemaMigration:
    def __init__(
        self,
        migrate: Callable[[], Awaitable[None]],
        on_ready: Callable[[], Awaitable[None]],
        retry_s: float = RETRY_S,
        retry_max_s: float = RETRY_MAX_S,
        setting: str = "the database",
    ) -> None:
        """``setting``: how the log names where the database is configured (``database.url
        (/etc/ivr95598/ivr.toml)``), so the operator knows what to check."""
        self._migrate = migrate
        self._on_ready = on_ready
        self._retry_s = retry_s
        self._retry_max_s = retry_max_s
        self._setting = setting
        self.done = asyncio.Event()
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Migrate now and run ``on_ready``; if the database is not there, say so and keep
        trying in the background (the caller goes on starting what needs no database)."""
        if await self._try():
            await self._ready()
            return
        self._task = asyncio.get_running_loop().create_task(self._retry(), name="schema")

    async def _try(self) -> bool:
        try:
            await self._migrate()
        except Exception as exc:
            self.failures += 1
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            if self.failures == 1:
                log.error(
                    "DATABASE UNREACHABLE at start: %s: %s. Calls are served and their records "
                    "kept; the schema migration is retried in the background, and the dialer, "
                    "dispatcher and time-limit watch start once it is done. Check that the "
                    "database runs and that %s is right",
                    self._setting,
                    reason,
                    self._setting.split(" ")[0],
                )
            else:
                log.warning("schema migration attempt %d failed (%s)", self.failures, reason)
            return False
        if self.failures:
            log.warning("database back: schema migrated after %d failed attempts", self.failures)
        self.done.set()
        return True

    async def _retry(self) -> None:
        wait_s = self._retry_s
        while True:
            await asyncio.sleep(wait_s)
            if await self._try():
                break
            wait_s = min(self._retry_max_s, wait_s * 2)
        await self._ready()

    async def _ready(self) -> None:
        try:
            await self._on_ready()
        except Exception:
            log.exception("starting what needs the database failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
