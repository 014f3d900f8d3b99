"""AMI events → domain events, using Asterisk's own ``Timestamp:`` (microseconds).

``manager.conf`` has ``timestampevents = yes``; an event without a usable timestamp is
malformed here (its timing would be our clock, not Asterisk's) and is refused with
:class:`MalformedEvent`, which the caller logs and drops.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.domain import queue_calls as q
from ivr.domain.agents import Membership, member_state

_TIMESTAMP = re.compile(r"^\s*([0-9]{1,12})(?:\.([0-9]{1,6}))?\s*\Z")  # ASCII digits only
_UID = re.compile(r"^[\w.:-]{1,150}$")

TRACKED = (
    "QueueCallerJoin",
    "AgentCalled",
    "AgentRingNoAnswer",
    "AgentConnect",
    "AgentComplete",
    "QueueCallerAbandon",
    "QueueCallerLeave",
    "BlindTransfer",
    "AttendedTransfer",
    "HangupRequest",
    "Hangup",
)
MEMBER_EVENTS = (
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberPause",
    "QueueMemberStatus",
)


class MalformedEvent(ValueError):
    """An event we cannot use; the message says what was wrong (never the caller's number)."""


def timestamp_us(value: str | None) -> int:
    match = _TIMESTAMP.match(value or "")
    if not match:
        raise MalformedEvent(f"no usable Timestamp ({(value or '')[:30]!r})")
    whole, fraction = match.group(1), (match.group(2) or "").ljust(6, "0")
    return int(whole) * 1_000_000 + int(fraction)


def _field(event: Mapping[str, str], name: str, required: bool = True) -> str:
    value = str(event.get(name) or "").strip()
    if required and not value:
        raise MalformedEvent(f"{event.get('Event')} without {name}")
    return value[:200]


def _uid(event: Mapping[str, str], name: str = "Uniqueid") -> str:
    value = _field(event, name)
    if not _UID.match(value):
        raise MalformedEvent(f"{event.get('Event')} with a malformed {name}")
    return value


def parse_queue_event(event: Mapping[str, str]) -> q.QueueEvent | None:
    """The domain event for a tracked AMI event; ``None`` for events we do not follow."""
    name = str(event.get("Event") or "")
    if name not in TRACKED:
        return None
    at = timestamp_us(event.get("Timestamp"))
    if name == "QueueCallerJoin":
        return q.CallerJoined(
            at, _uid(event), _field(event, "Queue"), _field(event, "CallerIDNum", False)
        )
    if name == "AgentCalled":
        return q.AgentRung(
            at, _uid(event), _field(event, "Interface"), _field(event, "MemberName", False)
        )
    if name == "AgentRingNoAnswer":
        return q.AgentRingNoAnswer(at, _uid(event), _field(event, "Interface"))
    if name == "AgentConnect":
        dest = _field(event, "DestUniqueid", False)
        return q.AgentAnswered(
            at,
            _uid(event),
            _field(event, "Interface"),
            _field(event, "MemberName", False),
            dest if _UID.match(dest) else "",
        )
    if name == "AgentComplete":
        return q.AgentCompleted(at, _uid(event), _field(event, "Reason", False))
    if name == "QueueCallerAbandon":
        return q.CallerAbandoned(at, _uid(event))
    if name == "QueueCallerLeave":
        return q.CallerLeft(at, _uid(event))
    if name == "HangupRequest":
        return q.HangupRequested(at, _uid(event))
    if name == "Hangup":
        return q.ChannelHungUp(at, _uid(event))
    # transfers name their channels with prefixes (Transferer…, Transferee…, OrigTransferer…)
    uids = frozenset(
        str(v) for k, v in event.items() if str(k).endswith("Uniqueid") and _UID.match(str(v))
    )
    if not uids:
        raise MalformedEvent(f"{name} naming no channel")
    return q.Transferred(at, uids)


def parse_member(event: Mapping[str, str]) -> Membership:
    """QueueMember* events and QueueStatus's ``QueueMember`` entries as a membership."""
    interface = _field(event, "Interface", False) or _field(event, "StateInterface", False)
    if not interface:
        interface = _field(event, "Location")
    return Membership(
        queue=_field(event, "Queue"),
        interface=interface,
        name=_field(event, "MemberName", False) or _field(event, "Name", False) or interface,
        state=member_state(_field(event, "Status", False)),
        paused=_field(event, "Paused", False) in ("1", "true", "yes"),
        pause_reason=_field(event, "PausedReason", False) or _field(event, "Reason", False),
        calls_taken=_count(_field(event, "CallsTaken", False)),
    )


_COUNT = re.compile(r"[0-9]{1,9}")


def _count(value: str) -> int:
    """A counter field, 0 when it is not plain ASCII digits (``str.isdigit`` accepts ``²``,
    which ``int`` refuses)."""
    return int(value) if _COUNT.fullmatch(value) else 0
