"""Follow-ups (督办): what a supervisor may do with one, decided without touching the database.

A follow-up is opened when a callback finds the customer dissatisfied or without power, and when
a callback is flagged for a human (retries exhausted, wrong person, hung up, invalid number). A
supervisor either resolves it with a note, or — for a flagged callback only — re-queues the
callback for one more automatic attempt. Both are idempotent: asking again for what was already
done answers with the stored result and changes nothing; asking for the other thing is a
conflict, because the first decision stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ivr.domain.callbacks import TaskState


class Resolution(StrEnum):
    RESOLVED = "resolved"  # a person dealt with it; the note says how
    REQUEUED = "requeued"  # the callback goes back to the dialer for another attempt


# reasons whose number cannot be dialled at all: another automatic attempt would fail the same way
UNDIALLABLE = frozenset({"invalid_phone"})


class FollowUpConflict(ValueError):
    """The request contradicts what was already decided or what the callback allows."""


@dataclass(frozen=True, slots=True)
class FollowUpFacts:
    reason: str
    resolution: Resolution | None  # None while open
    task_state: TaskState | None  # the order's callback task, if it has one
    do_not_call: bool


def must_apply(facts: FollowUpFacts, wanted: Resolution) -> bool:
    """True: carry out ``wanted`` now. False: it was already done (answer as the first time).

    Raises :class:`FollowUpConflict` when it cannot be done.
    """
    if facts.resolution is not None:
        if facts.resolution is wanted:
            return False
        raise FollowUpConflict(f"this follow-up was already {facts.resolution.value}")
    if wanted is Resolution.REQUEUED:
        if facts.task_state is not TaskState.NEEDS_HUMAN:
            state = facts.task_state.value if facts.task_state else "none"
            raise FollowUpConflict(
                f"only a callback flagged for a human can be re-queued (callback state: {state})"
            )
        if facts.do_not_call:
            raise FollowUpConflict("the customer asked not to be called again")
        if facts.reason in UNDIALLABLE:
            raise FollowUpConflict("the stored number cannot be dialled; a person must call")
    return True


class FollowUpNotFound(LookupError):
    pass
