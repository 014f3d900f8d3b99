"""Finding calls (``GET /api/calls``): the filters an integrator may give, read and checked from
query parameters, and the opaque cursor that pages through the result.

Calls are listed newest first, ordered by (``started_at``, ``call_id``) descending; the cursor is
the position of the last call of a page, so a page never repeats or skips a call even while new
calls arrive. Its text is base64 of a small JSON array: opaque to callers, who send it back as
they got it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from ivr.domain.calls import CallOutcome, CallStep
from ivr.domain.queue_calls import VisitOutcome
from ivr.domain.servers import SERVER_NAME_PATTERN

_E = TypeVar("_E", bound=StrEnum)
MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 500, 100
# What a caller's number may look like in a search: the digits as Asterisk gave them.
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
# A menu choice is a path of option names (``repair.outage``), as the menu file spells them.
_CHOICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CALL_ID = re.compile(r"^[0-9a-f]{32}$")
_SERVER = re.compile(SERVER_NAME_PATTERN)
# Queue outcomes a finished or waiting call can have, from the queue visit (answered, …).
QUEUE_OUTCOMES = tuple(o.value for o in VisitOutcome)
OUTCOMES = tuple(o.value for o in CallOutcome)
KNOWN_PARAMETERS = (
    "phone",
    "from",
    "to",
    "choice",
    "outcome",
    "queue_outcome",
    "server",
    "limit",
    "cursor",
)


class SearchError(ValueError):
    """A query parameter the search cannot use; the message names it and what it may be."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the last call's start and id."""

    started_at: datetime
    call_id: str


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What to find. ``agent_job_number``: only calls that agent answered (an agent's own)."""

    phone: str | None = None
    started_from: datetime | None = None  # inclusive
    started_to: datetime | None = None  # exclusive
    choice: str | None = None
    outcome: CallOutcome | None = None
    queue_outcome: VisitOutcome | None = None
    server: str | None = None  # the Asterisk the call came in on (asterisk.server_name)
    agent_job_number: str | None = None
    limit: int = DEFAULT_LIMIT
    after: Position | None = None


@dataclass(frozen=True, slots=True)
class QueueStay:
    """One stay of the call in an agent queue (from call tracking): how it ended, who answered."""

    queue: str
    outcome: VisitOutcome
    joined_at: datetime
    queue_wait_ms: int | None
    talk_ms: int | None
    agent_job_number: str | None


@dataclass(frozen=True, slots=True)
class FoundCall:
    """A call as the search returns it; ``steps`` only when one call is asked for."""

    call_id: str
    caller_number: str
    dialed_number: str
    channel_name: str
    started_at: datetime
    ended_at: datetime | None
    outcome: CallOutcome
    route: str | None
    choice: str | None
    menu_path: list[str]
    keys: str
    queue_status: str | None
    agent_interface: str | None
    queue: tuple[QueueStay, ...] = ()
    steps: tuple[CallStep, ...] = ()
    server_name: str = ""  # the Asterisk it came in on
    lost_reason: str | None = None  # why it was closed as lost (its server died), else None


@dataclass(frozen=True, slots=True)
class CallPage:
    """One page, newest first; ``next`` is where the following page starts (None: no more)."""

    calls: list[FoundCall]
    next: Position | None


def valid_call_id(raw: str) -> bool:
    return bool(_CALL_ID.match(raw))


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.started_at.isoformat(), position.call_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; :class:`SearchError` for anything this API did not give."""
    problem = SearchError("cursor is not one this API gave: send next_cursor as it came")
    if not cursor.isascii() or len(cursor) > 200:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, call_id = json.loads(raw.decode())
        moment = datetime.fromisoformat(started)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise problem from None
    if moment.tzinfo is None or not isinstance(call_id, str) or not valid_call_id(call_id):
        raise problem
    return Position(moment, call_id)


def parse_filter(query: Mapping[str, str]) -> CallFilter:
    """The filter from query parameters; each problem names only the parameter at fault."""
    unknown = sorted(set(query) - set(KNOWN_PARAMETERS))
    if unknown:
        raise SearchError(
            f"unknown query parameter {unknown[0]}; known: {', '.join(KNOWN_PARAMETERS)}"
        )
    phone = query.get("phone")
    if phone is not None and not _PHONE.match(phone):
        raise SearchError("phone is the caller's number: 3-20 digits, optionally after +")
    choice = query.get("choice")
    if choice is not None and not _CHOICE.match(choice):
        raise SearchError("choice is a menu option path such as repair.outage")
    server = query.get("server")
    if server is not None and not _SERVER.match(server):
        raise SearchError("server is an Asterisk's server_name: a-z 0-9 -, at most 32")
    started_from = _moment(query, "from")
    started_to = _moment(query, "to")
    if started_from and started_to and started_from >= started_to:
        raise SearchError("from must be before to")
    cursor = query.get("cursor")
    return CallFilter(
        phone=phone,
        started_from=started_from,
        started_to=started_to,
        choice=choice,
        outcome=_enum(query, "outcome", CallOutcome, OUTCOMES),
        queue_outcome=_enum(query, "queue_outcome", VisitOutcome, QUEUE_OUTCOMES),
        server=server,
        limit=parse_limit(query),
        after=decode_cursor(cursor) if cursor is not None else None,
    )


def parse_limit(query: Mapping[str, str], default: int = DEFAULT_LIMIT) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not MIN_LIMIT <= int(raw) <= MAX_LIMIT:
        raise SearchError(f"limit is {MIN_LIMIT}–{MAX_LIMIT}")
    return int(raw)


def _enum(
    query: Mapping[str, str], name: str, kind: type[_E], allowed: tuple[str, ...]
) -> _E | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw not in allowed:
        raise SearchError(f"{name} is one of {', '.join(allowed)}")
    return kind(raw)


def _moment(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    # an unencoded "+08:00" arrives as " 08:00" (a "+" in a query string is a space)
    raw = re.sub(r" ([0-9]{2}:?[0-9]{2})$", r"+\1", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise SearchError(
            f"{name} is an ISO 8601 time with its offset, e.g. 2026-12-05T08:00+08:00"
        )
    return value
