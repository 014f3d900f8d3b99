"""Repair dispatch as real calls: the bridge's dispatcher originates through the sandboxed
Asterisk to simulated crews on duty ([sim-crews]), the answered leg runs the dispatch flow over
FastAGI, and acceptance (or the lack of it) lands in PostgreSQL. Timings are scaled down (a
60 s limit, 6 s rings) so the scenarios run in about a minute; production keeps 5 minutes.

The roster is global (whoever is on duty now), so the scenarios run one after another, each
with its own crews on duty and its own numbers.
"""

from __future__ import annotations

import asyncio
import os
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
    DatabaseSettings,
    DispatchSettings,
    RecordingSettings,
    Settings,
)
from ivr.db.migrate import upgrade
from ivr.db.workorders import NewOrder
from ivr.domain.phone import PhoneNumber
from ivr.domain.recordings import Recording, RecordingState
from ivr.domain.workorders import OrderKind
from ivr_sandbox.simulation import SimulatedCrew, set_up_crew
from tests.integration.asterisk_fixtures import RECORDINGS_DIR, EventLog
from tests.integration.db_fixtures import POSTGRES_URL_ENV, drop_all_tables

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

AGI_PORT = 4576  # 4573: the session's inbound bridge; 4574/4575: the callback tests
LIMIT_S = 60
RING_S = 6
ESCALATION = SimulatedCrew("13799000099", mode="never")  # the duty supervisor, away
TOLERANCE_S = 0.5  # our stored instant vs Asterisk's event timestamp (a DTMF digit lasts ~100 ms)


async def fresh_postgres() -> str:
    """The test PostgreSQL database, emptied and migrated (PostgreSQL: several bridges)."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_URL_ENV} is not set", pytrace=False)
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    await drop_all_tables(url)
    await upgrade(url)
    return url


def dispatch_settings(url: str, sandbox: Any) -> Settings:
    """The dispatch policy scaled down: a 60 s limit instead of 5 minutes."""
    return Settings(
        database=DatabaseSettings(url=url),
        agi=AgiSettings(port=AGI_PORT),
        ami=AmiSettings(
            host=sandbox.host, port=sandbox.port, username=sandbox.username, secret=sandbox.secret
        ),
        recording=RecordingSettings(dir=RECORDINGS_DIR, finish_grace_s=1.0),
        dispatch=DispatchSettings(
            dispatcher=True,
            trunk_context="sim-crews",
            agi_url=f"agi://127.0.0.1:{AGI_PORT}",
            limit_s=LIMIT_S,
            ring_timeout_s=RING_S,
            min_ring_s=3,
            talk_budget_s=25,
            risk_after_s=30,
            escalate_after_s=40,
            escalation_phone=ESCALATION.number,
            rounds=1,
            max_plays=2,
            digit_timeout_s=3,
            poll_interval_s=0.5,
        ),
    )


@pytest.fixture(scope="module")
async def dispatch_bridge(sandbox, ami) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    bridge = Bridge(dispatch_settings(await fresh_postgres(), sandbox))
    await bridge.start()
    await set_up_crew(ami[0], ESCALATION)
    yield bridge
    await bridge.stop()


async def on_duty(bridge: Bridge, ami: Any, crews: list[SimulatedCrew]) -> None:
    """Only these crews are on duty now, in this order (primary first)."""
    now = datetime.now(UTC)
    for shift in await bridge.roster.shifts(now - timedelta(days=1), now + timedelta(days=1)):
        await bridge.roster.remove_shift(shift.id)
    for priority, crew in enumerate(crews, 1):
        await set_up_crew(ami, crew)
        added = await bridge.roster.add_crew(f"crew-{crew.number}", PhoneNumber(crew.number))
        await bridge.roster.add_shift(
            added.id, now - timedelta(hours=1), now + timedelta(hours=1), priority
        )


async def record_repair(bridge: Bridge) -> tuple[str, datetime]:
    new = NewOrder(
        OrderKind.REPAIR,
        None,
        "1024",
        "王",
        "女士",
        PhoneNumber("13800138000"),
        "停电",
        address="幸福路12号",
        fault="整栋楼停电",
    )
    view, _ = await bridge.work_orders.create(new, "test", None)
    return view.order_no, view.created_at


async def settled(bridge: Bridge, order_no: str, timeout_s: float = 90) -> dict[str, Any]:
    """The order's dispatch once it stopped calling and every call is finished."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await bridge.dispatch.for_order(order_no)
        if (
            found
            and found["state"] != "active"
            and found["calls"]
            and all(c["state"] == "finished" for c in found["calls"])
        ):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"dispatch of {order_no} not settled in {timeout_s} s: {found}")
        await asyncio.sleep(0.5)


