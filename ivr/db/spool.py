"""Spools: what the database could not take yet (the journal's call records, recording
events), in local JSON-lines files.

Appends are flushed and fsynced (the spool is used exactly when something is already wrong, so
it must survive the bridge dying next); a torn last line from a crash mid-append is skipped
with a warning. ``replace`` writes a new file and renames it over the old one (atomic).
Replaying an entry twice is harmless: the repository's ``save`` is idempotent.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ivr.domain.calls import CallEnd, CallOutcome, CallRecord, CallStep, SpooledCall, StepKind
from ivr.domain.recordings import RecordingEvent

log = logging.getLogger(__name__)


class JsonLinesFile:
    """Entries as JSON lines: appended with fsync, read back skipping torn lines, replaced
    atomically (a new file renamed over the old one), mode 0600 (they may hold numbers)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append_json(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(data, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file made by hand or an older release may be wider
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def load_json(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                log.warning("spool %s line %d unreadable (%s): skipped", self.path, number, exc)
        return entries

    def replace_json(self, entries: Sequence[dict[str, Any]]) -> None:
        if not entries:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        # created 0600 (never readable by others, even for a moment), whatever the umask
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a stale .tmp left by a crash keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for entry in entries:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)

    def empty(self) -> bool:
        try:
            return self.path.stat().st_size == 0
        except FileNotFoundError:
            return True


class FileSpool(JsonLinesFile):
    """The journal's call records."""

    def append(self, entry: SpooledCall) -> None:
        self.append_json(_encode(entry))

    def load(self) -> list[SpooledCall]:
        entries = []
        for data in self.load_json():
            try:
                entries.append(_decode(data))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("spool %s: an entry unreadable (%s): skipped", self.path, exc)
        return entries

    def replace(self, entries: Sequence[SpooledCall]) -> None:
        self.replace_json([_encode(e) for e in entries])


class RecordingEventSpool(JsonLinesFile):
    """The recording events (``IvrRecording`` / ``IvrRecordingEnded``) that arrived while the
    database was down, in arrival order, replayed by the recording keeper."""

    def append(self, event: RecordingEvent) -> None:
        self.append_json(event.as_dict())

    def load(self) -> list[RecordingEvent]:
        events = []
        for data in self.load_json():
            try:
                events.append(RecordingEvent.from_dict(data))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("spool %s: an event unreadable (%s): skipped", self.path, exc)
        return events

    def replace(self, events: Sequence[RecordingEvent]) -> None:
        self.replace_json([e.as_dict() for e in events])


def _encode(entry: SpooledCall) -> dict[str, Any]:
    record = entry.record
    end = entry.end
    return {
        "call_id": entry.call_id,
        "record": None
        if record is None
        else {
            "call_id": record.call_id,
            "unique_id": record.unique_id,
            "caller_number": record.caller_number,
            "dialed_number": record.dialed_number,
            "channel_name": record.channel_name,
            "started_at": record.started_at.isoformat(),
            "outcome": record.outcome.value,
            "ended_at": _time(record.ended_at),
            "route": record.route,
            "choice": record.choice,
            "menu_path": list(record.menu_path),
            "keys": record.keys,
            "queue_status": record.queue_status,
            "agent_interface": record.agent_interface,
            "outage_id": record.outage_id,
            "informed": record.informed,
            "steps": [
                [s.at.isoformat(), s.kind.value, s.node, s.key, s.detail] for s in record.steps
            ],
        },
        "end": None if end is None else [end.ended_at.isoformat(), end.queue_status, end.agent],
    }


def _decode(data: dict[str, Any]) -> SpooledCall:
    raw = data["record"]
    record = None
    if raw is not None:
        record = CallRecord(
            call_id=str(raw["call_id"]),
            unique_id=str(raw["unique_id"]),
            caller_number=str(raw["caller_number"]),
            dialed_number=str(raw["dialed_number"]),
            channel_name=str(raw["channel_name"]),
            started_at=datetime.fromisoformat(raw["started_at"]),
            outcome=CallOutcome(raw["outcome"]),
            ended_at=_parse(raw["ended_at"]),
            route=raw["route"],
            choice=raw["choice"],
            menu_path=[str(n) for n in raw["menu_path"]],
            keys=str(raw["keys"]),
            queue_status=raw["queue_status"],
            agent_interface=raw["agent_interface"],
            outage_id=raw.get("outage_id"),
            informed=bool(raw.get("informed", False)),
            steps=[
                CallStep(datetime.fromisoformat(at), StepKind(kind), node, key, detail)
                for at, kind, node, key, detail in raw["steps"]
            ],
        )
    end = data["end"]
    return SpooledCall(
        str(data["call_id"]),
        record,
        None if end is None else CallEnd(datetime.fromisoformat(end[0]), end[1], end[2]),
    )


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
