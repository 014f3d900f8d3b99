"""The ``ChangeFeed`` port on PostgreSQL: ``LISTEN`` on one dedicated asyncpg connection,
``NOTIFY`` through the pool.

The listening connection is not the pool's (a pooled connection goes back to the pool and
its listeners with it). When it is lost (the database restarted, a network cut) it is opened
again with backoff and jitter, and every listener is told ``None``: notifications sent
meanwhile are gone, so whoever listens reads again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

log = logging.getLogger(__name__)

RETRY_S = 1.0
RETRY_MAX_S = 15.0
_WAIT = wait_exponential(multiplier=RETRY_S, max=RETRY_MAX_S) + wait_random(0, RETRY_S)
CONNECT_TIMEOUT_S = 10.0

Heard = Callable[[str | None], None]


def asyncpg_dsn(url: URL) -> str:
    """The SQLAlchemy URL as a DSN asyncpg takes itself (no ``+asyncpg`` driver part)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgChangeFeed:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._listeners: dict[str, list[Heard]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # LISTEN is in place (tests wait on it)
        self.reconnects = 0

    def listen(self, channel: str, heard: Heard) -> None:
        self._listeners.setdefault(channel, []).append(heard)

    async def announce(self, channel: str, payload: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(select(func.pg_notify(channel, payload)))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            lost = asyncio.Event()
            conn = await AsyncRetrying(
                wait=_WAIT,
                retry=retry_if_exception_type((OSError, asyncpg.PostgresError, TimeoutError)),
                before_sleep=_failed,
            )(self._connect, lost)
            self.connected.set()
            if self.reconnects:
                log.warning("listening for other bridges' changes again")
                self._tell_all(None)  # whatever was announced meanwhile is lost: read again
            try:
                await lost.wait()
            finally:
                self.connected.clear()
                if not conn.is_closed():
                    conn.terminate()
            self.reconnects += 1
            log.warning("the connection listening for other bridges' changes was lost")

    async def _connect(self, lost: asyncio.Event) -> asyncpg.Connection:
        conn = await asyncpg.connect(
            asyncpg_dsn(self._engine.url),
            timeout=CONNECT_TIMEOUT_S,
            server_settings={"application_name": "ivr95598-listen"},
        )
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            for channel in self._listeners:
                await conn.add_listener(channel, self._deliver)
        except BaseException:
            conn.terminate()
            raise
        return conn

    def _deliver(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        for heard in self._listeners.get(channel, ()):
            self._call(heard, payload)

    def _tell_all(self, payload: str | None) -> None:
        for listeners in self._listeners.values():
            for heard in listeners:
                self._call(heard, payload)

    @staticmethod
    def _call(heard: Heard, payload: str | None) -> None:
        try:
            heard(payload)
        except Exception:  # one listener's bug must not stop the others
            log.exception("a change-feed listener failed")


def _failed(state: RetryCallState) -> None:
    """The first failure in a row in full; the later ones in one debug line."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if state.attempt_number == 1:
        log.warning("cannot listen for other bridges' changes (%s); retrying", exc)
    else:
        log.debug("still cannot listen for other bridges' changes (%s)", type(exc).__name__)
