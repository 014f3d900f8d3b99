"""What a supervisor may do with a follow-up: resolve any open one, re-queue only a callback
flagged for a human that may still be dialled; repeating a decision is harmless."""

from __future__ import annotations

import pytest

from ivr.domain.callbacks import TaskState
from ivr.domain.follow_ups import FollowUpConflict, FollowUpFacts, Resolution, must_apply

FLAGGED = FollowUpFacts("callback_no_answer", None, TaskState.NEEDS_HUMAN, False)
DISSATISFIED = FollowUpFacts("dissatisfied", None, TaskState.DONE, False)


def test_open_follow_ups_can_be_resolved() -> None:
    assert must_apply(FLAGGED, Resolution.RESOLVED)
    assert must_apply(DISSATISFIED, Resolution.RESOLVED)


def test_flagged_callback_can_be_requeued() -> None:
    assert must_apply(FLAGGED, Resolution.REQUEUED)


@pytest.mark.parametrize("done", list(Resolution))
def test_repeating_a_decision_changes_nothing(done: Resolution) -> None:
    facts = FollowUpFacts(FLAGGED.reason, done, TaskState.PENDING, False)
    assert must_apply(facts, done) is False


def test_the_first_decision_stands() -> None:
    resolved = FollowUpFacts(FLAGGED.reason, Resolution.RESOLVED, TaskState.NEEDS_HUMAN, False)
    with pytest.raises(FollowUpConflict, match="already resolved"):
        must_apply(resolved, Resolution.REQUEUED)
    requeued = FollowUpFacts(FLAGGED.reason, Resolution.REQUEUED, TaskState.PENDING, False)
    with pytest.raises(FollowUpConflict, match="already requeued"):
        must_apply(requeued, Resolution.RESOLVED)


@pytest.mark.parametrize(
    ("facts", "needle"),
    [
        (DISSATISFIED, "callback state: done"),
        (FollowUpFacts("dissatisfied", None, None, False), "callback state: none"),
        (FollowUpFacts("callback_busy", None, TaskState.NEEDS_HUMAN, True), "not to be called"),
        (FollowUpFacts("invalid_phone", None, TaskState.NEEDS_HUMAN, False), "cannot be dialled"),
    ],
)
def test_requeue_refused(facts: FollowUpFacts, needle: str) -> None:
    with pytest.raises(FollowUpConflict, match=needle):
        must_apply(facts, Resolution.REQUEUED)
