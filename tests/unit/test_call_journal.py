"""The journal: writes leave the call's path at once, and land in order, complete."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from ivr.services.call_journal import CallJournal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class SlowRepository:
    """Records the order of writes; the first insert is slow and can be made to fail."""

    def __init__(self, fail_add: int = 0) -> None:
        self.log: list[tuple[str, object]] = []
        self.release = asyncio.Event()
        self.fail_add = fail_add

    async def add(self, record: CallRecord) -> None:
        await self.release.wait()
        if self.fail_add:
            self.fail_add -= 1
            raise ConnectionError("database down")
        self.log.append(("add", len(record.steps)))

    async def add_steps(self, call_id: str, steps: Sequence[CallStep]) -> None:
        self.log.append(("add_steps", len(steps)))

    async def update(self, record: CallRecord) -> None:
        self.log.append(("update", record.outcome))

    async def mark_ended(self, call_id: str, *args: object) -> None:
        self.log.append(("ended", args[1]))


def record() -> CallRecord:
    return CallRecord("c" * 32, "1.1", "13800000001", "95598", "Local/x", T0)


async def test_writes_do_not_block_and_land_in_order() -> None:
    repo, call = SlowRepository(), record()
    journal = CallJournal(repo)
    call.steps.append(CallStep(T0, StepKind.PROMPT))
    journal.opened(call)  # returns at once although the database is stalled
    call.steps.append(CallStep(T0, StepKind.KEY, key="0"))
    call.outcome = CallOutcome.ROUTED
    journal.closed(call)
    journal.ended(call.call_id, T0, "TIMEOUT", None)
    assert repo.log == []
    repo.release.set()
    await journal.drain()
    # the insert saw the record as it was when handed over (one step), not as it became
    assert repo.log == [
        ("add", 1),
        ("add_steps", 1),
        ("update", CallOutcome.ROUTED),
        ("ended", "TIMEOUT"),
    ]


async def test_a_failed_insert_is_made_good_by_the_final_write() -> None:
    repo, call = SlowRepository(fail_add=1), record()
    journal = CallJournal(repo)
    repo.release.set()
    call.steps.append(CallStep(T0, StepKind.PROMPT))
    journal.opened(call)
    call.steps.append(CallStep(T0, StepKind.HANGUP))
    journal.closed(call)
    await journal.drain()
    assert repo.log == [("add", 2)]
