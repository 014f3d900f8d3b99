"""回访 and dispatch calls leave through the carrier trunk as real SIP INVITEs.

The bridges here dial through the shipped ``[outbound-trunk]`` (``Dial(PJSIP/<n>@trunk-95598)``)
instead of the simulated contexts. In the sandbox the trunk's host is the simulated carrier on
its own loopback address, where SIPp (sip-tester) stands in for the customer's or the crew's
phone: it gets our INVITE for the number, rings, answers, presses keys as RFC 4733 events, and
the order gets the answers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ivr.app import Bridge
from ivr.config import (
    AgiSettings,
    AmiSettings,
    CallbackSettings,
    DatabaseSettings,
    DispatchSettings,
    Settings,
)
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from tests.integration.test_callbacks import wait_until_settled
from tests.integration.test_dispatch_calls import fresh_postgres, record_repair, settled
from tests.sipp import Key, Pause, sipp_available
from tests.sipp_answer import start_answering

pytestmark = pytest.mark.integration

CARRIER = Settings().sandbox.carrier_address  # the sandbox's trunk host (SIPp listens there)
CARRIER_PORT = Settings().sandbox.carrier_port
CALLBACK_AGI = 4578
DISPATCH_AGI = 4579


def ami_settings(sandbox: Any) -> AmiSettings:
    return AmiSettings(
        host=sandbox.host,
        port=sandbox.port,
        username=sandbox.username,
        secret=sandbox.secret,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def _sipp() -> None:
    if not sipp_available():
        pytest.fail("sipp (Debian sip-tester) is not installed", pytrace=False)


@pytest.fixture
async def callback_bridge(sandbox, tmp_path: Path) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'cb.db'}"),
        agi=AgiSettings(port=CALLBACK_AGI),
        ami=ami_settings(sandbox),
        callback=CallbackSettings(
            dialer=True,  # trunk_context: the shipped outbound-trunk
            agi_url=f"agi://127.0.0.1:{CALLBACK_AGI}",
            ring_timeout_s=10,
            poll_interval_s=0.5,
            window_start="00:00",
            window_end="24:00",
            max_attempts=1,
        ),
    )
    bridge = Bridge(settings)
    await bridge.start()
    yield bridge
    await bridge.stop()


def invite_for(messages: str, number: str) -> bool:
    return f"INVITE sip:{number}@{CARRIER}:{CARRIER_PORT} SIP/2.0" in messages


async def test_callback_reaches_the_customer_through_the_trunk(
    callback_bridge: Bridge, tmp_path: Path
) -> None:
    number = "13990000101"
    # the customer: right person (1), power back (1), satisfied (1), no suggestion (2)
    keys: list[Pause | Key] = [Pause(2000), Key("1")]
    for key in "112":
        keys += [Pause(1700), Key(key)]
    phone = start_answering(keys, tmp_path / "sipp", str(CARRIER), CARRIER_PORT, 36100)
    await asyncio.sleep(1)  # SIPp listening before the dialer's first poll
    new = NewOrder(
        kind=OrderKind.REPAIR,
        customer_class=None,
        owner_job_number="1024",
        customer_surname="王",
        customer_title="女士",
        customer_phone=PhoneNumber(number),
        summary="trunk callback",
    )
    view, _ = await callback_bridge.work_orders.create(new, "test", None)
    await callback_bridge.work_orders.close(view.order_no, "处理完毕", "test", None)
    done = (await wait_until_settled(callback_bridge, {"cb": view.order_no}, 120))["cb"]
    sipp = await asyncio.wait_for(phone, 60)
    assert sipp.ok, sipp.output + sipp.errors
    assert invite_for(sipp.messages, number)  # our INVITE, to the carrier, for the number
    cb = done.callback
    assert cb is not None
    assert [a["result"] for a in cb["attempts"]] == ["completed"]
    assert (cb["right_person"], cb["power_restored"], cb["satisfied"]) == (True, True, True)
    assert done.status == "callback_done"


@pytest.fixture
async def dispatch_bridge(sandbox) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    settings = Settings(
        database=DatabaseSettings(url=await fresh_postgres()),
        agi=AgiSettings(port=DISPATCH_AGI),
        ami=ami_settings(sandbox),
        dispatch=DispatchSettings(
            dispatcher=True,  # trunk_context: the shipped outbound-trunk
            agi_url=f"agi://127.0.0.1:{DISPATCH_AGI}",
            limit_s=60,
            ring_timeout_s=8,
            min_ring_s=3,
            talk_budget_s=25,
            risk_after_s=30,
            escalate_after_s=40,
            rounds=1,
            max_plays=2,
            digit_timeout_s=3,
            poll_interval_s=0.5,
        ),
    )
    bridge = Bridge(settings)
    await bridge.start()
    yield bridge
    await bridge.stop()


@pytest.mark.postgres
async def test_dispatch_reaches_the_crew_through_the_trunk(
    dispatch_bridge: Bridge, tmp_path: Path
) -> None:
    number = "13799000101"
    now = datetime.now(UTC)
    crew = await dispatch_bridge.roster.add_crew("crew-trunk", PhoneNumber(number))
    await dispatch_bridge.roster.add_shift(
        crew.id, now - timedelta(hours=1), now + timedelta(hours=1), 1
    )
    phone = start_answering(
        [Pause(2000), Key("1")], tmp_path / "sipp", str(CARRIER), CARRIER_PORT, 36200
    )
    await asyncio.sleep(1)
    started = time.monotonic()
    order_no, _ = await record_repair(dispatch_bridge)
    found = await settled(dispatch_bridge, order_no)
    sipp = await asyncio.wait_for(phone, 60)
    assert sipp.ok, sipp.output + sipp.errors
    assert invite_for(sipp.messages, number)
    assert found["state"] == "accepted"
    [call] = found["calls"]
    assert (call["crew_name"], call["result"]) == ("crew-trunk", "accepted")
    assert (await dispatch_bridge.work_orders.get(order_no)).status == "dispatched"
    print(f"dispatch through the trunk accepted {time.monotonic() - started:.1f} s after the order")
