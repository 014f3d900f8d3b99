"""Who may hear a recording, the range a player asks for, and our call ids as file names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.domain.access import Principal, Role
from ivr.domain.recordings import (
    BadCallId,
    ByteRange,
    RangeNotSatisfiable,
    Recording,
    RecordingKind,
    RecordingState,
    file_name,
    kind_of,
    may_hear,
    parse_range,
)
from ivr.services.recordings import member_interface

AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def recording(job: str | None, kind: RecordingKind = RecordingKind.INBOUND) -> Recording:
    return Recording(
        1, "a" * 32, kind, RecordingState.COMPLETE, job, "/x-agent.wav", "/x-customer.wav",
        AT, AT, 1000, None, None, 10, None, None,
    )  # fmt: skip


def test_agents_hear_their_own_calls_only() -> None:
    mine = Principal("a", Role.AGENT, "1001")
    assert may_hear(mine, recording("1001"))
    assert not may_hear(mine, recording("1002"))
    assert not may_hear(mine, recording(None, RecordingKind.CALLBACK))
    assert not may_hear(Principal("b", Role.AGENT, None), recording(None))


@pytest.mark.parametrize("role", [Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN])
def test_inspectors_and_supervisors_hear_all(role: Role) -> None:
    assert may_hear(Principal("x", role), recording("1002"))
    assert may_hear(Principal("x", role), recording(None, RecordingKind.DISPATCH))


def test_integration_hears_nothing() -> None:
    assert not may_hear(Principal("x", Role.INTEGRATION), recording("1001"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=900-5000", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("bytes=0-1,5-9", None),  # several ranges: the whole file
        ("items=0-9", None),
    ],
)
def test_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-4", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_call_ids_and_file_names() -> None:
    assert kind_of("a" * 32) is RecordingKind.INBOUND
    assert kind_of("cb-" + "b" * 32) is RecordingKind.CALLBACK
    assert kind_of("dp-" + "c" * 32) is RecordingKind.DISPATCH
    assert file_name("a" * 32, "agent") == "a" * 32 + "-agent.wav"
    for bad in ["", "../" + "a" * 29, "13800138000", "A" * 32, "a" * 32 + "/x"]:
        with pytest.raises(BadCallId):
            kind_of(bad)


def test_member_channels_map_back_to_their_interface() -> None:
    assert member_interface("Local/2131@sim-agents-0000001a;1") == "Local/2131@sim-agents/n"
    assert member_interface("Local/1024@agent-dial-00000a0b;1") == "Local/1024@agent-dial/n"
    assert member_interface("PJSIP/seat1-0001") is None
