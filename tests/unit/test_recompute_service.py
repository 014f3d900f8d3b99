"""The recompute use case: the watch is poked only when a due time moved, and the log carries
counts, not orders or customers."""

from __future__ import annotations

import logging

import pytest

from ivr.domain.recompute import RecomputeResult
from ivr.services.calendar import recompute_provisional


class Store:
    def __init__(self, result: RecomputeResult) -> None:
        self.result = result

    async def recompute(self) -> RecomputeResult:
        return self.result


async def test_changes_poke_the_watch_and_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    pokes: list[int] = []
    changed = RecomputeResult(checked=5, orders=3, deadlines=4, exact=4, superseded=1)
    with caplog.at_level(logging.INFO):
        assert await recompute_provisional(Store(changed), lambda: pokes.append(1)) == changed
    assert pokes == [1]
    assert "4 deadline(s) of 3 order(s) changed, 4 now exact; 1 alert(s) superseded" in (
        caplog.text
    )


async def test_nothing_changed_no_poke() -> None:
    pokes: list[int] = []
    await recompute_provisional(Store(RecomputeResult(checked=2)), lambda: pokes.append(1))
    await recompute_provisional(Store(RecomputeResult()), lambda: pokes.append(1))
    assert pokes == []
