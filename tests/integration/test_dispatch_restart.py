"""A bridge restarting mid-dispatch: the job and its live call are in PostgreSQL, so the next
bridge finishes the call it did not place (from AMI's broadcast OriginateResponse) and rings
the next crew; nobody is rung twice. A stopped bridge leaves the database exactly as a killed
one would (stop() finalises no dispatch rows)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ivr.app import Bridge
from ivr_sandbox.simulation import SimulatedCrew
from tests.integration.test_dispatch_calls import (
    dispatch_settings,
    fresh_postgres,
    on_duty,
    record_repair,
    rung,
    settled,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


async def test_a_restarted_bridge_resumes_the_dispatch(sandbox, ami) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    settings = dispatch_settings(await fresh_postgres(), sandbox)
    away = SimulatedCrew("13799000031", mode="never")
    backup = SimulatedCrew("13799000032", keys="1", pause_s=2, hold_s=10)
    first = Bridge(settings)
    await first.start()
    try:
        await on_duty(first, client, [away, backup])
        order_no, _ = await record_repair(first)
        deadline = time.monotonic() + 10
        while True:  # the primary crew is ringing: placed by the first bridge
            found = await first.dispatch.for_order(order_no)
            if found and found["calls"] and found["calls"][0]["state"] == "originating":
                break
            assert time.monotonic() < deadline, found
            await asyncio.sleep(0.1)
    finally:
        await first.stop()
    assert first.dispatcher is not None
    second = Bridge(settings)
    await second.start()
    try:
        found = await settled(second, order_no)
    finally:
        await second.stop()
    assert second.dispatcher is not None
    assert [(c["result"], c["claimed_by"]) for c in found["calls"]] == [
        ("no_answer", first.dispatcher.owner),  # finished by the second bridge's AMI watch
        ("accepted", second.dispatcher.owner),
    ]
    assert (len(rung(log, away.number)), len(rung(log, backup.number))) == (1, 1)
    assert (await second.work_orders.get(order_no)).status == "dispatched"
