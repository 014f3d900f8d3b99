"""Alerts: what the centre must know about now (a time limit at risk or broken, a dispatch stuck).

Shared by the time-limit watch and the repair dispatcher. An alert is identified by its ``key``
(e.g. ``deadline:42:dispatch:warning``): raising the same key twice is one alert, so several
bridges, restarts and retries never duplicate one. Alerts never carry personal data (no phone
numbers or names): they go to dashboards, logs and an outside webhook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AlertLevel(StrEnum):
    WARNING = "warning"  # a limit is at risk: act now and it is still met
    BREACH = "breach"  # a limit has been missed


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # idempotency key: one alert per key, ever
    level: AlertLevel
    kind: str  # what happened: "deadline", "dispatch", …
    message: str  # for people; no personal data
    raised_at: datetime
    order_id: int | None = None
    order_no: str | None = None
    deadline: str | None = None  # the limit's name ("dispatch", "reply", …) if it is about one
    due_at: datetime | None = None
    details: dict[str, str] = field(default_factory=dict)  # no personal data here either


class AlertNotFound(LookupError):
    pass
