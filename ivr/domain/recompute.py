"""Provisional deadlines made exact once the calendar knows their year.

A working-day deadline reaching a year the calendar did not know was counted Monday-Friday and
stored ``provisional``. When the year becomes known (the site schedule file or a new package),
each such deadline that is still open is computed again **by the same code as at creation**
(``deadlines_for`` from the order's kind, class and creation time), and replaced if the answer
differs. Met deadlines are history and stay as they were; so do exact ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ivr.domain.workdays import CHINA, IsWorkday
from ivr.domain.workorders import CustomerClass, OrderKind, deadlines_for

ACTOR = "calendar"  # who the order's history says moved the due time
SUPERSEDED_BY = "calendar:recomputed"  # who acknowledged an alert the new due time undid


@dataclass(frozen=True, slots=True)
class StoredDeadline:
    name: str
    due_at: datetime
    target_at: datetime | None
    provisional: bool
    met_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadlineChange:
    name: str
    old_due: datetime
    new_due: datetime
    old_target: datetime | None
    new_target: datetime | None
    provisional: bool  # still provisional (it reaches another year nobody knows yet)

    def note(self) -> str:
        """The order's history entry: what moved, from and to (Beijing time), and why."""
        text = f"{self.name} due {_local(self.old_due)} → {_local(self.new_due)}"
        if self.old_target != self.new_target:
            text += f", target {_local(self.old_target)} → {_local(self.new_target)}"
        still = "still provisional" if self.provisional else "exact"
        return f"{text} (recomputed: calendar year now known; {still})"


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """Counts only (logs carry no order or customer data)."""

    checked: int = 0  # orders with an open provisional deadline
    orders: int = 0  # orders with a deadline changed
    deadlines: int = 0  # deadlines changed
    exact: int = 0  # of which now exact
    superseded: int = 0  # alerts the new due times no longer justified


def recompute(
    kind: OrderKind,
    customer_class: CustomerClass | None,
    created_at: datetime,
    stored: list[StoredDeadline],
    is_workday: IsWorkday,
) -> list[DeadlineChange]:
    """The open provisional deadlines whose due time (or target) the calendar now answers
    differently, with old and new values; nothing for met, exact or unchanged ones."""
    if not any(s.provisional and s.met_at is None for s in stored):
        return []
    fresh = {d.name: d for d in deadlines_for(kind, customer_class, created_at, is_workday)}
    changes = []
    for s in stored:
        new = fresh.get(s.name)
        if new is None or not s.provisional or s.met_at is not None:
            continue
        if (new.due_at, new.target_at, new.provisional) == (s.due_at, s.target_at, True):
            continue
        changes.append(
            DeadlineChange(
                s.name, s.due_at, new.due_at, s.target_at, new.target_at, new.provisional
            )
        )
    return changes


def _local(at: datetime | None) -> str:
    return "none" if at is None else at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
