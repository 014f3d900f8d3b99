"""The agent's own state through their own token (``/api/agents/me…``) on the sandboxed Asterisk:
sign in to their skills' queues, pause with a configured reason, after-call work that keeps
Asterisk from ringing them until it ends, and a blind transfer that moves a live call to another
queue or to a named agent's seat. Asterisk's own word is checked each time (``queue show``,
``QueueMember*`` events), and every change is stored with its time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from ivr.app import make_web_app
from ivr.config import Settings
from ivr.db.agent_state_models import transfers_table
from ivr.domain.access import Role
from ivr.domain.agent_state import AgentState
from ivr.domain.agents import AFTER_CALL_WORK_REASON
from ivr.domain.recordings import RecordingState
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.test_answer_times import finished_visits
from tests.integration.test_dashboard import auth, until
from tests.integration.test_recordings import sealed

pytestmark = pytest.mark.integration

WRAP, XFER_A, XFER_B = "q-t-wrap", "q-t-xfer-a", "q-t-xfer-b"
A, B, PHONE_AGENT = "3101", "3102", "3103"  # 工号
SIM_A, SIM_B = f"Local/{A}@sim-agents/n", f"Local/{B}@sim-agents/n"
WRAPUP_S = 6.0
CALL_ID = uuid.uuid4().hex  # the bridge's call id, as the menu sets it


@pytest.fixture(scope="module")
async def web(bridge) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        yield client


@pytest.fixture(scope="module")
async def tokens(bridge, web) -> AsyncIterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6]
    found = {
        "supervisor": await bridge.tokens.create(f"sup-{tag}", Role.SUPERVISOR),
        A: await bridge.tokens.create(f"agent-a-{tag}", Role.AGENT, A),
        B: await bridge.tokens.create(f"agent-b-{tag}", Role.AGENT, B),
        PHONE_AGENT: await bridge.tokens.create(f"agent-p-{tag}", Role.AGENT, PHONE_AGENT),
        "integration": await bridge.tokens.create(f"crm-{tag}", Role.INTEGRATION),
    }
    sup = auth(found["supervisor"])
    for job, interface, skills in ((A, SIM_A, [WRAP, XFER_A]), (B, SIM_B, [XFER_B])):
        body = {"name": f"坐席{job}", "interface": interface, "skills": skills}
        response = await web.put(f"/api/agents/{job}", json=body, headers=sup)
        assert response.status == 200, await response.text()
    yield found
    for job in (A, B, PHONE_AGENT):
        await web.post(f"/api/agents/{job}/logout", headers=sup)


async def me(web: TestClient, token: str) -> dict[str, Any]:
    response = await web.get("/api/agents/me", headers=auth(token))
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def queue_show(queue: str) -> str:
    box = AsteriskSandbox.from_settings(Settings())
    return await asyncio.to_thread(box.rx, f"queue show {queue}")


def member_line(shown: str, interface: str) -> str:
    return next((line for line in shown.splitlines() if interface in line), "")


async def sim_agent(client, job: str, delay_s: float, talk_s: float) -> None:  # type: ignore[no-untyped-def]
    for name, value in (("DELAY", f"{delay_s:g}"), ("TALK", f"{talk_s:g}")):
        await client.action(
            {"Action": "Setvar", "Variable": f"SIM_AGENT_{name}_{job}", "Value": value}
        )


async def changes_of(bridge, job: str, since: datetime) -> list[tuple[AgentState, str]]:  # type: ignore[no-untyped-def]
    stored = await bridge.agent_states.for_period(since, datetime.now(UTC) + timedelta(minutes=1))
    return [(c.state, c.reason) for c in stored if c.job_number == job and c.at >= since]


def stamp(event: dict[str, str]) -> float:
    return float(event["Timestamp"])


async def test_an_agent_signs_in_pauses_and_out_with_their_own_token(
    bridge, web, tokens, ami
) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    mine = auth(tokens[A])
    since = datetime.now(UTC)
    state = await me(web, tokens[A])
    assert state["state"] == "logged_out" and state["queues"] == []
    assert state["pause_reasons"] == ["小休", "就餐", "培训", "会议"]
    # not logged in: nothing to pause
    assert (
        await web.post("/api/agents/me/pause", json={"reason": "小休"}, headers=mine)
    ).status == 409

    response = await web.post("/api/agents/me/login", headers=mine)
    assert response.status == 200, await response.text()
    await until(
        lambda: _async(log.named("QueueMemberAdded", Queue=WRAP, Interface=SIM_A)),
        5,
        "Asterisk adds the member",
    )
    assert "dynamic" in member_line(await queue_show(WRAP), SIM_A)
    assert member_line(await queue_show(XFER_A), SIM_A)  # every skill queue
    await until(lambda: _state_is(web, tokens[A], "ready"), 5, "shown ready")

    # only the configured reasons; the bridge's own after-call work reason is never the agent's
    for reason in ("午餐", AFTER_CALL_WORK_REASON, ""):
        bad = await web.post("/api/agents/me/pause", json={"reason": reason}, headers=mine)
        assert bad.status in (400, 422), (reason, bad.status)
    bad = await web.post("/api/agents/me/pause", json={"reason": "小休", "job": B}, headers=mine)
    assert bad.status == 422  # no other field, no other agent
    response = await web.post("/api/agents/me/pause", json={"reason": "小休"}, headers=mine)
    assert response.status == 200, await response.text()
    await until(
        lambda: _async(log.named("QueueMemberPause", Queue=WRAP, Interface=SIM_A, Paused="1")),
        5,
        "Asterisk pauses the member",
    )
    line = member_line(await queue_show(WRAP), SIM_A)
    assert "paused" in line and "小休" in line, line
    state = await until(lambda: _state_is(web, tokens[A], "paused"), 5, "shown paused")
    assert state["pause_reason"] == "小休" and state["since"] is not None

    assert (await web.post("/api/agents/me/unpause", headers=mine)).status == 200
    await until(lambda: _state_is(web, tokens[A], "ready"), 5, "shown ready again")
    assert "paused" not in member_line(await queue_show(WRAP), SIM_A)
    # not in after-call work: nothing to end
    assert (await web.post("/api/agents/me/ready", headers=mine)).status == 409

    assert (await web.post("/api/agents/me/logout", headers=mine)).status == 200
    await until(lambda: _state_is(web, tokens[A], "logged_out"), 5, "shown logged out")
    assert not member_line(await queue_show(WRAP), SIM_A)
    assert await changes_of(bridge, A, since) == [
        (AgentState.READY, ""),
        (AgentState.PAUSED, "小休"),
        (AgentState.READY, ""),
        (AgentState.LOGGED_OUT, ""),
    ]


async def test_an_agent_cannot_change_another_agent(web, tokens) -> None:  # type: ignore[no-untyped-def]
    theirs = auth(tokens[B])
    for kind in ("login", "logout", "pause", "unpause"):
        response = await web.post(f"/api/agents/{A}/{kind}", json={}, headers=theirs)
        assert response.status == 403, kind
    # "me" is the token's own 工号, whatever else is sent
    for token in ("supervisor", "integration"):
        response = await web.get("/api/agents/me", headers=auth(tokens[token]))
        assert response.status == 403
    response = await web.post("/api/agents/me/login?job=3101", headers=theirs)
    assert response.status == 200
    assert (await me(web, tokens[A]))["state"] == "logged_out"
    assert (await web.post("/api/agents/me/logout", headers=theirs)).status == 200


async def test_after_call_work_keeps_asterisk_from_ringing_the_agent(
    bridge, web, tokens, ami
) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    mine = auth(tokens[A])
    bridge.wrap_up.wrapup = timedelta(seconds=WRAPUP_S)
    since = datetime.now(UTC)
    await sim_agent(client, A, 0.5, 1)
    try:
        assert (await web.post("/api/agents/me/login", headers=mine)).status == 200
        await until(lambda: _state_is(web, tokens[A], "ready"), 5, "ready")
        first, second = "13500003101", "13500003102"
        await place_queue_call(client, SimulatedCaller(first, pause_s=0, hold_s=30), WRAP)

        def connected(number: str) -> list[dict[str, str]]:
            return [
                e
                for e in log.named("AgentConnect", Queue=WRAP, Interface=SIM_A)
                if e.get("CallerIDNum") == number
            ]

        await until(lambda: _async(connected(first)), 15, "the first caller answered")
        # the second caller waits while the agent talks to the first
        await place_queue_call(client, SimulatedCaller(second, pause_s=0, hold_s=40), WRAP)
        await until(lambda: _state_is(web, tokens[A], "after_call_work"), 20, "after-call work")
        state = await me(web, tokens[A])
        assert state["pause_reason"] == AFTER_CALL_WORK_REASON
        assert state["after_call_work_ends_at"] is not None
        await until(lambda: _async(connected(second)), 30, "the second caller answered")

        ended = next(
            e
            for e in log.named("AgentComplete", Queue=WRAP, Interface=SIM_A)
            if e.get("CallerIDNum") == first
        )
        paused = [
            e
            for e in log.named("QueueMemberPause", Queue=WRAP, Interface=SIM_A)
            if stamp(e) >= stamp(ended)
        ]
        pause_on = next(e for e in paused if e.get("Paused") == "1")
        pause_off = next(e for e in paused if e.get("Paused") == "0")
        second_rung = [
            e
            for e in log.named("AgentCalled", Queue=WRAP, Interface=SIM_A)
            if e.get("CallerIDNum") == second
        ]
        # Asterisk rang the agent for the waiting caller only once after-call work was over
        assert second_rung and all(stamp(e) >= stamp(pause_off) for e in second_rung)
        assert stamp(pause_on) < stamp(pause_off)
        held = stamp(pause_off) - stamp(pause_on)
        rung_after = stamp(second_rung[0]) - stamp(pause_on)
        print(
            f"after-call work: paused {stamp(pause_on) - stamp(ended):.3f} s after the call ended,"
            f" held {held:.3f} s (wrapup_s {WRAPUP_S:g}); the waiting caller rang the agent"
            f" {rung_after:.3f} s after the pause began"
        )

        # the second call ends: after-call work again, and the agent ends it early
        await until(lambda: _state_is(web, tokens[A], "after_call_work"), 30, "wrap-up again")
        response = await web.post("/api/agents/me/ready", headers=mine)
        assert response.status == 200, await response.text()
        await until(lambda: _state_is(web, tokens[A], "ready"), 5, "ready early")
        assert "paused" not in member_line(await queue_show(WRAP), SIM_A)
    finally:
        bridge.wrap_up.wrapup = timedelta(0)
        await web.post("/api/agents/me/logout", headers=mine)
    changes = await changes_of(bridge, A, since)
    assert changes == [
        (AgentState.READY, ""),  # login
        (AgentState.AFTER_CALL_WORK, AFTER_CALL_WORK_REASON),
        (AgentState.READY, ""),  # wrap-up time over
        (AgentState.AFTER_CALL_WORK, AFTER_CALL_WORK_REASON),
        (AgentState.READY, ""),  # the agent said ready
        (AgentState.LOGGED_OUT, ""),
    ]
    await finished_visits(bridge, {first, second}, 30)


async def test_a_transfer_moves_the_live_call_to_another_queue(bridge, web, tokens, ami) -> None:  # type: ignore[no-untyped-def]
    client, log = ami
    sup = auth(tokens["supervisor"])
    await sim_agent(client, A, 0.5, 30)  # A keeps the call until it is transferred
    await sim_agent(client, B, 0.5, 2)
    caller = "13500003111"
    try:
        assert (await web.post(f"/api/agents/{A}/login", headers=sup)).status == 200
        assert (await web.post(f"/api/agents/{B}/login", headers=sup)).status == 200
        theirs = auth(tokens[B])
        # not on a call: nothing to transfer
        response = await web.post(
            "/api/agents/me/call/transfer", json={"queue": XFER_A}, headers=theirs
        )
        assert response.status == 409
        await place_queue_call(client, SimulatedCaller(caller, pause_s=0, hold_s=40), XFER_A)

        async def talking() -> bool:
            state = await me(web, tokens[A])
            return state["on_call"] is not None and state["on_call"]["queue"] == XFER_A

        await until(talking, 15, "A talks to the caller")
        mine = auth(tokens[A])
        first_uid = next(
            e["Uniqueid"]
            for e in log.named("QueueCallerJoin", Queue=XFER_A)
            if e.get("CallerIDNum") == caller
        )
        # the menu sets IVR_CALL_ID on the caller's channel; this caller came straight into
        # the queue, so the test sets it as the menu would
        channel = await client.channel_of(first_uid)
        assert channel is not None
        await client.action(
            {"Action": "Setvar", "Channel": channel, "Variable": "__IVR_CALL_ID", "Value": CALL_ID}
        )
        # 首问负责制: A records the order from this call and owns it
        order = {
            "kind": "repair",
            "summary": "整栋楼停电",
            "customer": {"surname": "王", "title": "女士", "phone": caller},
        }
        created = await web.post("/api/work-orders", json=order, headers=mine)
        assert created.status == 201, await created.text()
        order_no = (await created.json())["order_no"]
        for body, status in (
            ({"queue": "q-repair"}, 400),  # not an allowed transfer queue
            ({"queue": XFER_A}, 400),  # where it is already
            ({"queue": XFER_B, "job_number": B}, 400),  # one target only
            ({}, 400),
            ({"queue": "q-t-xfer-b&PJSIP/evil"}, 422),  # never a dial string
            ({"job_number": "99999"}, 404),
            ({"job_number": A}, 400),  # themselves
            ({"job_number": B}, 409),  # no seat to ring: a simulated member
        ):
            response = await web.post("/api/agents/me/call/transfer", json=body, headers=mine)
            assert response.status == status, (body, await response.text())
        response = await web.post(
            "/api/agents/me/call/transfer", json={"queue": XFER_B}, headers=mine
        )
        assert response.status == 200, await response.text()
        done = (await response.json())["transfer"]
        assert (done["from_job_number"], done["from_queue"]) == (A, XFER_A)
        assert (done["target_kind"], done["target"]) == ("queue", XFER_B)

        def joined_b() -> list[dict[str, str]]:
            return [
                e
                for e in log.named("QueueCallerJoin", Queue=XFER_B)
                if e.get("CallerIDNum") == caller
            ]

        await until(lambda: _async(joined_b()), 10, "the caller joins the other queue")
        await until(
            lambda: _async(log.named("AgentConnect", Queue=XFER_B, Interface=SIM_B)),
            15,
            "B answers the transferred caller",
        )
        assert joined_b()[0]["Uniqueid"] == first_uid  # the same live call, moved
        # the order stays A's: B, who has the caller now, may not take it over
        kept = await web.get(f"/api/work-orders/{order_no}", headers=mine)
        assert (await kept.json())["owner_job_number"] == A
        taken = await web.get(f"/api/work-orders/{order_no}", headers=theirs)
        assert taken.status == 403
    finally:
        for job in (A, B):
            await web.post(f"/api/agents/{job}/logout", headers=sup)
    async with bridge.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(transfers_table).where(transfers_table.c.unique_id == first_uid)
            )
        ).all()
    assert [(r.call_id, r.from_job_number, r.target_kind, r.target, r.actor) for r in rows] == [
        (CALL_ID, A, "queue", XFER_B, f"agent:{A}")
    ]
    # the agent the call was transferred to is recorded too ([agent-transfer]'s queue runs
    # [ivr-record] on their leg, under the call's id)
    recording = await sealed(bridge, CALL_ID)
    assert recording.state is RecordingState.COMPLETE, recording.failure
    assert recording.agent_job_number == B


async def test_a_transfer_to_a_named_agent_rings_their_own_seat(bridge, web, tokens, ami) -> None:  # type: ignore[no-untyped-def]
    """By 工号: the bridge sends the caller to ``agent-<工号>`` in ``[agent-transfer]``, which
    dials that agent's ``[agent-dial]`` member: the phone set at their login, never a dial
    string from the request. The stand-in phone answers."""
    client, log = ami
    sup = auth(tokens["supervisor"])
    bridge.control.test_phone_context = "sim-phones"
    phone = "9103"
    for name, value in (("DELAY", "1"), ("TALK", "2")):
        await client.action(
            {"Action": "Setvar", "Variable": f"SIM_PHONE_{name}_{phone}", "Value": value}
        )
    await sim_agent(client, A, 0.5, 30)
    caller = "13500003121"
    try:
        body = {"name": "坐席3103", "device": f"Local/{phone}@sim-phones/n", "skills": [XFER_B]}
        response = await web.put(f"/api/agents/{PHONE_AGENT}", json=body, headers=sup)
        assert response.status == 200, await response.text()
        theirs = auth(tokens[PHONE_AGENT])
        mine = auth(tokens[A])
        assert (await web.post(f"/api/agents/{A}/login", headers=sup)).status == 200
        await place_queue_call(client, SimulatedCaller(caller, pause_s=0, hold_s=40), XFER_A)

        async def talking() -> bool:
            return (await me(web, tokens[A]))["on_call"] is not None

        await until(talking, 15, "A talks to the caller")
        body = {"job_number": PHONE_AGENT}
        response = await web.post("/api/agents/me/call/transfer", json=body, headers=mine)
        assert response.status == 409  # not logged in: nobody would answer
        assert (await web.post("/api/agents/me/login", headers=theirs)).status == 200
        await until(lambda: _state_is(web, tokens[PHONE_AGENT], "ready"), 5, "3103 ready")
        response = await web.post("/api/agents/me/call/transfer", json=body, headers=mine)
        assert response.status == 200, await response.text()
        done = (await response.json())["transfer"]
        assert (done["target_kind"], done["target"]) == ("agent", PHONE_AGENT)
        async with bridge.engine.connect() as conn:  # recorded on the call
            rows = (
                await conn.execute(
                    select(transfers_table).where(transfers_table.c.target == PHONE_AGENT)
                )
            ).all()
        assert [(r.from_job_number, r.from_queue, r.target_kind, r.actor) for r in rows] == [
            (A, XFER_A, "agent", f"agent:{A}")
        ]
        await until(
            lambda: _async(log.named("UserEvent", UserEvent="SimPhoneAnswered", Phone=phone)),
            15,
            "the named agent's phone answers",
        )
    finally:
        for job in (A, PHONE_AGENT):
            await web.post(f"/api/agents/{job}/logout", headers=sup)
        bridge.control.test_phone_context = None


async def _async(value: Any) -> Any:
    return value


async def _state_is(web: TestClient, token: str, state: str) -> dict[str, Any] | None:
    found = await me(web, token)
    return found if found["state"] == state else None
