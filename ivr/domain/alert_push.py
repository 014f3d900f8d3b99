"""Pushing alerts to an outside webhook: the payload, its signature and the retry schedule.

Delivery is at least once: an alert stays in the outbox until a receiver answered 2xx, so a
receiver must de-duplicate on ``key`` (also sent as the ``X-IVR-Alert-Key`` header). The body
is signed with HMAC-SHA256 over ``<timestamp>.<body>`` so a receiver can check both who sent it
and that it is fresh (``X-IVR-Timestamp``, ``X-IVR-Signature: sha256=<hex>``): :func:`verify`
refuses a timestamp more than five minutes from the receiver's clock, so a captured request
cannot be replayed later, and ``key`` de-duplicates the retries inside that window.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "X-IVR-Signature"
TIMESTAMP_HEADER = "X-IVR-Timestamp"
KEY_HEADER = "X-IVR-Alert-Key"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One stored alert due for (re)delivery; ``attempts`` counts this one."""

    alert_id: int
    key: str
    attempts: int
    payload: dict[str, Any]  # the alert as the API shows it (no personal data)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait ``first * factor**(n-1)`` after the n-th failed attempt, at most ``cap``."""

    first: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=10)

    def after(self, attempts: int) -> timedelta:
        wait = self.first * (self.factor ** max(attempts - 1, 0))
        return min(wait, self.cap)


def body_of(item: OutboxItem) -> bytes:
    return json.dumps(item.payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# How far a signed request's timestamp may be from the receiver's clock: each delivery attempt
# is signed afresh, so a genuine one is seconds old; a captured one replayed later is refused.
REPLAY_WINDOW_S = 300


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """What a receiver does (and our tests): the signature matches (constant-time) and the
    timestamp is within ``window_s`` of the receiver's clock ``now`` (Unix seconds).

    >>> body = b'{"key": "k"}'
    >>> signed = sign(b"s3cret", 1700000000, body)
    >>> verify(b"s3cret", "1700000000", body, signed, now=1700000030)
    True
    >>> verify(b"s3cret", "1700000000", body, signed, now=1700000000 + 301)  # a replay
    False
    """
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > window_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def alert_payload(row: Any) -> dict[str, Any]:
    """An alert row (or anything with the same attributes) as JSON-ready data."""

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    details = dict(row.details or {})
    return {
        "id": row.id,
        "key": row.key,
        "level": row.level,
        "kind": row.kind,
        "message": row.message,
        "order_no": row.order_no,
        "deadline": row.deadline,
        "due_at": iso(row.due_at),
        "raised_at": iso(row.raised_at),
        "provisional": details.get("provisional") == "true",
        "details": details,
        "acknowledged_at": iso(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
    }
