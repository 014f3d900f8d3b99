"""Web clients never starve the calls: a cap on open web connections and a deadline for the
first request's headers.

aiohttp has neither. Without them 1,100 half-sent requests held 1,100 file descriptors, the
process hit its 1,024 limit, and the FastAGI server could no longer accept Asterisk's calls.
Here a connection beyond ``max_connections`` is closed at once, and one that has not sent a
whole request head within ``header_timeout_s`` is closed then (aiohttp's own keep-alive timeout
covers the idle time between later requests).

asyncio accepts up to ``backlog`` sockets each time the listening socket wakes it, before any
refused one is closed, so the web side can hold ``max_connections + backlog`` descriptors for a
moment. The guarded site therefore listens with a short backlog (:data:`WEB_BACKLOG`), and
:func:`descriptors_needed` is what the start-up check compares with the open-files limit.

    site = GuardedTCPSite(runner, host, port, max_connections=256, header_timeout_s=10)
    await site.start()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
_END_OF_HEAD = b"\r\n\r\n"
WEB_BACKLOG = 32
"""Pending web connections the kernel queues; also asyncio's accept burst (aiohttp uses 128)."""
_RESERVE = 128
"""Descriptors kept for the rest of the bridge: AGI calls, AMI, the database, files."""


def descriptors_needed(max_connections: int) -> int:
    """Open files the bridge needs so that a full web side cannot starve the calls."""
    return max_connections + WEB_BACKLOG + _RESERVE


class ConnectionGuard:
    """Counts live connections and wraps each protocol aiohttp makes."""

    def __init__(
        self, factory: Callable[[], asyncio.Protocol], max_connections: int, header_timeout_s: float
    ) -> None:
        self._factory = factory
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.open = 0
        self.refused = 0  # over the cap
        self.too_slow = 0  # no whole request head in time

    def __call__(self) -> asyncio.Protocol:
        return _GuardedProtocol(self._factory(), self)


class _GuardedProtocol(asyncio.Protocol):
    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._admitted = False
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.refused += 1
            if guard.refused in (1, 10, 100) or guard.refused % 1000 == 0:
                log.warning("web: %d connections refused over web.max_connections", guard.refused)
            transport.abort()  # type: ignore[attr-defined]
            return
        guard.open += 1
        self._admitted = True
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(guard.header_timeout_s, self._head_too_slow)
        self._inner.connection_made(transport)

    def _head_too_slow(self) -> None:
        self._timer = None
        self._guard.too_slow += 1
        if self._transport is not None:
            self._transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            if _END_OF_HEAD in self._tail + data:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = (self._tail + data)[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self._admitted = False
        self._guard.open -= 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedTCPSite(web.TCPSite):
    """``web.TCPSite`` whose connections pass through a :class:`ConnectionGuard`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int,
        header_timeout_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self._limits = (max_connections, header_timeout_s)
        self.guard: ConnectionGuard | None = None

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self.guard = ConnectionGuard(server, *self._limits)
        self._server = await asyncio.get_running_loop().create_server(
            self.guard,
            self._host,
            self._port,
            backlog=WEB_BACKLOG,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
