"""The recompute use case: the watch is poked only when a due time moved, and the log carries
counts, not orders or customers."""

from __future__ import annotations

import logging

import pytest

from ivr.domain.recompute import RecomputeResult
from ivr.services import calendar as calendar_service
from ivr.services.calendar import recompute_provisional


class Store:
    def __init__(self, result: RecomputeResult) -> None:
        self.result = result

    async def recompute(self) -> RecomputeResult:
        return self.result


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_changes_poke_the_watch_and_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # a logger of the test's own: the shared ``ivr`` loggers' levels and handlers depend on
    # what ran before in the session (caplog saw nothing here after the integration tests)
    own = logging.Logger("recompute-test", logging.DEBUG)
    lines = Lines()
    own.addHandler(lines)
    monkeypatch.setattr(calendar_service, "log", own)
    pokes: list[int] = []
    changed = RecomputeResult(checked=5, orders=3, deadlines=4, exact=4, superseded=1)
    assert await recompute_provisional(Store(changed), lambda: pokes.append(1)) == changed
    assert pokes == [1]
    assert any(
        "4 deadline(s) of 3 order(s) changed, 4 now exact; 1 alert(s) superseded" in line
        for line in lines.lines
    ), lines.lines


async def test_nothing_changed_no_poke() -> None:
    pokes: list[int] = []
    await recompute_provisional(Store(RecomputeResult(checked=2)), lambda: pokes.append(1))
    await recompute_provisional(Store(RecomputeResult()), lambda: pokes.append(1))
    assert pokes == []
