"""Supervisor monitoring's pure rules: ChanSpy options per mode, what may be spied on, and
the recording events' spool form."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.db.spool import RecordingEventSpool
from ivr.domain.monitoring import (
    MonitorMode,
    MonitorRefused,
    check_call_id,
    check_spied_channel,
    parse_mode,
)
from ivr.domain.recordings import BadCallId, RecordingEvent, RecordingKind, kind_of


def test_each_mode_is_quiet_bridged_and_ends_with_the_call() -> None:
    assert MonitorMode.LISTEN.options == "qbE"
    assert MonitorMode.WHISPER.options == "qbwE"  # the agent hears, the caller does not
    assert MonitorMode.BARGE.options == "qbBE"  # both hear
    for mode in MonitorMode:
        assert {"q", "b", "E"} <= set(mode.options)


def test_extensions_conf_spies_with_the_same_options() -> None:
    conf = (Path(__file__).parents[2] / "asterisk_conf" / "extensions.conf").read_text()
    for mode in MonitorMode:
        assert f"exten => {mode.value},1,Set(SPY_OPTIONS={mode.options})" in conf


@pytest.mark.parametrize("bad", ["", "spy", "LISTEN", "listen,w", None, 3])
def test_an_unknown_mode_is_refused(bad: object) -> None:
    with pytest.raises(MonitorRefused) as refused:
        parse_mode(bad)
    assert refused.value.status == 400


@pytest.mark.parametrize(
    "channel",
    [
        "Local/2131@sim-agents-0000001a;1",
        "Local/1024@agent-dial-00ab12cd;1",
        "PJSIP/desk12-0000002f",
    ],
)
def test_an_agents_leg_may_be_spied_on(channel: str) -> None:
    assert check_spied_channel(channel) == channel


@pytest.mark.parametrize(
    "channel",
    [
        "Local/2131@sim-agents-0000001a;2",  # the agent's own half, not the caller-facing one
        "Local/2131@sim-agents",  # a prefix of every such channel
        "PJSIP/",
        "PJSIP/desk12-0000002f,qB",  # options smuggled in
        "PJSIP/desk12-0000002f|x",
        "Local/1@x-0000001a;1\nAction: Originate",
        "DAHDI/1-1",
    ],
)
def test_anything_else_is_refused(channel: str) -> None:
    with pytest.raises(MonitorRefused):
        check_spied_channel(channel)


def test_call_ids_are_ours_only() -> None:
    assert check_call_id("0" * 32)
    for bad in ("cb-" + "0" * 32, "0" * 31, "../x", "Z" * 32):
        with pytest.raises(MonitorRefused):
            check_call_id(bad)


def test_a_fallback_call_is_its_own_kind_answered_by_an_agent() -> None:
    assert kind_of("fb-" + "a" * 32) is RecordingKind.FALLBACK
    assert RecordingKind.FALLBACK.answered_by_agent and RecordingKind.INBOUND.answered_by_agent
    assert not RecordingKind.CALLBACK.answered_by_agent
    with pytest.raises(BadCallId):
        kind_of("fx-" + "a" * 32)


def test_recording_events_survive_the_spool_in_order(tmp_path: Path) -> None:
    spool = RecordingEventSpool(tmp_path / "events.jsonl")
    at = datetime(2026, 12, 5, 4, 0, 1, 123456, tzinfo=UTC)
    events = [
        RecordingEvent("started", "a" * 32, at, "Local/1@x-0000001a;1", "SUCCESS", "/r/a", "/r/c"),
        RecordingEvent("ended", "a" * 32, at),
    ]
    for event in events:
        spool.append(event)
    with spool.path.open("a") as f:
        f.write('{"name": "started", "call_id": "torn')  # a crash mid-append
    assert spool.load() == events
    spool.replace(events[1:])
    assert spool.load() == events[1:]
    spool.replace([])
    assert spool.empty()
