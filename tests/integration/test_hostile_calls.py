"""Callers who press keys endlessly, press only wrong keys, or hold the line silent: real calls
through the sandboxed Asterisk into the bridge, beside a normal caller placed at the same time.
The menu hands each of them to a person (q-general) politely, the record says why, and the
normal call is routed as if they were not there."""

from __future__ import annotations

import asyncio

import pytest

from ivr.domain.calls import CallOutcome, CallRecord, StepKind
from ivr.sandbox.simulation import SimulatedCaller, place_call
from tests.integration.asterisk_fixtures import wait_for_records

pytestmark = pytest.mark.integration

CALLERS = {
    # 45 replays half a second apart: each interrupts the menu and asks for it again
    "endless_keys": SimulatedCaller("13900000711", "*w" * 45, hold_s=90),
    # nothing but a key the main menu does not have
    "wrong_keys": SimulatedCaller("13900000712", "9wwwwwwww9wwwwwwww9wwwwwwww9", hold_s=90),
    # says and presses nothing at all
    "silent": SimulatedCaller("13900000713", "", hold_s=240),
    # and a normal caller at the same moment
    "normal": SimulatedCaller("13900000714", "1ww1", hold_s=30),
}
WHY = {
    "endless_keys": "too many keys",
    "wrong_keys": "no valid key",
    "silent": "caller pressed nothing",
}


@pytest.fixture(scope="module")
async def records(bridge, ami, agents) -> dict[str, CallRecord]:  # type: ignore[no-untyped-def]
    client, _ = ami
    await asyncio.gather(*(place_call(client, caller) for caller in CALLERS.values()))
    by_number = await wait_for_records(bridge, {c.number for c in CALLERS.values()}, 300)
    return {name: by_number[caller.number] for name, caller in CALLERS.items()}


@pytest.mark.parametrize("name", sorted(WHY))
async def test_hostile_callers_reach_a_person_and_the_record_says_why(  # type: ignore[no-untyped-def]
    name: str, records, ami, bridge
) -> None:
    record = records[name]
    _, log = ami
    assert record.outcome == CallOutcome.ROUTED
    assert (record.route, record.choice) == ("q-general", "agent.default")
    defaults = [s for s in record.steps if s.kind is StepKind.DEFAULT]
    assert [s.detail for s in defaults] == [WHY[name]], record.steps
    assert record.steps[-1].kind is StepKind.ROUTE
    # the transfer prompt was said and Asterisk put the caller in the human queue
    joins = log.named("QueueCallerJoin", CallerIDNum=CALLERS[name].number)
    assert [e["Queue"] for e in joins] == ["q-general"]
    assert len(record.keys) <= bridge.menu.max_keys + 1
    if name == "endless_keys":
        assert set(record.keys) == {"*"} and len(record.keys) == bridge.menu.max_keys + 1
    if name == "silent":
        assert record.keys == ""
        # one unanswered menu: a caller who presses nothing is not put through every retry
        assert [s.kind for s in record.steps].count(StepKind.TIMEOUT) == 1


async def test_the_normal_caller_beside_them_is_served_as_usual(records, ami) -> None:  # type: ignore[no-untyped-def]
    record = records["normal"]
    _, log = ami
    assert (record.outcome, record.route, record.choice) == (
        CallOutcome.ROUTED,
        "q-repair",
        "repair.no_power",
    )
    assert record.keys == "11"
    assert not [s for s in record.steps if s.kind in (StepKind.DEFAULT, StepKind.ERROR)]
    connect = log.named("AgentConnect", CallerIDNum=CALLERS["normal"].number)
    assert connect and connect[0]["Queue"] == "q-repair"
