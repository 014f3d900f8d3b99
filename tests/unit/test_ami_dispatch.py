"""The AMI client's event dispatch: which callbacks an event reaches, worked out once per event
name (not one regular expression per registered pattern for every event), must be exactly
panoramisk's: every matching pattern, in registration order, wildcards included, and a pattern
registered later is matched from then on."""

from __future__ import annotations

from panoramisk.message import Message

from ivr.asterisk.ami import AmiClient


def event(name: str) -> Message:
    return Message.from_line(f"Event: {name}\r\nUniqueid: 1.1")


async def test_every_matching_pattern_in_order_and_patterns_added_later() -> None:
    client = AmiClient("127.0.0.1", 1, "u", "s")
    seen: list[str] = []
    client.on_event("AgentCalled", lambda e: seen.append("exact " + e["Event"]))
    client.on_event("Agent*", lambda e: seen.append("wild " + e["Event"]))
    client.on_event("*", lambda e: seen.append("all " + e["Event"]))
    manager = client._manager
    for name in ("AgentCalled", "AgentCalled", "Hangup", "AgentConnect"):
        manager.dispatch(event(name))
    assert seen == [
        "exact AgentCalled", "wild AgentCalled", "all AgentCalled",
        "exact AgentCalled", "wild AgentCalled", "all AgentCalled",
        "all Hangup",
        "wild AgentConnect", "all AgentConnect",
    ]  # fmt: skip
    seen.clear()
    client.on_event("Hangup", lambda e: seen.append("late " + e["Event"]))
    assert manager.dispatch(event("Hangup")) == ["*", "Hangup"]
    assert seen == ["all Hangup", "late Hangup"]
