"""AmiClient's reconnects on loopback against a minimal AMI peer: backoff, login hooks."""

from __future__ import annotations

import asyncio
import socket

from ivr.asterisk.ami import MAX_RECONNECT_S, MIN_RECONNECT_S, AmiClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeAmi:
    """Greets, accepts any login, answers nothing else; remembers its connections."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        block: list[str] = []
        while line := await reader.readline():
            text = line.decode().strip()
            if text:
                block.append(text)
                continue
            fields = dict(x.split(": ", 1) for x in block if ": " in x)
            block = []
            if fields.get("Action", "").lower() == "login":
                writer.write(
                    f"Response: Success\r\nActionID: {fields.get('ActionID', '')}\r\n"
                    "Message: Authentication accepted\r\n\r\n".encode()
                )


async def wait_until(check, timeout_s: float = 20) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.05)


async def test_backoff_doubles_then_resets_and_login_hooks_fire_each_time() -> None:
    port = free_port()
    client = AmiClient("127.0.0.1", port, "u", "s")
    logins: list[int] = []
    client.on_login(lambda: logins.append(client.logins))
    manager = client._manager
    await client.connect(timeout_s=0.2, give_up=False)  # nobody listens: keeps trying
    await wait_until(lambda: manager.attempts >= 3)
    assert manager.reconnect_timeout == min(MAX_RECONNECT_S, MIN_RECONNECT_S * 2**manager.attempts)
    assert not client.logged_in

    fake = FakeAmi()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", port)
    try:
        await wait_until(lambda: client.logged_in)
        assert logins == [1] and manager.attempts == 0
        assert manager.reconnect_timeout == MIN_RECONNECT_S
        client.drop_connection()  # a network fault: it comes back by itself
        await wait_until(lambda: logins == [1, 2])
        assert len(fake.writers) == 2
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
