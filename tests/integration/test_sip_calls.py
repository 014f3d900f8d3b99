"""Carrier calls through the SIP trunk: SIPp plays the carrier's SBC on 127.0.0.2 and sends
INVITE + SDP, G.711 audio and keys (RFC 4733 events from sip-tester's pcaps, or SIP INFO);
the bridge's menu routes them and the call records are checked in the database.

All calls are placed at once by one module fixture (each takes tens of seconds of real audio);
each test then checks its own call, as in test_inbound_calls.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from ivr.domain.calls import CallOutcome, CallRecord, StepKind
from tests.integration.asterisk_fixtures import wait_for_records
from tests.sipp import CARRIER_IP, Audio, Key, Pause, SippResult, Step, carrier_call, run_sipp

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class SipCaller:
    number: str  # what the record must show as the caller
    steps: list[Step]
    hangs_up: bool = False  # the caller sends BYE (else: waits for Asterisk's, after the agent)
    pai: bool = True  # the carrier asserts the number in P-Asserted-Identity (From: anonymous)
    queue: str | None = None
    choice: str | None = None
    keys: str = ""


def keys(*pressed: str, via: str = "rfc4733", gap_ms: int = 2500) -> list[Step]:
    """Keys pressed ``gap_ms`` apart, each while a prompt is still playing."""
    steps: list[Step] = []
    for key in pressed:
        steps += [Pause(gap_ms), Key(key, via)]
    return steps


CALLERS = {
    # 1 during the greeting (interrupting it), 1 during the repair menu
    "repair": SipCaller("13900002001", [Audio(), *keys("1", "1")], queue="q-repair",
                        choice="repair.no_power", keys="11"),
    # no P-Asserted-Identity: the number comes from From
    "replay": SipCaller("13900002002", keys("2", "*", "3"), pai=False, queue="q-billing",
                        choice="billing.outage_info", keys="2*3"),
    # a carrier that sends keys as SIP INFO
    "info": SipCaller("13900002003", keys("3", "2", via="info"), queue="q-business",
                      choice="business.change", keys="32"),
    # presses nothing (speaks, then silence): an agent after the first unanswered menu
    "silent": SipCaller("13900002004", [Audio()], queue="q-general", choice="agent.default"),
    # hangs up during the greeting
    "hangup": SipCaller("13900002005", [Pause(3000)], hangs_up=True),
}  # fmt: skip


@dataclass
class Placed:
    sipp: SippResult
    record: CallRecord


@pytest.fixture(scope="module")
async def calls(bridge, ami, agents, tmp_path_factory) -> dict[str, Placed]:  # type: ignore[no-untyped-def]
    workdir = Path(tmp_path_factory.mktemp("sipp"))

    async def place(n: int, caller: SipCaller) -> SippResult:
        (workdir / f"call-{n}").mkdir()
        scenario = carrier_call(
            caller.steps,
            caller.hangs_up,
            workdir / f"call-{n}",
            from_user="anonymous" if caller.pai else caller.number,
            pai=caller.number if caller.pai else None,
        )
        return await run_sipp(scenario, workdir / f"call-{n}", CARRIER_IP, 15610 + n, 16610 + 4 * n)

    results = await asyncio.gather(*(place(n, c) for n, c in enumerate(CALLERS.values())))
    numbers = {c.number for c in CALLERS.values()}
    records = await wait_for_records(bridge, numbers, timeout_s=120)
    return {
        name: Placed(result, records[caller.number])
        for (name, caller), result in zip(CALLERS.items(), results, strict=True)
    }


@pytest.mark.parametrize("name", [n for n, c in CALLERS.items() if c.queue])
async def test_carrier_calls_are_routed_by_their_keys(name: str, calls, ami) -> None:  # type: ignore[no-untyped-def]
    caller, placed = CALLERS[name], calls[name]
    record = placed.record
    _, log = ami
    assert placed.sipp.ok, placed.sipp.errors  # SIPp saw the call it expected, BYE included
    assert record.outcome == CallOutcome.ROUTED
    assert (record.route, record.choice, record.keys) == (
        caller.queue,
        caller.choice,
        caller.keys,
    ), [(s.kind.value, s.key, s.at.isoformat()) for s in record.steps]
    assert record.dialed_number == "95598" and record.channel_name.startswith("PJSIP/trunk-95598-")
    joined = log.named("QueueCallerJoin", CallerIDNum=caller.number)
    assert [e["Queue"] for e in joined] == [caller.queue]
    assert log.named("AgentConnect", CallerIDNum=caller.number)  # an agent took it
    assert record.ended_at is not None and record.agent_interface


async def test_caller_id_is_the_asserted_identity_else_from(calls) -> None:  # type: ignore[no-untyped-def]
    # "repair" came From: anonymous with P-Asserted-Identity; "replay" with From only
    assert calls["repair"].record.caller_number == CALLERS["repair"].number
    assert calls["replay"].record.caller_number == CALLERS["replay"].number


async def test_keys_pressed_during_a_prompt_interrupt_it(calls) -> None:  # type: ignore[no-untyped-def]
    """The key steps come straight after their prompt steps: no timeout, nothing replayed."""
    kinds = [(s.kind, s.key) for s in calls["replay"].record.steps]
    assert kinds == [
        (StepKind.PROMPT, None),
        (StepKind.KEY, "2"),
        (StepKind.PROMPT, None),
        (StepKind.REPLAY, "*"),
        (StepKind.KEY, "3"),
        (StepKind.ROUTE, None),
        # 2-3 reads the outages first (docs/storm-days.md): this caller is in no register and
        # keys no 户号, so they go on to the queue the menu names
        (StepKind.PROMPT, None),
        (StepKind.TIMEOUT, None),
    ]


async def test_a_caller_who_presses_nothing_reaches_an_agent_after_one_menu(calls) -> None:  # type: ignore[no-untyped-def]
    record = calls["silent"].record
    kinds = [s.kind for s in record.steps]
    assert kinds.count(StepKind.TIMEOUT) == 1
    assert kinds[-2:] == [StepKind.DEFAULT, StepKind.ROUTE]
    assert record.steps[-2].detail == "caller pressed nothing"


async def test_a_caller_who_hangs_up_mid_prompt_is_recorded_as_abandoned(calls, ami) -> None:  # type: ignore[no-untyped-def]
    placed = calls["hangup"]
    _, log = ami
    assert placed.sipp.ok, placed.sipp.errors
    assert placed.record.outcome == CallOutcome.ABANDONED_IN_MENU
    assert placed.record.route is None and placed.record.steps[-1].kind == StepKind.HANGUP
    assert log.named("QueueCallerJoin", CallerIDNum=CALLERS["hangup"].number) == []
