"""A loopback TCP proxy in front of the sandbox's AMI port that breaks the link on cue.

Real Asterisk answers an async ``Originate`` at once; to see what the bridge does when that
answer never reaches it (a network fault between the two), the proxy watches what the client
sends and, at its first ``Action: Originate``, forwards the action and then either holds back
everything Asterisk says for ``stall_s`` seconds (the answer comes late) or cuts the link
(the answer is lost; the client reconnects through the proxy, which then relays normally).
:class:`SilentLink` relays everything until told to make the open link silent (half-open).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class OriginateFault:
    mode: str  # "stall" or "cut"
    stall_s: float = 12.0
    upstream: tuple[str, int] = ("127.0.0.1", 5038)
    fired: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> int:
        """Listen on an ephemeral loopback port; returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        gate = asyncio.Event()
        gate.set()  # open: Asterisk's bytes flow to the client
        cut = asyncio.Event()
        held = bytearray()

        async def flush() -> None:
            if held:
                client_w.write(bytes(held))
                held.clear()
                await client_w.drain()

        async def release_after(seconds: float) -> None:
            await asyncio.sleep(seconds)
            gate.set()
            await flush()

        async def to_asterisk() -> None:
            seen = b""
            while data := await client_r.read(65536):
                up_w.write(data)
                await up_w.drain()
                seen = (seen + data)[-4096:]
                if not self.fired.is_set() and b"Action: Originate" in seen:
                    self.fired.set()
                    gate.clear()  # nothing Asterisk says from now on reaches the client...
                    if self.mode == "cut":
                        await asyncio.sleep(0.5)  # ...while Asterisk takes the action
                        cut.set()
                        return
                    self._spawn(release_after(self.stall_s))

        async def to_client() -> None:
            while data := await up_r.read(65536):
                held.extend(data)
                if gate.is_set():
                    await flush()

        relay = [self._spawn(to_asterisk()), self._spawn(to_client()), self._spawn(cut.wait())]
        await asyncio.wait(relay, return_when=asyncio.FIRST_COMPLETED)
        for task in relay:
            task.cancel()
        for writer in (client_w, up_w):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _spawn(self, coro):  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


@dataclass
class SilentLink:
    """A plain relay to Asterisk's AMI port that can make the current link go silent: from
    :meth:`go_silent` on, nothing is forwarded either way on the connections open then, and
    nothing is closed (no FIN, no RST: a half-open link, as when a firewall drops the state or
    the far host freezes). Connections made afterwards are relayed normally."""

    upstream: tuple[str, int] = ("127.0.0.1", 5038)
    connections: int = 0
    _silent_before: int = 0  # connections numbered below this are silent
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def go_silent(self) -> None:
        self._silent_before = self.connections + 1

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        up_r, up_w = await asyncio.open_connection(*self.upstream)
        self._writers += [client_w, up_w]

        async def relay(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                if number < self._silent_before:
                    continue  # swallowed: the other side hears nothing, and no close
                sink.write(data)
                await sink.drain()
            # a real close from one side is passed on, unless the link is silent
            while number < self._silent_before:
                await asyncio.sleep(3600)

        relay_tasks = [self._spawn(relay(client_r, up_w)), self._spawn(relay(up_r, client_w))]
        await asyncio.wait(relay_tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in relay_tasks:
            task.cancel()
        for writer in (client_w, up_w):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _spawn(self, coro):  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