def ami_time(event: dict[str, str]) -> datetime:
    return datetime.fromtimestamp(float(event["Timestamp"]), UTC)


def rung(log: EventLog, number: str) -> list[dict[str, str]]:
    return log.named("UserEvent", UserEvent="SimCrewRinging", Number=number)


def pressed_one(log: EventLog, number: str) -> dict[str, str]:
    """The crew pressing 1: [sim-crews] announces each press with UserEvent(SimCrewKeys) right
    before SendDTMF, timestamped by Asterisk's clock (our AMI user gets no DTMF events)."""
    [event] = log.named("UserEvent", UserEvent="SimCrewKeys", Number=number, Keys="1")
    return event


async def test_crew_answers_and_accepts(dispatch_bridge: Bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    crew = SimulatedCrew("13799000001", keys="1", pause_s=2, hold_s=15)
    await on_duty(dispatch_bridge, client, [crew])
    order_no, recorded = await record_repair(dispatch_bridge)
    found = await settled(dispatch_bridge, order_no)

    assert found["state"] == "accepted"
    [call] = found["calls"]
    assert (call["crew_name"], call["result"], call["plays"]) == (
        f"crew-{crew.number}",
        "accepted",
        1,
    )
    view = await dispatch_bridge.work_orders.get(order_no)
    assert view.status == "dispatched"
    [deadline] = view.deadlines
    assert deadline["name"] == "dispatch" and deadline["met_at"] == call["accepted_at"]
    assert found["accepted_at"] == call["accepted_at"]
    assert len(rung(log, crew.number)) == 1

    # the measured dispatch time is what Asterisk saw: the 1 reached our leg at its timestamp
    await check_against_ami(dispatch_bridge, log, order_no, recorded, crew)

    # the call is recorded as evidence of the 接令, linked to its order, in the sandbox's dir
    recording = await sealed_recording(dispatch_bridge, call["action_id"])
    assert recording.state is RecordingState.COMPLETE, recording.failure
    assert (recording.kind.value, recording.orders) == ("dispatch", (order_no,))
    assert recording.agent_job_number is None  # inspectors and supervisors only
    assert recording.duration_ms is not None and recording.duration_ms > 1000  # the order read
    assert Path(recording.agent_path).parent == RECORDINGS_DIR


async def sealed_recording(bridge: Bridge, call_id: str, timeout_s: float = 40) -> Recording:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await bridge.recordings.store.by_call(call_id)
        if found is not None and found.state is not RecordingState.RECORDING:
            return found
        assert time.monotonic() < deadline, f"recording of {call_id} not sealed: {found}"
        await asyncio.sleep(0.5)


async def check_against_ami(
    bridge: Bridge, log: EventLog, order_no: str, recorded: datetime, crew: SimulatedCrew
) -> None:
    """Recording → acceptance as stored agrees with the moment the crew pressed 1 on
    Asterisk's clock, and the answer time with its OriginateResponse."""
    found = await bridge.dispatch.for_order(order_no)
    assert found is not None
    call = next(c for c in found["calls"] if c["result"] == "accepted")
    [response] = log.named("OriginateResponse", ActionID=call["action_id"])
    assert response["Response"] == "Success"
    measured = (call["accepted_at"] - recorded).total_seconds()
    on_ami = (ami_time(pressed_one(log, crew.number)) - recorded).total_seconds()
    print(
        f"\n{order_no}: dispatch time {measured:.3f} s (DB), crew pressed 1 at {on_ami:.3f} s"
        f" (AMI UserEvent), answered {(call['answered_at'] - recorded).total_seconds():.3f} s (DB),"
        f" {(ami_time(response) - recorded).total_seconds():.3f} s (AMI OriginateResponse)"
    )
    assert found["dispatch_ms"] == round(measured * 1000)
    assert 0 <= measured - on_ami <= TOLERANCE_S
    assert abs((call["answered_at"] - ami_time(response)).total_seconds()) <= TOLERANCE_S
    assert measured < LIMIT_S


async def test_no_answer_then_the_next_crew_hears_it_again_and_accepts(
    dispatch_bridge: Bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    away = SimulatedCrew("13799000011", mode="never")
    backup = SimulatedCrew("13799000012", keys="2", pause_s=2, keys2="1", pause2_s=3, hold_s=20)
    await on_duty(dispatch_bridge, client, [away, backup])
    order_no, recorded = await record_repair(dispatch_bridge)
    found = await settled(dispatch_bridge, order_no)

    assert found["state"] == "accepted"
    assert [(c["crew_name"], c["result"]) for c in found["calls"]] == [
        (f"crew-{away.number}", "no_answer"),
        (f"crew-{backup.number}", "accepted"),
    ]
    first, second = found["calls"]
    assert first["ring_timeout_s"] == RING_S and second["plays"] == 2  # 2: read again
    assert second["originated_at"] >= first["ended_at"]
    [ring_away], [ring_backup] = rung(log, away.number), rung(log, backup.number)
    assert ami_time(ring_backup) - ami_time(ring_away) >= timedelta(seconds=RING_S - 0.5)
    assert (await dispatch_bridge.work_orders.get(order_no)).status == "dispatched"
    await check_against_ami(dispatch_bridge, log, order_no, recorded, backup)


async def test_nobody_accepts_and_the_alert_fires_before_the_limit(
    dispatch_bridge: Bridge, ami
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    away = SimulatedCrew("13799000021", mode="never")
    hangs_up = SimulatedCrew("13799000022", keys="", pause_s=1, hold_s=2)
    await on_duty(dispatch_bridge, client, [away, hangs_up])
    order_no, recorded = await record_repair(dispatch_bridge)
    found = await settled(dispatch_bridge, order_no)

    assert found["state"] == "exhausted" and found["accepted_at"] is None
    assert [(c["target"], c["result"]) for c in found["calls"]] == [
        ("crew", "no_answer"),
        ("crew", "hung_up"),
        ("escalation", "no_answer"),  # the supervisor, once the crews ran out
    ]
    view = await dispatch_bridge.work_orders.get(order_no)
    assert view.status == "created" and view.deadlines[0]["met_at"] is None
    stored = await dispatch_bridge.alerts.list(acknowledged=None, limit=1000)
    [alert] = [a for a in stored if a["order_no"] == order_no and a["kind"] == "dispatch"]
    # the watch's key for this deadline's warning: the dispatcher got there first
    assert alert["key"].startswith("deadline:") and alert["key"].endswith(":dispatch:warning")
    assert (alert["deadline"], alert["level"]) == ("dispatch", "warning")
    due_at = datetime.fromisoformat(alert["due_at"])
    raised_at = datetime.fromisoformat(alert["raised_at"])
    assert due_at == recorded + timedelta(seconds=LIMIT_S)
    assert raised_at < due_at
    assert found["at_risk_at"] is not None
    print(
        f"\n{order_no}: alert after {(raised_at - recorded).total_seconds():.1f} s"
        f" ({alert['details']['reason']}), limit {LIMIT_S} s"
    )
    for number in (away.number, hangs_up.number, ESCALATION.number):
        assert len(rung(log, number)) == 1  # each called once, never twice
