"""Call recordings (录音): what one is, who may hear it, how long it is kept.

Each answered call is recorded by Asterisk's MixMonitor in two files, one per direction, so
either side can be analysed alone: ``<call id>-agent.wav`` (what our side said: the agent, or
the bridge's voice on a 回访 or dispatch call) and ``<call id>-customer.wav`` (the other party:
the caller, the customer called back, the repair crew). File names carry our call id only,
never a number or a name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain.access import Principal, Role
from ivr.domain.recording_findings import Finding

# Our ids: an inbound call's UUID hex, a 回访 attempt (cb-…), a dispatch call (dp-…), or the
# id the dialplan itself gives a call the bridge never saw (fb-…: its menu fell back).
_CALL_ID = re.compile(r"^(?:cb-|dp-|fb-)?[0-9a-f]{32}$")
SIDES = ("agent", "customer")


class RecordingKind(StrEnum):
    INBOUND = "inbound"  # a queue call an agent answered
    CALLBACK = "callback"  # 回访 to the customer
    DISPATCH = "dispatch"  # the order read to the repair crew (their 接令 is evidence)
    # a queue call an agent answered that the bridge never saw: FastAGI was unreachable, so
    # [from-pstn] queued it on its own (no call record, no menu, no work order link)
    FALLBACK = "fallback"

    @property
    def answered_by_agent(self) -> bool:
        """A queue member answered (the owner is that agent, the opening is judged)."""
        return self in (RecordingKind.INBOUND, RecordingKind.FALLBACK)


class RecordingState(StrEnum):
    RECORDING = "recording"  # started; the files are still being written
    COMPLETE = "complete"  # both files closed, measured and checksummed
    FAILED = "failed"  # Asterisk could not record (MixMonitor refused, files missing or empty)
    DELETED = "deleted"  # retention ran out: the files are gone, the row stays as the record


class BadCallId(ValueError):
    """A call id from Asterisk that is not one of ours (never used in a path)."""


def kind_of(call_id: str) -> RecordingKind:
    """The kind of call an id names; :class:`BadCallId` unless it is exactly one of ours."""
    if not _CALL_ID.match(call_id):
        raise BadCallId("not a call id of this bridge")
    if call_id.startswith("cb-"):
        return RecordingKind.CALLBACK
    if call_id.startswith("dp-"):
        return RecordingKind.DISPATCH
    if call_id.startswith("fb-"):
        return RecordingKind.FALLBACK
    return RecordingKind.INBOUND


def call_id_of_file(name: str) -> str | None:
    """The call id of a recording file name (``<call id>-agent.wav``, ``-customer.wav``), or
    None for any other name.

    >>> call_id_of_file("fb-" + "0" * 32 + "-agent.wav") == "fb-" + "0" * 32
    True
    >>> call_id_of_file(".events.spool.jsonl") is None
    True
    """
    for side in SIDES:
        suffix = f"-{side}.wav"
        if name.endswith(suffix):
            call_id = name.removesuffix(suffix)
            return call_id if _CALL_ID.match(call_id) else None
    return None


def file_name(call_id: str, side: str) -> str:
    """``<call id>-<side>.wav``: the only names the dialplan and the bridge use."""
    kind_of(call_id)
    if side not in SIDES:
        raise ValueError(f"side is one of {SIDES}")
    return f"{call_id}-{side}.wav"


@dataclass(frozen=True, slots=True)
class RecordingEvent:
    """What the dialplan reported, kept as it came (with when) so that an event the database
    could not take is applied later exactly as if it had been applied then."""

    name: str  # "started" (IvrRecording) or "ended" (IvrRecordingEnded)
    call_id: str
    at: datetime
    channel: str = ""
    status: str = ""
    agent_file: str = ""
    customer_file: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "call_id": self.call_id,
            "at": self.at.isoformat(),
            "channel": self.channel,
            "status": self.status,
            "agent_file": self.agent_file,
            "customer_file": self.customer_file,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RecordingEvent:
        if data["name"] not in ("started", "ended"):
            raise ValueError(f"not a recording event: {data['name']!r}")
        return cls(
            name=str(data["name"]),
            call_id=str(data["call_id"]),
            at=datetime.fromisoformat(data["at"]),
            channel=str(data.get("channel", "")),
            status=str(data.get("status", "")),
            agent_file=str(data.get("agent_file", "")),
            customer_file=str(data.get("customer_file", "")),
        )


@dataclass(frozen=True, slots=True)
class RecordingFile:
    """One closed file as measured by the bridge."""

    bytes: int
    duration_ms: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorded call as the API and the retention keeper see it."""

    id: int
    call_id: str
    kind: RecordingKind
    state: RecordingState
    agent_job_number: str | None  # whose call it is (an agent hears only their own)
    agent_path: str
    customer_path: str
    started_at: datetime
    ended_at: datetime | None
    duration_ms: int | None
    agent_sha256: str | None
    customer_sha256: str | None
    bytes: int | None
    failure: str | None
    deleted_at: datetime | None
    orders: tuple[str, ...] = ()  # the work orders' numbers
    findings: tuple[Finding, ...] = ()

    def path(self, side: str) -> str:
        if side not in SIDES:
            raise ValueError(f"side is one of {SIDES}")
        return self.agent_path if side == "agent" else self.customer_path

    def as_dict(self) -> dict[str, object]:
        """The API's view: no paths (never a public URL), the checksums for disputes."""
        return {
            "id": self.id,
            "call_id": self.call_id,
            "kind": self.kind.value,
            "state": self.state.value,
            "agent_job_number": self.agent_job_number,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_ms": self.duration_ms,
            "bytes": self.bytes,
            "sha256": {"agent": self.agent_sha256, "customer": self.customer_sha256},
            "failure": self.failure,
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
            "orders": list(self.orders),
            "findings": [f.as_dict() for f in self.findings],
        }


# Who may hear recordings: an agent their own calls; inspectors (质检) and supervisors all.
LISTENERS = frozenset({Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR})


def may_hear(who: Principal, recording: Recording) -> bool:
    """An agent hears only calls they answered; 回访 and dispatch calls have no agent, so only
    inspectors, supervisors and admins hear those."""
    if who.role is Role.AGENT:
        return who.job_number is not None and who.job_number == recording.agent_job_number
    return who.may(frozenset({Role.INSPECTOR, Role.SUPERVISOR}))


def expiry_cutoff(now: datetime, retention_days: int) -> datetime:
    """Recordings that ended before this instant are past their retention."""
    return now - timedelta(days=retention_days)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """An inclusive byte range of a file (HTTP ``Range: bytes=start-end``)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(ValueError):
    """A range outside the file (HTTP 416)."""


_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a player asks for, clipped to the file; ``None``: the whole file (no
    header, or one we do not serve as a range: several ranges, other units). A range that
    starts past the end is :class:`RangeNotSatisfiable`."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("an empty suffix range")
        return ByteRange(max(size - n, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"bytes {start}-{end} of {size}")
    return ByteRange(start, min(end, size - 1))
