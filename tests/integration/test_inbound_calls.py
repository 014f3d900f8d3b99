"""Real calls through the sandboxed Asterisk into our FastAGI menu, checked on AMI and the DB.

All scenario calls are placed at once by one module fixture (each call takes tens of seconds of
real audio; one after another they would take minutes); each test then checks its own call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from ivr.domain.calls import CallOutcome, CallRecord, StepKind
from ivr.sandbox.simulation import SimulatedCaller, place_call
from tests.integration.asterisk_fixtures import EventLog, wait_for_records

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Scenario:
    caller: SimulatedCaller
    queue: str | None
    choice: str | None
    outcome: CallOutcome = CallOutcome.ROUTED


SCENARIOS = {
    "repair": Scenario(SimulatedCaller("13900000001", "1ww1"), "q-repair", "repair.no_power"),
    "billing": Scenario(SimulatedCaller("13900000002", "2ww1"), "q-billing", "billing.bill"),
    "business": Scenario(SimulatedCaller("13900000003", "3ww2"), "q-business", "business.change"),
    "complaint": Scenario(
        SimulatedCaller("13900000004", "4ww2"), "q-complaint", "complaint.report"
    ),
    "agent": Scenario(SimulatedCaller("13900000005", "0"), "q-general", "agent"),
    "invalid_then_valid": Scenario(
        SimulatedCaller("13900000006", "9ww1ww1"), "q-repair", "repair.no_power"
    ),
    "replay_then_choose": Scenario(
        SimulatedCaller("13900000007", "2ww*ww3"), "q-billing", "billing.outage_info"
    ),
    "timeout_retry_default": Scenario(
        # silent at every prompt: with speech on, the first round also listens (6 s without
        # audio frames from the simulated line) before waiting for keys
        SimulatedCaller("13900000008", "", hold_s=240),
        "q-general",
        "agent.default",
    ),
    "hangup_mid_menu": Scenario(
        SimulatedCaller("13900000009", "1", hold_s=2), None, None, CallOutcome.ABANDONED_IN_MENU
    ),
}


@pytest.fixture(scope="module")
async def calls(bridge, ami, agents) -> dict[str, CallRecord]:  # type: ignore[no-untyped-def]
    client, _ = ami
    await asyncio.gather(*(place_call(client, s.caller) for s in SCENARIOS.values()))
    numbers = {s.caller.number for s in SCENARIOS.values()}
    by_number = await wait_for_records(bridge, numbers, timeout_s=300)
    return {name: by_number[s.caller.number] for name, s in SCENARIOS.items()}


def joined_queue(log: EventLog, number: str) -> list[str]:
    return [e["Queue"] for e in log.named("QueueCallerJoin", CallerIDNum=number)]


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s.queue])
async def test_routed_calls(name: str, calls, ami) -> None:  # type: ignore[no-untyped-def]
    scenario, record = SCENARIOS[name], calls[name]
    _, log = ami
    assert record.outcome == CallOutcome.ROUTED
    assert (record.route, record.choice) == (scenario.queue, scenario.choice)
    # what Asterisk did: the caller joined that queue, and an agent took the call
    assert joined_queue(log, scenario.caller.number) == [scenario.queue]
    connect = log.named("AgentConnect", CallerIDNum=scenario.caller.number)
    assert connect and connect[0]["Queue"] == scenario.queue
    # the hangup handler told us who answered
    assert record.agent_interface == connect[0]["Interface"]
    assert record.ended_at is not None and record.ended_at > record.started_at
    assert record.caller_number == scenario.caller.number and record.dialed_number == "95598"


async def test_the_agent_side_sees_call_id_and_choice(calls, ami) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    for name in ("repair", "complaint"):
        record = calls[name]
        seen = log.named("UserEvent", UserEvent="SimAgentAnswered", CallId=record.call_id)
        assert seen, f"no agent saw call {name}"
        assert seen[0]["Choice"] == record.choice


async def test_keys_and_path_are_recorded_step_by_step(calls) -> None:  # type: ignore[no-untyped-def]
    record = calls["invalid_then_valid"]
    assert record.keys == "911"
    assert record.menu_path == ["main", "repair"]
    kinds = [(s.kind, s.key) for s in record.steps]
    assert kinds == [
        (StepKind.PROMPT, None),
        (StepKind.INVALID, "9"),
        (StepKind.KEY, "1"),
        (StepKind.PROMPT, None),
        (StepKind.KEY, "1"),
        (StepKind.ROUTE, None),
    ]
    assert [s.at for s in record.steps] == sorted(s.at for s in record.steps)
    replay = calls["replay_then_choose"]
    assert replay.keys == "2*3"
    assert StepKind.REPLAY in [s.kind for s in replay.steps]


async def test_a_silent_caller_goes_to_an_agent_after_one_menu(calls) -> None:  # type: ignore[no-untyped-def]
    record = calls["timeout_retry_default"]
    kinds = [s.kind for s in record.steps]
    assert kinds.count(StepKind.TIMEOUT) == 1  # menu silent_timeouts = 1: no retries
    assert kinds[-2:] == [StepKind.DEFAULT, StepKind.ROUTE]
    assert record.keys == ""


async def test_hangup_mid_menu_closes_the_row_as_abandoned(calls, ami, bridge) -> None:  # type: ignore[no-untyped-def]
    record = calls["hangup_mid_menu"]
    _, log = ami
    assert record.outcome == CallOutcome.ABANDONED_IN_MENU
    assert record.route is None and record.menu_path == ["main", "repair"]
    assert record.steps[-1].kind == StepKind.HANGUP
    assert joined_queue(log, "13900000009") == []
    assert record.ended_at is not None


async def test_twenty_four_concurrent_callers_are_all_recorded(bridge, ami, agents) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    choices = [
        ("1ww2", "q-repair", "repair.area_outage"),
        ("2ww4", "q-billing", "billing.progress"),
        ("3ww3", "q-business", "business.other"),
        ("4ww1", "q-complaint", "complaint.complaint"),
        ("0", "q-general", "agent"),
        ("4ww3", "q-complaint", "complaint.suggestion"),
    ]
    callers = {f"1370000{n:04d}": choices[n % len(choices)] for n in range(24)}
    await asyncio.gather(
        *(
            place_call(client, SimulatedCaller(number, keys, hold_s=60))
            for number, (keys, _, _) in callers.items()
        )
    )
    records = await wait_for_records(bridge, set(callers), timeout_s=240)
    for number, (keys, queue, choice) in callers.items():
        record = records[number]
        assert (record.outcome, record.route, record.choice, record.keys) == (
            CallOutcome.ROUTED,
            queue,
            choice,
            keys.replace("w", ""),
        ), number
        assert joined_queue(log, number) == [queue]
    # they really were in the menu together
    edges = sorted(
        [(r.started_at, 1) for r in records.values()]
        + [(r.steps[-1].at, -1) for r in records.values()]
    )
    peak = running = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    assert peak >= 20
