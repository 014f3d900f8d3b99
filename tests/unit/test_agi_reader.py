"""The bounded AGI environment reader, on well-formed, malformed and hostile input."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.asterisk.agi_reader import AgiProtocolError, read_agi_environment

GOOD = (
    b"agi_network: yes\n"
    b"agi_network_script: inbound\n"
    b"agi_request: agi://127.0.0.1:4573/inbound\n"
    b"agi_channel: Local/95598@from-pstn-00000001;2\n"
    b"agi_uniqueid: 1732266221.12\n"
    b"agi_callerid: 13800000001\n"
    b"agi_arg_1: abc\n"
    b"agi_arg_2: \n"
    b"agi_arg_3: z\n"
    b"\n"
)


def reader_with(data: bytes, eof: bool = True, limit: int = 4096) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def read(data: bytes, eof: bool = True, **kw):  # type: ignore[no-untyped-def]
    options = {"timeout_s": 0.5, "max_bytes": 16384} | kw
    return await read_agi_environment(reader_with(data, eof), **options)


async def test_reads_a_real_environment() -> None:
    env = await read(GOOD)
    assert env.script == "inbound"
    assert env.get("callerid") == "13800000001"
    assert env.args == ["abc", "", "z"]


async def test_script_ignores_query_and_slashes() -> None:
    env = await read(b"agi_network_script: /inbound?x=1\n\n")
    assert env.script == "inbound"


async def test_stops_at_the_blank_line_and_leaves_the_rest() -> None:
    reader = reader_with(GOOD + b"200 result=0\n")
    await read_agi_environment(reader, timeout_s=0.5, max_bytes=16384)
    assert await reader.readline() == b"200 result=0\n"


async def test_non_utf8_values_are_kept_marked() -> None:
    env = await read(b"agi_network_script: inbound\nagi_calleridname: \xff\xfe\xc0\n\n")
    assert env.get("calleridname") == "\ufffd\ufffd\ufffd"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "closed the connection after 0 bytes"),
        (b"agi_network: yes\n", "closed the connection"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not an AGI environment line"),
        (b"agi_network yes\n\n", "not an AGI environment line"),
        (b"AGI_NETWORK: yes\n\n", "not an AGI environment line"),
        (b"agi_network: yes\n\n", "no agi_network_script"),
        (b"agi_x: " + b"a" * 5000 + b"\n\n", "longer than allowed"),
        (b"".join(b"agi_k%d: v\n" % i for i in range(300)) + b"\n", "more than 256"),
    ],
)
async def test_malformed_input_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(AgiProtocolError, match=message):
        await read(data, max_bytes=1 << 20)


async def test_total_size_is_capped() -> None:
    data = b"".join(b"agi_k%d: %s\n" % (i, b"v" * 200) for i in range(100)) + b"\n"
    with pytest.raises(AgiProtocolError, match="larger than 4096"):
        await read(data, max_bytes=4096)


async def test_a_stalled_peer_times_out() -> None:
    with pytest.raises(AgiProtocolError, match=r"within 0\.2 s"):
        await read(b"agi_network: yes\nagi_netw", eof=False, timeout_s=0.2)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
async def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        env = await read(data, timeout_s=0.2, max_bytes=2048)
    except AgiProtocolError:
        return
    assert env.script == env.headers["agi_network_script"].split("?")[0].strip("/")


async def test_classic_agi_names_its_route_itself() -> None:
    env = await read(
        b"agi_request: /usr/share/ivr_agi.py\nagi_arg_1: inbound\n\n", classic_route="inbound"
    )
    assert env.script == "inbound"
