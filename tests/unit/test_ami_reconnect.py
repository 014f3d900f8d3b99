"""AmiClient's reconnects on loopback against a minimal AMI peer: backoff, login hooks."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from ivr.asterisk.ami import MAX_RECONNECT_S, MIN_RECONNECT_S, AmiClient, AmiLinkLost


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeAmi:
    """Greets, accepts any login (then says FullyBooted, as Asterisk does), answers nothing
    else; remembers its connections and the actions each one received. ``refuse``: every
    login is refused as Asterisk refuses a wrong secret (an error, then the link closes)."""

    def __init__(self, refuse: bool = False, pong: bool = False) -> None:
        self.refuse = refuse
        self.pong = pong  # answer Pings as Asterisk does
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[list[str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        received: list[str] = []
        self.actions.append(received)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        block: list[str] = []
        while line := await reader.readline():
            text = line.decode().strip()
            if text:
                block.append(text)
                continue
            fields = dict(x.split(": ", 1) for x in block if ": " in x)
            block = []
            received.append(fields.get("Action", ""))
            if fields.get("Action", "").lower() == "ping" and self.pong:
                writer.write(
                    f"Response: Success\r\nActionID: {fields.get('ActionID', '')}\r\n"
                    "Ping: Pong\r\nTimestamp: 1764866000.000000\r\n\r\n".encode()
                )
            if fields.get("Action", "").lower() == "login" and self.refuse:
                writer.write(
                    f"Response: Error\r\nActionID: {fields.get('ActionID', '')}\r\n"
                    "Message: Authentication failed\r\n\r\n".encode()
                )
                await writer.drain()
                writer.close()
                return
            if fields.get("Action", "").lower() == "login":
                writer.write(
                    f"Response: Success\r\nActionID: {fields.get('ActionID', '')}\r\n"
                    "Message: Authentication accepted\r\n\r\n"
                    "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n"
                    "\r\n".encode()
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
    client.start()  # nobody listens: keeps trying
    await wait_until(lambda: manager.attempts >= 3)
    doubled = min(MAX_RECONNECT_S, MIN_RECONNECT_S * 2**manager.attempts)
    assert doubled <= manager.reconnect_timeout <= doubled + MIN_RECONNECT_S  # plus jitter
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


async def test_an_action_unanswered_when_the_link_drops_fails_and_is_never_sent_again() -> None:
    """panoramisk would queue it and send it again after the next login: an Originate twice."""
    fake = FakeAmi()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s")
    try:
        await client.connect(timeout_s=5)
        pending = asyncio.create_task(
            client.action({"Action": "Originate", "Channel": "Local/1@x"}, timeout_s=60)
        )
        await wait_until(lambda: "Originate" in fake.actions[0])
        client.drop_connection()
        with pytest.raises(AmiLinkLost, match="Originate"):
            await pending  # at once, not after the 60 s timeout
        await wait_until(lambda: client.logins == 2)
        await asyncio.sleep(0.5)  # FullyBooted came with the login: a re-send would be here
        assert fake.actions[1] == ["Login"]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_login_is_logged_as_such_and_backed_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not "Connection lost" at once, over and over: one plain line per attempt, naming the
    user (never the secret), with growing waits between attempts."""
    fake = FakeAmi(refuse=True)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "ivr-bridge", "wrong-secret-value")
    caplog.set_level(logging.INFO)
    try:
        client.start()
        await wait_until(lambda: len(fake.writers) >= 4)
        assert client.refused and not client.logged_in
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    text = caplog.text
    refusals = [r for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(refusals) >= 3
    assert all(r.levelno == logging.ERROR for r in refusals)
    assert "for user 'ivr-bridge'" in refusals[0].getMessage()
    waits = [float(r.getMessage().rsplit("next attempt in ", 1)[1].split()[0]) for r in refusals]
    assert waits == sorted(waits) and waits[0] < waits[-1]  # backed off
    assert "wrong-secret-value" not in text
    assert "Connection lost" not in text


async def test_a_peer_that_stops_answering_is_dropped_and_reconnected() -> None:
    """A half-open link: the peer keeps the socket open and says nothing more. The awaited
    Ping finds it; the client drops the link and logs in again."""
    fake = FakeAmi()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", ping_interval_s=0.5, ping_timeout_s=0.5)
    try:
        await client.connect(timeout_s=5)  # FakeAmi never answers a Ping
        await wait_until(lambda: client.logins == 2)
        assert client.silent_drops >= 1
        assert fake.actions[0][:2] == ["Login", "Ping"]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_a_peer_that_answers_its_pings_keeps_the_link() -> None:
    fake = FakeAmi(pong=True)
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AmiClient("127.0.0.1", port, "u", "s", ping_interval_s=0.5, ping_timeout_s=0.5)
    try:
        await client.connect(timeout_s=5)
        await wait_until(lambda: fake.actions[0].count("Ping") >= 5)
        assert client.silent_drops == 0 and client.logins == 1 and len(fake.writers) == 1
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
