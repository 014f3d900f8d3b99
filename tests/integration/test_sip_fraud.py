"""Fraud guards at the SIP edge, each tried with SIPp against the sandboxed Asterisk: a stranger's
INVITE, a wrong password, a phone or the trunk dialling an outside number, a REFER to one. Every
attempt is refused, nothing is dialled out, and Asterisk's security events reach the bridge's
counter. Also: no DNS lookup on the call path (strace on Asterisk while calls are set up).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr_sandbox.asterisk import TEST_PHONE, AsteriskSandbox
from tests.integration.asterisk_fixtures import EventLog
from tests.sipp import (
    CARRIER_IP,
    STRANGER_IP,
    Pause,
    Refer,
    carrier_call,
    phone_call,
    refused_invite,
    run_sipp,
)

pytestmark = pytest.mark.integration
OUTSIDE = "13800138000"  # a mobile number: what a toll fraudster would dial
PHONE_IP = "127.0.0.1"


@pytest.fixture(scope="module")
def box(sandbox) -> AsteriskSandbox:  # type: ignore[no-untyped-def]
    return AsteriskSandbox.from_settings(Settings())


def as_phone(password: str) -> list[str]:
    return ["-s", TEST_PHONE, "-au", TEST_PHONE, "-ap", password]


def dialled_out(log: EventLog, since: int) -> list[dict[str, str]]:
    """Every Dial towards the carrier trunk Asterisk reported after event number ``since``.

    The log is the session's: other modules place legitimate trunk calls (回访, dispatch, the
    trunk guard's own check), so only what happened during this test counts.
    """
    return [
        e
        for e in log.events[since:]
        if e.get("Event") == "DialBegin" and "trunk-95598" in e.get("DestChannel", "")
    ]


async def counted(bridge, name: str, at_least: int) -> int:  # type: ignore[no-untyped-def]
    for _ in range(50):
        if bridge.security.counts()[name] >= at_least:
            break
        await asyncio.sleep(0.1)
    return int(bridge.security.counts()[name])


async def test_an_invite_from_an_unknown_source_is_refused(bridge, ami, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    before = bridge.security.counts()["InvalidAccountID"]
    result = await run_sipp(refused_invite("95598", 401), tmp_path, STRANGER_IP, 15710, 16710)
    assert result.ok, result.errors  # challenged, and without a password that is the end
    assert await counted(bridge, "InvalidAccountID", before + 1) == before + 1
    assert log.named("Newchannel", CallerIDNum=OUTSIDE) == []  # no channel was ever made


async def test_a_wrong_password_is_refused_and_counted(bridge, box, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = bridge.security.counts()["ChallengeResponseFailed"]
    scenario = phone_call("95598", refused_with=401)
    result = await run_sipp(
        scenario, tmp_path, PHONE_IP, 15711, 16711, extra=as_phone("not-" + box.test_phone_password)
    )
    assert result.ok, result.errors
    assert await counted(bridge, "ChallengeResponseFailed", before + 1) == before + 1


async def test_neither_a_phone_nor_the_trunk_reaches_an_outside_number(  # type: ignore[no-untyped-def]
    bridge, ami, box, tmp_path
) -> None:
    _, log = ami
    mark = len(log.events)
    phone = phone_call(OUTSIDE, refused_with=404)  # [agent-phones] has no outbound route
    result = await run_sipp(
        phone, tmp_path, PHONE_IP, 15712, 16712, extra=as_phone(box.test_phone_password)
    )
    assert result.ok, result.errors
    trunk = refused_invite(OUTSIDE, 404)  # [from-trunk] holds our DIDs only
    result = await run_sipp(trunk, tmp_path, CARRIER_IP, 15713, 16713)
    assert result.ok, result.errors
    assert dialled_out(log, since=mark) == []


async def test_a_refer_to_an_outside_number_is_refused(bridge, ami, agents, box, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    mark = len(log.events)
    # the carrier may not transfer at all: 603 Declined
    trunk = carrier_call([Pause(1500), Refer(OUTSIDE, 603), Pause(500)], True, tmp_path)
    result = await run_sipp(trunk, tmp_path, CARRIER_IP, 15714, 16714)
    assert result.ok, result.errors
    # a phone's blind transfer is looked up in its own context only: not found
    phone = phone_call("95598", transfer_to=OUTSIDE)
    result = await run_sipp(
        phone, tmp_path, PHONE_IP, 15715, 16715, extra=as_phone(box.test_phone_password)
    )
    assert result.ok, result.errors
    assert re.search(r"Content-Type: message/sipfrag.*?SIP/2\.0 404", result.messages, re.S)
    assert dialled_out(log, since=mark) == []


async def test_no_dns_lookup_while_calls_are_set_up(bridge, box, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """RTP bound to the media address: Asterisk resolves nothing per call (docs/sip.md)."""
    pid = box.daemon_pid()
    assert pid is not None
    trace = tmp_path / "connect.txt"
    strace = subprocess.Popen(
        ["strace", "-f", "-qq", "-e", "trace=connect", "-p", str(pid), "-o", str(trace)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)  # attached to every thread
        for n in range(3):
            phone = phone_call("95598", hold_ms=300)
            result = await run_sipp(
                phone, tmp_path, PHONE_IP, 15720 + n, 16720 + 4 * n,
                extra=as_phone(box.test_phone_password),
            )  # fmt: skip
            assert result.ok, result.errors
            call = carrier_call([Pause(300)], True, tmp_path, from_user="13900002090")
            result = await run_sipp(call, tmp_path, CARRIER_IP, 15730 + n, 16730 + 4 * n)
            assert result.ok, result.errors
    finally:
        strace.terminate()
        strace.wait(10)
    connects = trace.read_text().splitlines()
    assert any("htons(5060)" in c or "127.0.0" in c for c in connects)  # strace saw the calls
    # a connect to port 53 at a loopback address is a route probe (which source address
    # reaches this peer); one anywhere else is a query to the resolver
    lookups = [c for c in connects if "htons(53)" in c and "127.0.0." not in c]
    assert lookups == []
