"""FastAGI server: one asyncio task per call, each isolated from every other.

We accept the TCP connection, read the environment with our bounded reader, then hand a
panoramisk ``Request`` (for command framing and reply parsing) wrapped in :class:`AgiChannel`
to the route. A route's failure is logged and ends only its own call; the dialplan then sends
that caller to the fallback queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from panoramisk.fast_agi import Request

from ivr.asterisk.agi_channel import AgiChannel
from ivr.asterisk.agi_reader import AgiEnvironment, AgiProtocolError, read_agi_environment
from ivr.config import AgiSettings
from ivr.ports import AgiObserver

log = logging.getLogger(__name__)

AgiRoute = Callable[[AgiChannel, AgiEnvironment], Awaitable[None]]


class FastAgiServer:
    def __init__(
        self,
        settings: AgiSettings,
        routes: Mapping[str, AgiRoute],
        observer: AgiObserver | None = None,
    ) -> None:
        self._settings = settings
        self._observer = observer
        self._routes = dict(routes)
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._handshakes: dict[asyncio.Task[None], asyncio.StreamWriter] = {}  # oldest first
        self.refused = 0  # connections turned away: over capacity or not speaking AGI
        self.evicted = 0  # stalled handshakes cut off to make room for newer ones
        self.refused_peers = 0  # connections from addresses not in agi.allowed_peers

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def listening(self) -> bool:
        """Accepting connections (readiness)."""
        return self._server is not None and self._server.is_serving()

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept,
            self._settings.host,
            self._settings.port,
            limit=self._settings.line_max_bytes,
            reuse_address=True,
        )
        log.info("FastAGI listening on %s:%d", self._settings.host, self.port)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting; give live calls ``grace_s`` to finish, then cut them loose."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A connection first only *handshakes* (sends its environment); it becomes a call,
        counted against ``max_sessions``, once the environment is in. Handshakes have their own
        budget (``max_handshakes``); when it is full the **oldest** is cut off, not the newcomer:
        Asterisk sends its environment within milliseconds, so a flood of peers that connect and
        stall only ever evicts each other, never a real call."""
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        if not self._settings.peer_allowed(peer[0] if peer else None):
            # only the configured Asterisk servers may create call records or answer for a
            # callback or dispatch leg: anyone else is cut off before a byte is read
            self.refused_peers += 1
            if _worth_logging(self.refused_peers):
                log.warning(
                    "FastAGI connection from %s refused: not in agi.allowed_peers (%d so far)",
                    peer[0] if peer else "an unknown address",
                    self.refused_peers,
                )
            writer.transport.abort()
            return
        if len(self._handshakes) >= self._settings.max_handshakes:
            oldest = next(iter(self._handshakes))
            self._handshakes.pop(oldest).transport.abort()
            self.evicted += 1
            if _worth_logging(self.evicted):
                log.warning("FastAGI handshakes full: %d stalled peers cut off", self.evicted)
        self._handshakes[task] = writer

        def admit() -> bool:
            self._handshakes.pop(task, None)
            if len(self._sessions) >= self._settings.max_sessions:
                log.warning("FastAGI at capacity (%d calls): refusing one", len(self._sessions))
                return False
            self._sessions.add(task)
            return True

        try:
            served = await serve_session(
                reader, writer, self._routes, self._settings, admit=admit, observer=self._observer
            )
            if not served:
                self.refused += 1
        finally:
            self._handshakes.pop(task, None)
            self._sessions.discard(task)
            await _close(writer)


async def serve_session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    routes: Mapping[str, AgiRoute],
    settings: AgiSettings,
    classic_route: str | None = None,
    admit: Callable[[], bool] | None = None,
    observer: AgiObserver | None = None,
) -> bool:
    """Serve one AGI session on any pair of streams (a FastAGI socket, or a classic AGI
    script's stdin/stdout). Returns False if the peer was turned away. ``admit`` is asked,
    once the environment is in, whether there is room for one more call."""
    peer = writer.get_extra_info("peername") or "stdin"
    try:
        env = await read_agi_environment(
            reader,
            timeout_s=settings.env_timeout_s,
            max_bytes=settings.env_max_bytes,
            classic_route=classic_route,
        )
    except AgiProtocolError as exc:
        _rejections[0] += 1
        if _worth_logging(_rejections[0]):
            log.warning("AGI peer %s rejected (%d so far): %s", peer, _rejections[0], exc)
        return False
    route = routes.get(env.script)
    if route is None:
        log.warning("AGI peer %s asked for unknown route %r", peer, env.script[:64])
        return False
    if admit is not None and not admit():
        return False
    request = Request(app=None, headers=env.headers, reader=reader, writer=writer)
    think = None
    if observer is not None:
        observer.agi_session(env.script)
        think = observer.agi_think_time
    channel = AgiChannel(request, settings.command_timeout_s, think)
    try:
        await route(channel, env)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("AGI route %r failed for %s", env.script, env.get("uniqueid"))
    return True


_rejections = [0]  # peers turned away in this process (a flood is logged, not echoed per peer)


def _worth_logging(count: int) -> bool:
    """The first ten, then every thousandth: a flood must not flood the log as well."""
    return count <= 10 or count % 1000 == 0


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
