"""The time-limit watch's rules: when a deadline is at risk, when it is broken, and which alert
that is. Pure: the watch feeds it deadlines and the time, and gets alerts and its next wake-up.

* **Warning** at ``warn_at``: the limit's ``target_at`` when it has one (the standard's "2–3
  working days": warn once the 2nd day has passed); otherwise ``due_at - lead``, where the lead is
  a configured one for that limit (dispatch: 2 minutes), else a fraction of the window clamped to
  ``[min_lead, max_lead]``, and never before the order was created. A warning is only raised
  while it can still help: unmet, at or after ``warn_at`` and before ``due_at``.
* **Breach** once ``due_at`` has passed unmet, or when a deadline was met after ``due_at`` (a
  watch that was down, or met between two looks). One breach per deadline, ever.

A warning whose deadline is then met is acknowledged by the watch itself (``SETTLED_BY``): it
needs nobody any more. A breach stays open until a person acknowledges it.

Keys are ``deadline:<order id>:<limit>:<level>``, so any number of watches and restarts raise
each alert once (the sink is idempotent on the key). A deadline recomputed once its calendar year
became known has a ``revision`` (1, 2 …) and its later alerts the suffix ``:r<revision>``: an
alert the new due time no longer justified was superseded, and its successor must not share its
key (webhook receivers de-duplicate on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain.alerts import Alert, AlertLevel

KIND = "deadline"
SETTLED_BY = "watch:limit met"  # who acknowledged a warning whose deadline was then met


class DeadlineState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    MET = "met"
    MET_LATE = "met_late"


@dataclass(frozen=True, slots=True)
class WatchedDeadline:
    """One stored deadline of one order, with what the watch already raised for it."""

    order_id: int
    order_no: str
    order_kind: str
    created_at: datetime  # the order's: the start of the window
    name: str
    due_at: datetime
    provisional: bool
    target_at: datetime | None = None
    met_at: datetime | None = None
    warned: bool = False  # a warning alert for it exists (not superseded)
    breached: bool = False  # a breach alert for it exists (not superseded)
    revision: int = 0  # how often its due time was recomputed (see ivr.domain.recompute)


@dataclass(frozen=True, slots=True)
class WarningPolicy:
    """How long before a limit the watch warns (see the module docstring)."""

    lead_fraction: float = 0.25
    min_lead: timedelta = timedelta(minutes=2)
    max_lead: timedelta = timedelta(hours=24)
    leads: dict[str, timedelta] = field(default_factory=lambda: {"dispatch": timedelta(minutes=2)})

    def __post_init__(self) -> None:
        if not 0 <= self.lead_fraction < 1:
            raise ValueError("lead_fraction must be in [0, 1)")
        if self.min_lead > self.max_lead:
            raise ValueError("min_lead must not exceed max_lead")

    @property
    def longest_lead(self) -> timedelta:
        """No deadline is warned earlier than this before its ``due_at`` (targets aside)."""
        return max([self.max_lead, *self.leads.values()])

    def warn_at(self, d: WatchedDeadline) -> datetime:
        if d.target_at is not None:
            return d.target_at
        window = d.due_at - d.created_at
        lead = self.leads.get(d.name)
        if lead is None:
            lead = min(max(window * self.lead_fraction, self.min_lead), self.max_lead)
        return max(d.due_at - lead, d.created_at)


@dataclass(frozen=True, slots=True)
class Window:
    """Which open deadlines can need an alert before ``at``: those due by ``due_by`` or with a
    target by ``target_by``. Any other has its warning and its limit after ``at``, so a watch
    that looks again by ``at`` need not read it now (it keeps rounds cheap with many orders)."""

    at: datetime
    due_by: datetime
    target_by: datetime

    @classmethod
    def ahead(cls, now: datetime, look_ahead: timedelta, policy: WarningPolicy) -> Window:
        at = now + look_ahead
        return cls(at, at + policy.longest_lead, at)


def state_of(d: WatchedDeadline, now: datetime, policy: WarningPolicy) -> DeadlineState:
    if d.met_at is not None:
        return DeadlineState.MET_LATE if d.met_at > d.due_at else DeadlineState.MET
    if now >= d.due_at:
        return DeadlineState.OVERDUE
    if now >= policy.warn_at(d):
        return DeadlineState.AT_RISK
    return DeadlineState.ON_TRACK


def shown_state(d: WatchedDeadline, now: datetime, policy: WarningPolicy) -> DeadlineState:
    """The state the supervisors' list shows: the clock's, but never calmer than the alerts
    raised for it (a dispatch warning may come before the watch's own warning time)."""
    state = state_of(d, now, policy)
    if state is DeadlineState.ON_TRACK and (d.warned or d.breached):
        return DeadlineState.AT_RISK
    return state


def alert_key(order_id: int, name: str, level: AlertLevel, revision: int = 0) -> str:
    key = f"{KIND}:{order_id}:{name}:{level.value}"
    return f"{key}:r{revision}" if revision else key


def justified(d: WatchedDeadline, level: AlertLevel, now: datetime, policy: WarningPolicy) -> bool:
    """Would an alert of ``level`` for ``d`` be right by ``now``? A warning once it is at risk
    (or overdue), a breach once overdue or met late. Used when a due time moved."""
    state = state_of(d, now, policy)
    late = state in (DeadlineState.OVERDUE, DeadlineState.MET_LATE)
    return late or (level is AlertLevel.WARNING and state is DeadlineState.AT_RISK)


def alerts_due(
    deadlines: list[WatchedDeadline], now: datetime, policy: WarningPolicy
) -> list[Alert]:
    """The alerts that should exist by ``now`` and were not raised yet."""
    out: list[Alert] = []
    for d in deadlines:
        state = state_of(d, now, policy)
        if state is DeadlineState.AT_RISK and not d.warned:
            out.append(_alert(d, AlertLevel.WARNING, now, policy))
        elif state in (DeadlineState.OVERDUE, DeadlineState.MET_LATE) and not d.breached:
            out.append(_alert(d, AlertLevel.BREACH, now, policy))
    return out


def next_moment(
    deadlines: list[WatchedDeadline], now: datetime, policy: WarningPolicy
) -> datetime | None:
    """The earliest future instant at which one of these deadlines will need an alert."""
    moments: list[datetime] = []
    for d in deadlines:
        if d.met_at is not None:
            continue  # met: nothing more can happen to it
        warn = policy.warn_at(d)
        if not d.warned and warn > now:
            moments.append(warn)
        if not d.breached and d.due_at > now:
            moments.append(d.due_at)
    return min(moments, default=None)


def _alert(d: WatchedDeadline, level: AlertLevel, now: datetime, p: WarningPolicy) -> Alert:
    details = {"order_kind": d.order_kind, "provisional": "true" if d.provisional else "false"}
    if d.target_at is not None:
        details["target_at"] = d.target_at.isoformat()
    if d.revision:
        details["revision"] = str(d.revision)
    flag = " (provisional: calendar year not yet published)" if d.provisional else ""
    if level is AlertLevel.WARNING:
        left = _span(d.due_at - now)
        details["warn_at"] = p.warn_at(d).isoformat()
        if d.target_at is not None and now >= d.target_at:
            what = f"target passed; limit in {left}"
        else:
            what = f"due in {left}"
        message = f"{d.order_kind} order {d.order_no}: {d.name} {what}{flag}"
    elif d.met_at is not None:
        details["met_at"] = d.met_at.isoformat()
        details["late_by_s"] = str(int((d.met_at - d.due_at).total_seconds()))
        late = _span(d.met_at - d.due_at)
        message = f"{d.order_kind} order {d.order_no}: {d.name} met {late} late{flag}"
    else:
        late = _span(now - d.due_at)
        message = f"{d.order_kind} order {d.order_no}: {d.name} overdue by {late}{flag}"
    return Alert(
        key=alert_key(d.order_id, d.name, level, d.revision),
        level=level,
        kind=KIND,
        message=message,
        raised_at=now,
        order_id=d.order_id,
        order_no=d.order_no,
        deadline=d.name,
        due_at=d.due_at,
        details=details,
    )


def _span(delta: timedelta) -> str:
    """A duration for people: ``2 min``, ``5 h 3 min``, ``3 d 4 h``."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


@dataclass(frozen=True, slots=True)
class OpenDeadline:
    """An open deadline with what the supervisors' list shows beside it."""

    deadline: WatchedDeadline
    status: str
    owner_job_number: str
