"""Callbacks (回访) as real calls: the bridge's dialer originates through the sandboxed Asterisk
to simulated customers ([sim-customers]), the answered leg runs the callback flow over FastAGI,
and every outcome lands in the database. Concurrency and rate are checked on AMI events.

All scenarios run at once from one module fixture (a callback is tens of seconds of audio).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.db.workorder_models import follow_ups_table, orders_table
from ivr.db.workorders import NewOrder, OrderView
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import CustomerClass, OrderKind
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.asterisk_fixtures import EventLog, dialer_settings, running_bridge

pytestmark = pytest.mark.integration

AGI_PORT = 4574  # not 4573: the session's inbound bridge may hold that one
MAX_CONCURRENT = 3
RATE_PER_S = 2.0
MAX_ATTEMPTS = 2
LEG = re.compile(r"^Local/(\d+)@sim-customers-[0-9a-f]+;1$")


@dataclass(frozen=True)
class Case:
    customer: SimulatedCustomer
    kind: OrderKind = OrderKind.REPAIR
    customer_class: CustomerClass | None = None
    do_not_call: bool = False


CASES = {
    "satisfied": Case(SimulatedCustomer("13990000001", keys="1wwww1wwww1wwww2")),
    "dissatisfied_with_suggestion": Case(
        SimulatedCustomer("13990000002", keys="1wwww2wwww1", speak=True), OrderKind.COMPLAINT
    ),
    "wrong_person": Case(SimulatedCustomer("13990000003", keys="2")),
    "hangs_up_mid_script": Case(SimulatedCustomer("13990000004", keys="1", hold_s=1)),
    "silence": Case(SimulatedCustomer("13990000005", keys="", hold_s=60)),
    "never_answers": Case(SimulatedCustomer("13990000006", mode="never")),
    "busy": Case(SimulatedCustomer("13990000007", mode="busy")),
    "high_voltage": Case(
        SimulatedCustomer("13990000008", keys="1wwww1wwww2"),
        OrderKind.BUSINESS,
        CustomerClass.HIGH_VOLTAGE_DUAL,
    ),
    "do_not_call": Case(SimulatedCustomer("13990000009", keys="1"), do_not_call=True),
}


@pytest.fixture(scope="module")
async def callback_bridge(sandbox, ami, tmp_path_factory) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    db = Path(tmp_path_factory.mktemp("callbacks")) / "callbacks.db"
    settings = dialer_settings(
        sandbox,
        f"sqlite+aiosqlite:///{db}",
        AGI_PORT,
        max_concurrent=MAX_CONCURRENT,
        rate_per_s=RATE_PER_S,
        ring_timeout_s=6,
        max_attempts=MAX_ATTEMPTS,
    )
    async with running_bridge(settings) as bridge:
        yield bridge


@pytest.fixture(scope="module")
async def outcomes(callback_bridge: Bridge, ami) -> dict[str, OrderView]:  # type: ignore[no-untyped-def]
    client, _ = ami
    for case in CASES.values():
        await set_up_customer(client, case.customer)
    order_nos = {}
    for name, case in CASES.items():
        new = NewOrder(
            kind=case.kind,
            customer_class=case.customer_class,
            owner_job_number="1024",
            customer_surname="王",
            customer_title="女士",
            customer_phone=PhoneNumber(case.customer.number),
            summary=name,
        )
        if case.do_not_call:  # the customer asked; a supervisor put the number on the list
            await callback_bridge.do_not_call.add(
                new.customer_phone, "客户来电要求不再回访", None, "supervisor:test"
            )
        view, _ = await callback_bridge.work_orders.create(new, "test", None)
        await callback_bridge.work_orders.close(view.order_no, "处理完毕", "test", None)
        order_nos[name] = view.order_no
    return await wait_until_settled(callback_bridge, order_nos, timeout_s=240)


async def wait_until_settled(
    bridge: Bridge, order_nos: dict[str, str], timeout_s: float
) -> dict[str, OrderView]:
    deadline = time.monotonic() + timeout_s
    while True:
        views = {name: await bridge.work_orders.get(no) for name, no in order_nos.items()}
        open_ = [
            n
            for n, v in views.items()
            if v.callback is None
            or v.callback["state"] in ("pending", "active")
            or any(a["state"] != "finished" for a in v.callback["attempts"])
        ]
        if not open_:
            return views
        if time.monotonic() > deadline:
            raise AssertionError(f"callbacks not settled in {timeout_s} s: {open_}")
        await asyncio.sleep(1)


async def follow_up_reasons(bridge: Bridge, order_no: str) -> list[str]:
    async with bridge.engine.connect() as conn:
        rows = await conn.execute(
            select(follow_ups_table.c.reason)
            .join(orders_table, orders_table.c.id == follow_ups_table.c.order_id)
            .where(orders_table.c.order_no == order_no)
        )
        return sorted(r.reason for r in rows)


def results(view: OrderView) -> list[str | None]:
    assert view.callback is not None
    return [a["result"] for a in view.callback["attempts"]]


def rung(log: EventLog, number: str) -> int:
    return len(log.named("UserEvent", UserEvent="SimCustomerRinging", Number=number))


async def test_satisfied_customer(outcomes, ami) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["satisfied"]
    cb = view.callback
    assert results(view) == ["completed"]
    assert (cb["state"], cb["right_person"], cb["power_restored"], cb["satisfied"]) == (
        "done",
        True,
        True,
        True,
    )
    assert not cb["suggestion_recorded"]
    assert view.status == "callback_done"
    assert [h.get("to") for h in view.history][-1] == "callback_done"
    assert rung(ami[1], "13990000001") == 1


async def test_dissatisfied_opens_a_follow_up_and_keeps_the_suggestion(
    outcomes, callback_bridge
) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["dissatisfied_with_suggestion"]
    cb = view.callback
    assert results(view) == ["completed"]
    assert (
        cb["satisfied"] is False and cb["power_restored"] is None
    )  # complaints: no power question
    assert cb["suggestion_recorded"]
    async with callback_bridge.engine.connect() as conn:
        from ivr.db.workorder_models import tasks_table

        path = (
            await conn.execute(
                select(tasks_table.c.suggestion_path)
                .join(orders_table, orders_table.c.id == tasks_table.c.order_id)
                .where(orders_table.c.order_no == view.order_no)
            )
        ).scalar_one()
    assert Path(path).stat().st_size > 8000  # seconds of real audio, 8 kHz 16-bit
    assert view.order_no in Path(path).name
    assert await follow_up_reasons(callback_bridge, view.order_no) == ["dissatisfied"]
    assert view.status == "callback_done"


async def test_wrong_person(outcomes, callback_bridge, ami) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["wrong_person"]
    assert results(view) == ["wrong_person"]
    assert view.callback["state"] == "needs_human" and view.callback["right_person"] is False
    assert await follow_up_reasons(callback_bridge, view.order_no) == ["callback_wrong_person"]
    assert view.status == "closed"
    assert rung(ami[1], "13990000003") == 1  # not called again


async def test_hang_up_mid_script(outcomes, callback_bridge) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["hangs_up_mid_script"]
    assert results(view) == ["hung_up"]
    assert view.callback["right_person"] is True and view.callback["satisfied"] is None
    assert view.callback["state"] == "needs_human"


@pytest.mark.parametrize(
    ("name", "result"),
    [("silence", "machine"), ("never_answers", "no_answer"), ("busy", "busy")],
)
async def test_retried_as_configured_then_flagged(
    name, result, outcomes, callback_bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    view = outcomes[name]
    assert results(view) == [result] * MAX_ATTEMPTS
    assert view.callback["state"] == "needs_human"
    assert await follow_up_reasons(callback_bridge, view.order_no) == [f"callback_{result}"]
    assert rung(ami[1], CASES[name].customer.number) == MAX_ATTEMPTS
    first, second = view.callback["attempts"]
    assert second["originated_at"] > first["ended_at"]  # spaced after the first one ended


async def test_high_voltage_application_is_called_back(outcomes) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["high_voltage"]
    # not a repair: no power question; keys are confirm, satisfied, no suggestion
    assert results(view) == ["completed"]
    assert (view.callback["satisfied"], view.callback["power_restored"]) == (True, None)


async def test_do_not_call_is_never_dialled(outcomes, ami) -> None:  # type: ignore[no-untyped-def]
    view = outcomes["do_not_call"]
    assert view.callback["state"] == "cancelled" and view.callback["attempts"] == []
    assert rung(ami[1], "13990000009") == 0


async def test_concurrency_and_rate_seen_on_ami(outcomes, ami) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    live: set[str] = set()
    peak = 0
    starts: list[float] = []
    ours = {c.customer.number for c in CASES.values()}
    for event in log.events:
        leg = LEG.match(event.get("Channel", ""))
        if not leg or leg.group(1) not in ours:
            continue
        if event.get("Event") == "Newchannel":
            live.add(event["Uniqueid"])
            starts.append(float(event["Timestamp"]))
            peak = max(peak, len(live))
        elif event.get("Event") == "Hangup":
            live.discard(event["Uniqueid"])
    expected_calls = sum(
        1 if c.customer.mode == "answer" and c.customer.keys else MAX_ATTEMPTS
        for c in CASES.values()
        if not c.do_not_call
    )
    assert len(starts) == expected_calls
    assert peak == MAX_CONCURRENT  # reached, never exceeded
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 1 / RATE_PER_S - 0.1  # Asterisk's own clock; 0.1 s for event jitter


async def test_every_answered_leg_ran_the_script(outcomes, ami) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    ours = {c.customer.number for c in CASES.values()}  # other files' customers share the log
    answered = {
        e["Number"]
        for e in log.named("UserEvent", UserEvent="SimCustomerAnswered")
        if e["Number"] in ours
    }
    expected = {c.customer.number for c in CASES.values() if c.customer.mode == "answer"}
    assert answered == expected - {CASES["do_not_call"].customer.number}
