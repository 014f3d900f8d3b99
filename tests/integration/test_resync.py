"""The AMI link drops during calls: the tracker reconnects, resyncs and the figures hold.

The outage is real: the bridge's TCP connection to Asterisk is closed and stays down for 5 s,
while one caller keeps waiting (and is answered after the link is back) and another hangs up
(so the bridge never sees it end). A queue visit a dead bridge left open in the database is
closed by the same resync, and so is a call record it left ``in_menu``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.queue_calls import QueueVisit, VisitOutcome
from ivr.domain.service_level import figures
from ivr.services.call_tracking import LOST_NOTE
from ivr_sandbox.simulation import SimulatedCaller, log_in_agent, log_out_agent, place_queue_call
from tests.integration.test_answer_times import finished_visits

pytestmark = pytest.mark.integration


async def test_link_drop_during_calls_reconnects_resyncs_and_counts_right(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    tracking, link = bridge.tracking, bridge.link
    # what a bridge that died mid-call left behind
    orphan = QueueVisit("1.dead-bridge", "q-t-3", "13500000300", time.time_ns() // 1000 - 10**6)
    await bridge.visits.save(orphan)
    in_menu = CallRecord(
        uuid.uuid4().hex, "1.dead-menu", "13500000303", "95598", "Local/x",
        datetime.now(UTC) - timedelta(minutes=1),
    )  # fmt: skip
    await bridge.repository.add(in_menu)

    stays = await log_in_agent(client, "2301", ["q-t-1"], answer_after_s=8, talk_s=1)
    never = await log_in_agent(client, "2302", ["q-t-2"], answer_after_s="never")
    logins, resyncs = bridge.ami.logins, tracking.resyncs
    try:
        await place_queue_call(
            client, SimulatedCaller("13500000301", pause_s=0, hold_s=30), "q-t-1"
        )
        await place_queue_call(client, SimulatedCaller("13500000302", pause_s=0, hold_s=4), "q-t-2")
        # both callers waiting, each with its agent rung (AgentCalled follows QueueCallerJoin by
        # a few milliseconds: wait for both facts, not just the first)
        deadline = time.monotonic() + 10
        while not (
            {v.caller_number for v in tracking.waiting()} == {"13500000301", "13500000302"}
            and all(v.rings for v in tracking.waiting())
        ):
            assert time.monotonic() < deadline, "calls not seen waiting with their agents rung"
            await asyncio.sleep(0.1)

        bridge.ami.drop_connection(reconnect_after_s=5)
        await asyncio.sleep(0.2)
        assert not bridge.ami.logged_in
        # the second caller hangs up while the bridge is blind
        deadline = time.monotonic() + 20
        while not (bridge.ami.logged_in and link.resynced.is_set()):
            assert time.monotonic() < deadline, "no reconnect"
            await asyncio.sleep(0.1)
        assert bridge.ami.logins == logins + 1
        assert tracking.resyncs == resyncs + 1

        visits = await finished_visits(bridge, {"13500000301", "13500000302"}, 40)
    finally:
        await log_out_agent(client, stays, ["q-t-1"])
        await log_out_agent(client, never, ["q-t-2"])

    kept, gone = visits["13500000301"], visits["13500000302"]
    # the waiting caller was followed across the outage: its ring began before the drop and
    # the answer came after it, and the measured time is still right
    assert kept.outcome is VisitOutcome.ANSWERED
    assert kept.ring_to_answer_ms is not None and abs(kept.ring_to_answer_ms - 8000) <= 50
    # the caller who hung up unseen is closed as lost, with the reason, not left open
    assert gone.outcome is VisitOutcome.LOST and gone.note == LOST_NOTE
    assert gone.ended_us is not None
    # the orphan from a dead bridge too
    now = datetime.now(UTC)
    stored = await bridge.visits.between(now - timedelta(minutes=5), now + timedelta(seconds=1))
    orphan_now = next(v for v in stored if v.unique_id == "1.dead-bridge")
    assert orphan_now.outcome is VisitOutcome.LOST
    assert all(v.unique_id != "1.dead-bridge" for v in await bridge.visits.open_visits())
    menu_row = await bridge.repository.get(in_menu.call_id)
    assert menu_row.outcome is CallOutcome.LOST and menu_row.ended_at is not None
    # figures over these calls: the lost ones are offered, neither answered nor abandoned
    got = figures([kept, gone, orphan_now])
    assert (got.offered, got.answered, got.abandoned, got.lost) == (3, 1, 0, 2)
    assert got.asa_ms == kept.queue_wait_ms and got.answered_in_15s == 1
    # the events really were missed: Asterisk sent the abandon while we were away
    assert log.named("QueueCallerAbandon", Uniqueid=gone.unique_id)
