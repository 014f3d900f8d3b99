"""The do-not-call list (勿扰): numbers whose owners asked not to be called back (回访).

One entry per phone number, kept by supervisors only and never by the agent who owns an order
(an agent must not be able to spare their own order its 回访). Each entry records the
customer's request as they made it. A number on the list gets no 回访: a task that is waiting
is cancelled when the number is added, a task scheduled later is created cancelled, and the
dialer checks the list again at the moment it claims an attempt. Its outcome is
``do_not_call``, which the monthly report shows beside the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DoNotCallEntry:
    phone: str  # plain digits; masked for every reader but the request's own
    request: str  # what the customer asked, in the words recorded
    order_no: str | None  # the order they asked on, if any
    added_by: str
    added_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None
    removal_reason: str | None = None
    cancelled_callbacks: int = 0  # waiting 回访 cancelled by this addition

    @property
    def current(self) -> bool:
        return self.removed_at is None


class NotOnTheList(LookupError):
    """The number is not (or no longer) on the list."""
