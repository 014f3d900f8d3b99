"""Recompute provisional deadlines once the calendar knows their year, and say so in the log.

Run at every bridge start (before the time-limit watch, so its first round sees the new due
times) and by ``ivr calendar recompute``. Idempotent: a second run, or a second bridge at the
same moment, finds nothing left to change. The log carries counts only, no order or customer data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ivr.domain.recompute import RecomputeResult
from ivr.ports import DeadlineRecompute

log = logging.getLogger(__name__)


async def recompute_provisional(
    store: DeadlineRecompute, changed: Callable[[], None] | None = None
) -> RecomputeResult:
    """Recompute; ``changed`` (e.g. poke the watch) is called if any due time moved."""
    result = await store.recompute()
    if result.deadlines:
        log.info(
            "provisional deadlines recomputed: %d deadline(s) of %d order(s) changed, %d now "
            "exact; %d alert(s) superseded (%d order(s) with provisional deadlines checked)",
            result.deadlines,
            result.orders,
            result.exact,
            result.superseded,
            result.checked,
        )
        if changed is not None:
            changed()
    elif result.checked:
        log.info(
            "provisional deadlines: %d order(s) checked, none changed (their years are "
            "still unknown)",
            result.checked,
        )
    return result
