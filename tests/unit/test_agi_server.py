"""The FastAGI server and Channel adapter on loopback, against a scripted Asterisk-like peer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from ivr.asterisk.agi_channel import AgiChannel
from ivr.asterisk.agi_reader import AgiEnvironment
from ivr.asterisk.agi_server import FastAgiServer
from ivr.config import AgiSettings
from ivr.domain.calls import CallerHungUp, ChannelError

ENV = b"agi_network: yes\nagi_network_script: test\nagi_uniqueid: 1.1\n\n"


class Peer:
    """Plays Asterisk: sends the environment, then answers each command from a script."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.commands: list[str] = []

    async def call(self, replies: list[bytes], env: bytes = ENV) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(env)
        for reply in replies:
            line = await reader.readline()
            if not line:
                break
            self.commands.append(line.decode().strip())
            writer.write(reply)
            await writer.drain()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(), 2)  # until the server closes
        writer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed (a close with our bytes unread arrives as a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), 2) == b""
    except ConnectionResetError:
        return True


@contextlib.asynccontextmanager
async def server(route, **settings):  # type: ignore[no-untyped-def]
    options = {"host": "127.0.0.1", "port": 0, "env_timeout_s": 0.5, "command_timeout_s": 0.5}
    agi = FastAgiServer(AgiSettings(**(options | settings)), {"test": route})
    await agi.start()
    try:
        yield agi
    finally:
        await agi.stop(grace_s=1)


async def test_commands_and_digits_round_trip() -> None:
    seen: list[object] = []

    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        seen.append(env.get("uniqueid"))
        seen.append(await channel.play(Path("/p/x"), "0123456789*#"))
        seen.append(await channel.wait_for_digit(100))
        await channel.set_variable("IVR_QUEUE", "q-repair")

    async with server(route) as agi:
        peer = Peer(agi.port)
        await peer.call([b"200 result=49 endpos=8000\n", b"200 result=0\n", b"200 result=1\n"])
    assert seen == ["1.1", "1", None]
    assert peer.commands == [
        'STREAM FILE "/p/x" "0123456789*#"',
        "WAIT FOR DIGIT 100",
        'SET VARIABLE "IVR_QUEUE" "q-repair"',
    ]


async def test_record_file_returns_a_key_only_when_one_ended_it() -> None:
    seen: list[object] = []

    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        for _ in range(3):
            seen.append(await channel.record(Path("/rec/c-1"), "0123456789*#", 6000, 2))

    async with server(route) as agi:
        peer = Peer(agi.port)
        await peer.call(
            [
                b"200 result=51 (dtmf) endpos=4000\n",  # '3' pressed while recording
                b"200 result=2498 (timeout) endpos=16000\n",  # silence ended it: ms left
                b"200 result=0 (timeout) endpos=48000\n",  # the whole 6 s
            ]
        )
    assert seen == ["3", None, None]
    assert peer.commands == ['RECORD FILE "/rec/c-1" wav "0123456789*#" 6000 s=2'] * 3


async def test_a_hangup_while_recording_is_a_hangup() -> None:
    result: list[BaseException] = []

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        try:
            await channel.record(Path("/rec/c-1"), "#", 6000, 2)
        except CallerHungUp as exc:
            result.append(exc)

    async with server(route) as agi:
        await Peer(agi.port).call([b"200 result=-1 (hangup) endpos=0\n"])
    assert len(result) == 1


async def outcome_of(replies: list[bytes], **settings) -> BaseException | None:  # type: ignore[no-untyped-def]
    result: list[BaseException | None] = []

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        try:
            await channel.wait_for_digit(100)
            result.append(None)
        except (CallerHungUp, ChannelError) as exc:
            result.append(exc)

    async with server(route, **settings) as agi:
        await Peer(agi.port).call(replies)
    return result[0]


@pytest.mark.parametrize(
    ("replies", "error"),
    [
        ([b"HANGUP\n"], CallerHungUp),
        ([b"511 Command Not Permitted on a dead channel\n"], CallerHungUp),
        ([b"200 result=-1\n", b"HANGUP\n"], CallerHungUp),
        ([b"200 result=-1\n", b"200 result=6\n"], ChannelError),  # failed, channel still up
        ([b"510 Invalid or unknown command\n"], ChannelError),
        ([b"200 result=300\n"], ChannelError),  # not a key
        ([b"\xff\xfe garbage\n"], ChannelError),
        ([b"x" * 5000 + b"\n"], ChannelError),  # overlong reply line
        ([], ChannelError),  # peer closes mid-command
    ],
)
async def test_asterisk_replies_become_domain_errors(replies: list[bytes], error: type) -> None:
    assert isinstance(await outcome_of(replies), error)


async def test_100_trying_is_skipped() -> None:
    assert await outcome_of([b"100 result=0 Trying...\n200 result=0\n"]) is None


async def test_endless_100_trying_drops_the_link_instead_of_waiting_forever() -> None:
    """A peer answering every command with ``100 Trying`` lines (panoramisk waits through any
    number of them) is cut off after a few, and the session ends with a ChannelError."""
    result: list[BaseException] = []

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        with pytest.raises(ChannelError, match="AGI link broken") as caught:
            await channel.wait_for_digit(100)
        result.append(caught.value)

    async with server(route) as agi:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(ENV)
        await reader.readline()  # the command
        writer.write(b"100 result=0 Trying...\n" * 10_000 + b"200 result=0\n")
        assert await closed_by_server(reader)  # the server gave up on the link
        writer.close()
    assert len(result) == 1


