"""Asterisk stops and starts again while callers are in the menu and in a queue.

Real fault, real calls: the sandboxed Asterisk is stopped (``core stop now``, every channel
cut) and started again with the test session's lock held. Afterwards every call has exactly one
record, closed as ``lost`` (the bridge cannot know how the caller would have gone on), the AMI
client has logged in again by itself, the tracker has resynced and closed the queue visits as
lost, and a new call is served and recorded as usual. Asterisk is left up with its queue
members and globals as they were, even if the test fails.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from ivr.config import Settings
from ivr.domain.calls import CallOutcome
from ivr.domain.queue_calls import VisitOutcome
from ivr.services.call_tracking import LOST_NOTE
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.simulation import (
    SimulatedCaller,
    log_in_agent,
    log_out_agent,
    place_call,
    place_queue_call,
)
from tests.integration.asterisk_fixtures import wait_for_records
from tests.integration.test_answer_times import finished_visits

pytestmark = pytest.mark.integration

SILENT_IN_MENU = "13600000101"  # listening to the main menu
IN_SUB_MENU = "13600000102"  # pressed 1, listening to the repair menu
ROUTED_WAITING = "13600000103"  # pressed 0: waiting in q-general (nobody answers)
QUEUE_ONLY = "13600000104"  # straight into q-t-5, its agent never answers
AFTER = "13600000105"  # a new call once Asterisk is back
NEVER_AGENT = "2501"


async def wait_until(check, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_asterisk_restart_mid_call_loses_nothing_and_doubles_nothing(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    tracking, link = bridge.tracking, bridge.link
    box = AsteriskSandbox.from_settings(Settings())
    since = datetime.now(UTC) - timedelta(seconds=1)
    numbers = {SILENT_IN_MENU, IN_SUB_MENU, ROUTED_WAITING}
    never = await log_in_agent(client, NEVER_AGENT, ["q-t-5", "q-general"], answer_after_s="never")
    try:
        await place_call(client, SimulatedCaller(SILENT_IN_MENU, "", hold_s=120))
        await place_call(client, SimulatedCaller(IN_SUB_MENU, "1", hold_s=120))
        await place_call(client, SimulatedCaller(ROUTED_WAITING, "0", hold_s=120))
        await place_queue_call(client, SimulatedCaller(QUEUE_ONLY, pause_s=0, hold_s=120), "q-t-5")

        async def all_in_place() -> bool:
            waiting = {v.caller_number for v in tracking.waiting()}
            rows = {
                r.caller_number: r
                for r in await bridge.repository.list_since(since)
                if r.caller_number in numbers
            }
            return {ROUTED_WAITING, QUEUE_ONLY} <= waiting and rows.keys() == numbers

        await wait_until(all_in_place, 40, "callers not in the menu and the queues")
        await asyncio.sleep(2)  # the second caller's key (sent 1.5 s in) has been taken
        logins, resyncs, restarts = bridge.ami.logins, tracking.resyncs, link.restarts
        cut = len(events.events)
        try:
            await asyncio.to_thread(box.restart, 2.0)
        finally:
            if not box.ami_login_ok():  # whatever happened, leave Asterisk up for the others
                await asyncio.to_thread(box.up)

        # the bridge's AMI client logs in again by itself and the tracker resyncs
        async def relinked() -> bool:
            return bool(bridge.ami.logged_in and link.resynced.is_set())

        await wait_until(relinked, 60, "the bridge did not reconnect to AMI")
        # the test's own AMI client reconnects on its own backoff; an action sent before its
        # login waits in panoramisk and fails with AmiLinkLost if a connect attempt made while
        # Asterisk was still starting drops
        await asyncio.wait_for(client.wait_logged_in(), 60)
        assert bridge.ami.logins == logins + 1
        assert tracking.resyncs >= resyncs + 1 and link.restarts == restarts + 1
        records = await wait_for_records(bridge, numbers, timeout_s=30)
        visits = await finished_visits(bridge, {ROUTED_WAITING, QUEUE_ONLY}, 30)
        # a new call afterwards is served as usual
        await place_call(client, SimulatedCaller(AFTER, "0", hold_s=8))
        after = (await wait_for_records(bridge, {AFTER}, timeout_s=60))[AFTER]
        after_visit = (await finished_visits(bridge, {AFTER}, 30))[AFTER]
    finally:
        await asyncio.wait_for(client.wait_logged_in(), 60)
        await log_out_agent(client, never, ["q-t-5", "q-general"])

    # exactly one record per call, none left open, each closed as lost
    rows = [r for r in await bridge.repository.list_since(since) if r.caller_number in numbers]
    assert sorted(r.caller_number for r in rows) == sorted(numbers)
    for number in numbers:
        record = records[number]
        assert record.outcome is CallOutcome.LOST, (number, record.outcome)
        assert record.ended_at is not None
    # what the caller did before the cut is kept
    assert records[IN_SUB_MENU].keys == "1" and records[IN_SUB_MENU].menu_path == ["main", "repair"]
    assert records[ROUTED_WAITING].route == "q-general"
    # queue visits cut by the restart: lost, with the reason
    for number in (ROUTED_WAITING, QUEUE_ONLY):
        assert visits[number].outcome is VisitOutcome.LOST and visits[number].note == LOST_NOTE
    # each caller joined its queue once (nothing was redone after the restart)
    for number, queue in ((ROUTED_WAITING, "q-general"), (QUEUE_ONLY, "q-t-5")):
        assert [e["Queue"] for e in events.named("QueueCallerJoin", CallerIDNum=number)] == [queue]
    assert not [e for e in events.events[cut:] if e.get("CallerIDNum") in numbers | {QUEUE_ONLY}
                and e.get("Event") == "QueueCallerJoin"]  # fmt: skip
    # and the new call went through normally
    assert (after.outcome, after.route, after.choice) == (CallOutcome.ROUTED, "q-general", "agent")
    assert after.ended_at is not None
    assert after_visit.outcome is VisitOutcome.ABANDONED
    assert events.named("QueueCallerJoin", CallerIDNum=AFTER)