async def test_a_silent_asterisk_times_out() -> None:
    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        with pytest.raises(ChannelError, match="no reply"):
            await channel.wait_for_digit(100)

    async with server(route, command_timeout_s=0.2) as agi:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(ENV)
        await reader.readline()  # the command; never answered
        assert await asyncio.wait_for(reader.read(), 2) == b""  # server gave up and closed
        writer.close()


async def test_hostile_peers_do_not_disturb_a_real_call() -> None:
    finished: list[str | None] = []

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        finished.append(await channel.wait_for_digit(100))

    async with server(route, env_timeout_s=0.3) as agi:

        async def connect_and_close() -> None:
            _, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.close()

        async def stall() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.write(b"agi_network: yes\n")
            assert await asyncio.wait_for(r.read(), 2) == b""  # cut off after the deadline
            w.close()

        async def garbage() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.write(b"\x00\x01\x02 not agi at all\n\n")
            assert await closed_by_server(r)
            w.close()

        async def unknown_route() -> None:
            r, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.write(b"agi_network_script: nope\n\n")
            assert await closed_by_server(r)
            w.close()

        hostile = [
            f() for _ in range(5) for f in (connect_and_close, stall, garbage, unknown_route)
        ]
        await asyncio.gather(Peer(agi.port).call([b"200 result=50\n"]), *hostile)
        assert finished == ["2"]
        assert agi.refused >= 15


async def test_over_capacity_calls_are_refused_not_queued() -> None:
    release = asyncio.Event()

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        await release.wait()

    async with server(route, max_sessions=1) as agi:
        r1, w1 = await asyncio.open_connection("127.0.0.1", agi.port)
        w1.write(ENV)
        while agi.active_sessions < 1:
            await asyncio.sleep(0.01)
        r2, w2 = await asyncio.open_connection("127.0.0.1", agi.port)
        w2.write(ENV)
        assert await closed_by_server(r2)
        assert agi.refused == 1
        release.set()
        assert await asyncio.wait_for(r1.read(), 2) == b""
        w1.close()
        w2.close()


async def test_a_failing_route_ends_only_its_call() -> None:
    calls = 0

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        await channel.wait_for_digit(1)

    async with server(route) as agi:
        await Peer(agi.port).call([])
        peer = Peer(agi.port)
        await peer.call([b"200 result=0\n"])
    assert peer.commands == ["WAIT FOR DIGIT 1"]


def test_arguments_that_would_break_framing_are_refused() -> None:
    from ivr.asterisk.agi_channel import _quote

    for bad in ('a"b', "a\nb", "a\\b", "a\rb"):
        with pytest.raises(ValueError):
            _quote(bad)


async def test_a_flood_of_stalling_peers_never_takes_a_real_calls_place() -> None:
    """600 peers connect and stall (100 connect and close) while 20 real calls arrive: the
    handshake budget is 256 (the default), so stalled peers evict each other and every real
    call is served. With the old design (stalled peers counted as calls) none would be."""
    served: list[str | None] = []

    async def route(channel: AgiChannel, _env: AgiEnvironment) -> None:
        served.append(await channel.wait_for_digit(100))

    async with server(route, env_timeout_s=30, max_handshakes=256, max_sessions=20) as agi:
        stalled: list[asyncio.StreamWriter] = []

        async def stall() -> None:
            _, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.write(b"agi_network: yes\n")  # and nothing more
            stalled.append(w)

        async def connect_and_close() -> None:
            _, w = await asyncio.open_connection("127.0.0.1", agi.port)
            w.close()

        async def real_calls() -> None:
            await asyncio.gather(*(Peer(agi.port).call([b"200 result=50\n"]) for _ in range(20)))

        async def flood() -> None:  # as fast as this loop can connect, one after another
            for i in range(700):
                await (stall() if i % 7 else connect_and_close())

        started = time.monotonic()
        await asyncio.gather(flood(), real_calls())
        rate = 700 / (time.monotonic() - started)
        print(f"flood of {rate:.0f} connections/s: {len(served)}/20 real calls served")
        assert served == ["2"] * 20
        assert agi.evicted >= 600 - 256
        assert len(agi._handshakes) <= 256  # bounded, whatever the flood
        for w in stalled:
            w.close()


async def test_only_the_configured_asterisk_addresses_may_speak_agi() -> None:
    """A peer outside ``agi.allowed_peers`` is cut off before its environment is read, so it
    can neither create a call record nor answer for a callback or dispatch leg."""
    served: list[str] = []

    async def route(channel: AgiChannel, env: AgiEnvironment) -> None:
        served.append(env.get("uniqueid"))

    # listen on every loopback address; only 127.0.0.2 plays Asterisk in this test
    async with server(route, host="0.0.0.0", allowed_peers=["127.0.0.2/32"]) as agi:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", agi.port, local_addr=("127.0.0.3", 0)
        )
        writer.write(ENV)
        assert await closed_by_server(reader)
        writer.close()
        assert served == [] and agi.refused_peers == 1

        reader, writer = await asyncio.open_connection(
            "127.0.0.1", agi.port, local_addr=("127.0.0.2", 0)
        )
        writer.write(ENV)
        assert await closed_by_server(reader)  # served: the route returns, the call ends
        writer.close()
    assert len(served) == 1 and agi.refused_peers == 1


def test_allowed_peers_accept_networks_and_v4_mapped_addresses() -> None:
    settings = AgiSettings(allowed_peers=["10.1.2.0/24", "::1"])
    assert settings.peer_allowed("10.1.2.7") and settings.peer_allowed("::ffff:10.1.2.7")
    assert settings.peer_allowed("::1")
    for other in ("10.1.3.1", "127.0.0.1", "", None, "not-an-address"):
        assert not settings.peer_allowed(other)
    with pytest.raises(ValueError):
        AgiSettings(allowed_peers=[])
