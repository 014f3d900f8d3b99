"""The agent workspace's feed and API, for real: the WebSocket on the running bridge fed by the
sandboxed Asterisk's queue events, and the call ↔ order link and "my orders" on SQLite and
PostgreSQL.

Role tests: an agent receives only their own events; the caller's number is in full only on
the card of the agent being rung for that call (masked in every queue summary, and never in
another agent's feed); the WebSocket refuses a missing, wrong or non-agent token with its
close code; an agent reads only the orders of calls they answered or own.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import make_web_app
from ivr.db.calls import SqlCallRepository
from ivr.domain.access import Role
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from ivr.web import workspace
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.api_app import AGENT_JOB, api_app

QUEUE = "q-t-8"
CALLER = "13500000881"
MASKED = "135******81"

# ---------------------------------------------------------------- helpers


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


EVENTS = yaml.safe_load(
    resources.files("ivr.services").joinpath("workspace_events.yml").read_text(encoding="utf-8")
)


def check_schema(message: dict[str, Any]) -> None:
    """Every message the feed sends matches its schema in workspace_events.yml."""
    schema = {**EVENTS[message["type"]], "$defs": EVENTS["$defs"]}
    jsonschema.validate(message, schema)


class Feed:
    """One workspace connection: every message it received, raw and parsed."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.raw: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                self.raw.append(message.data)
                parsed = json.loads(message.data)
                check_schema(parsed)
                self.messages.append(parsed)

    async def wait_for(self, kind: str, timeout_s: float, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for m in self.messages:
                call = m.get("call") or {}
                if m["type"] == kind and all(
                    call.get(k) == v or m.get(k) == v for k, v in match.items()
                ):
                    return m
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"no {kind} {match} within {timeout_s} s: {[m['type'] for m in self.messages]}"
        )

    async def close(self) -> None:
        await self.ws.close()
        await self._task


async def connect(client: TestClient, token: str | None) -> Feed:
    ws = await client.ws_connect("/api/agents/me/events")
    if token is not None:
        await ws.send_json({"type": "auth", "token": token})
    return Feed(ws)


async def closed_with(client: TestClient, first: Any) -> int | None:
    ws = await client.ws_connect("/api/agents/me/events")
    if first is not None:
        await ws.send_str(first if isinstance(first, str) else json.dumps(first))
    message = await ws.receive(timeout=10)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return ws.close_code


# ---------------------------------------------------------------- API and store (no Asterisk)


async def add_call(url: str, call_id: str, unique_id: str, caller: str, choice: str) -> None:
    from ivr.db.engine import create_engine

    engine = create_engine(url)
    try:
        now = datetime.now(UTC)
        await SqlCallRepository(engine).save(
            CallRecord(
                call_id=call_id,
                unique_id=unique_id,
                caller_number=caller,
                dialed_number="95598",
                channel_name="Local/95598@from-pstn-00000001;2",
                started_at=now,
                outcome=CallOutcome.ROUTED,
                route="q-complaint",
                choice=choice,
                menu_path=["main", "complaint"],
                keys="42",
                steps=[
                    CallStep(now, StepKind.SPEECH, "main", None, "投诉 -> 4 (0.91)"),
                    CallStep(now, StepKind.ROUTE, "complaint", "2", "q-complaint"),
                ],
            )
        )
    finally:
        await engine.dispose()


REPORT = {
    "kind": "report",
    "customer": {"surname": "王", "title": "女士", "phone": CALLER},
    "summary": "举报窃电",
}


async def test_an_order_saved_on_a_call_is_linked_both_ways_and_owned_by_its_agent(
    db_url: str, tmp_path: Path
) -> None:
    call_id = uuid.uuid4().hex
    await add_call(db_url, call_id, "1700000000.1", CALLER, "complaint.report")
    async with api_app(tmp_path, db_url) as api:
        other = await api.bridge.tokens.create("t-agent-2", Role.AGENT, "7302")
        agent = api.auth(Role.AGENT)
        response = await api.client.post(
            "/api/work-orders", json={**REPORT, "call_id": call_id}, headers=agent
        )
        assert response.status == 201, await response.text()
        order = await response.json()
        assert order["owner_job_number"] == AGENT_JOB and order["call_ids"] == [call_id]

        # the other direction: the call's orders
        mine = await api.client.get(f"/api/calls/{call_id}/work-orders", headers=agent)
        assert mine.status == 200
        linked = (await mine.json())["work_orders"]
        assert [(o["order_no"], o["owner_job_number"]) for o in linked] == [
            (order["order_no"], AGENT_JOB)
        ]
        sup = await api.client.get(
            f"/api/calls/{call_id}/work-orders", headers=api.auth(Role.SUPERVISOR)
        )
        assert sup.status == 200
        # another agent may not read it, nor probe whether a call exists
        theirs = await api.client.get(f"/api/calls/{call_id}/work-orders", headers=auth(other))
        assert theirs.status == 403
        unknown = uuid.uuid4().hex
        for token in (other, api.tokens[Role.AGENT]):
            probe = await api.client.get(f"/api/calls/{unknown}/work-orders", headers=auth(token))
            assert probe.status == 403
        missing = await api.client.get(
            f"/api/calls/{unknown}/work-orders", headers=api.auth(Role.SUPERVISOR)
        )
        assert missing.status == 404
        bad = await api.client.get("/api/calls/x'--/work-orders", headers=api.auth(Role.SUPERVISOR))
        assert bad.status == 404
        assert (await api.client.get(f"/api/calls/{call_id}/work-orders")).status == 401

        # the pop's reads: the call's menu record and the caller's history
        context = await api.bridge.workspace.call_context("1700000000.1")
        assert context is not None and context.call_id == call_id
        assert context.choice == "complaint.report" and context.spoken == ("投诉 -> 4 (0.91)",)
        history = await api.bridge.workspace.caller_orders(
            CALLER, datetime.now(UTC) - timedelta(days=90)
        )
        assert [o.order_no for o in history] == [order["order_no"]] and history[0].open
        assert history[0].next_due_at is not None


async def test_my_orders_show_the_next_deadline_notes_and_the_callback_after_closing(
    db_url: str, tmp_path: Path
) -> None:
    async with api_app(tmp_path, db_url) as api:
        other = await api.bridge.tokens.create("t-agent-2", Role.AGENT, "7302")
        agent = api.auth(Role.AGENT)
        created = await api.client.post("/api/work-orders", json=REPORT, headers=agent)
        order_no = (await created.json())["order_no"]
        note = await api.client.patch(
            f"/api/work-orders/{order_no}", json={"note": "客户要求下午联系"}, headers=agent
        )
        assert note.status == 200, await note.text()

        listed = await (await api.client.get("/api/agents/me/work-orders", headers=agent)).json()
        assert listed["job_number"] == AGENT_JOB
        (mine,) = listed["orders"]
        assert mine["order_no"] == order_no and mine["notes"] == ["客户要求下午联系"]
        assert mine["next_deadline"]["name"] == "reply"
        assert mine["next_deadline"]["urgency"] == "on_track" and mine["callback"] is None

        theirs = await (
            await api.client.get("/api/agents/me/work-orders", headers=auth(other))
        ).json()
        assert theirs["orders"] == []
        for role in (Role.SUPERVISOR, Role.INTEGRATION):
            refused = await api.client.get("/api/agents/me/work-orders", headers=api.auth(role))
            assert refused.status == 403

        closed = await api.client.post(
            f"/api/work-orders/{order_no}/close", json={"result": "已查实并处理"}, headers=agent
        )
        assert closed.status == 200, await closed.text()
        listed = await (await api.client.get("/api/agents/me/work-orders", headers=agent)).json()
        (mine,) = listed["orders"]
        assert mine["status"] == "closed" and mine["result"] == "已查实并处理"
        assert mine["callback"]["state"] == "pending" and mine["callback"]["satisfied"] is None


async def test_the_page_loads_only_the_bridges_own_files_under_a_strict_csp(
    db_url: str, tmp_path: Path
) -> None:
    """No build step, no CDN: the page and its two files come from the bridge, under a policy
    that allows scripts, styles and connections from the bridge only and no inline script."""
    async with api_app(tmp_path, db_url) as api:
        page = await api.client.get("/workspace")
        assert page.status == 200
        html = await page.text()
        assert re.findall(r'(?:src|href)="([^"]*)"', html) == [
            "/workspace/workspace.css",
            "/workspace/workspace.js",
        ]
        assert "<script>" not in html and not re.search(r"\son[a-z]+=", html)  # nothing inline
        for path in ("/workspace", "/workspace/workspace.js", "/workspace/workspace.css"):
            served = await api.client.get(path)
            assert served.status == 200, path
            policy = served.headers["Content-Security-Policy"]
            for part in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
                assert part in policy, (path, policy)
            assert "unsafe" not in policy and "http" not in policy
        script = await (await api.client.get("/workspace/workspace.js")).text()
        assert not re.search(r"https?://|\bimport\b|\beval\(", script)


async def test_the_websocket_refuses_without_a_valid_agent_token_in_its_first_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "AUTH_TIMEOUT_S", 0.5)
    async with api_app(tmp_path) as api:
        client = api.client
        assert await closed_with(client, None) == workspace.AUTH_TIMEOUT
        assert await closed_with(client, "not json") == workspace.AUTH_TIMEOUT
        assert (
            await closed_with(client, {"type": "auth", "token": "nope"})
            == workspace.UNAUTHENTICATED
        )
        for role in (Role.SUPERVISOR, Role.INTEGRATION, Role.ADMIN):
            first = {"type": "auth", "token": api.tokens[role]}
            assert await closed_with(client, first) == workspace.FORBIDDEN
        # the token is never taken from the URL
        ws = await client.ws_connect(f"/api/agents/me/events?token={api.tokens[Role.AGENT]}")
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == workspace.AUTH_TIMEOUT
        # another site's page may not open it
        upgrade = {
            "Origin": "http://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        }
        refused = await client.session.get(
            client.make_url("/api/agents/me/events"), headers=upgrade
        )
        assert refused.status == 403

        feeds = [await connect(client, api.tokens[Role.AGENT]) for _ in range(3)]
        for feed in feeds:
            hello = await feed.wait_for("hello", 5)
            assert hello["job_number"] == AGENT_JOB and hello["call"] is None
        fourth = await client.ws_connect("/api/agents/me/events")
        await fourth.send_json({"type": "auth", "token": api.tokens[Role.AGENT]})
        assert (await fourth.receive(timeout=5)).type is aiohttp.WSMsgType.CLOSE
        assert fourth.close_code == workspace.TOO_MANY
        for feed in feeds:
            await feed.close()

        # a source that keeps guessing is made to wait (and not even asked for a token)
        for _ in range(6):
            await closed_with(client, {"type": "auth", "token": "guess"})
        assert await closed_with(client, None) == workspace.TOO_MANY


# ---------------------------------------------------------------- live, on the sandbox


@pytest.fixture(scope="module")
async def web(bridge) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        yield client


@pytest.mark.integration
async def test_each_agent_gets_only_their_own_events_and_the_full_number_only_when_rung(  # type: ignore[no-untyped-def]
    web, bridge, ami
) -> None:
    client, log = ami
    tag = uuid.uuid4().hex[:6]
    sup = auth(await bridge.tokens.create(f"ws-sup-{tag}", Role.SUPERVISOR))
    tokens = {
        job: await bridge.tokens.create(f"ws-{job}-{tag}", Role.AGENT, job)
        for job in ("3101", "3102")
    }
    await client.action({"Action": "Setvar", "Variable": "SIM_AGENT_DELAY_3101", "Value": "3"})
    await client.action({"Action": "Setvar", "Variable": "SIM_AGENT_TALK_3101", "Value": "2"})
    for job in ("3101", "3102"):
        response = await web.put(
            f"/api/agents/{job}",
            json={
                "name": f"坐席{job}",
                "interface": f"Local/{job}@sim-agents/n",
                "skills": [QUEUE],
            },
            headers=sup,
        )
        assert response.status == 200, await response.text()
    ringing, other = await connect(web, tokens["3101"]), await connect(web, tokens["3102"])
    try:
        await ringing.wait_for("hello", 5)
        await other.wait_for("hello", 5)
        assert (await web.post("/api/agents/3102/login", headers=sup)).status == 200
        assert (
            await web.post("/api/agents/3102/pause", json={"reason": "培训"}, headers=sup)
        ).status == 200
        assert (await web.post("/api/agents/3101/login", headers=sup)).status == 200
        await ringing.wait_for("queues", 10)
        # 3101 paused while the caller joins: their menu record (they spoke their choice) is
        # stored under the caller's channel before anyone is rung
        paused = await web.post("/api/agents/3101/pause", json={"reason": "小休"}, headers=sup)
        assert paused.status == 200

        await place_queue_call(client, SimulatedCaller(CALLER, pause_s=0, hold_s=12), QUEUE)

        def joined() -> list[dict[str, str]]:
            found = log.named("QueueCallerJoin", Queue=QUEUE)
            return [e for e in found if e.get("CallerIDNum") == CALLER]

        deadline = time.monotonic() + 15
        while not joined() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert joined(), "the caller joined the queue"
        unique_id = joined()[0]["Uniqueid"]
        call_id = uuid.uuid4().hex
        await add_call(bridge.settings.database.url, call_id, unique_id, CALLER, "complaint.report")
        unpaused = await web.post("/api/agents/3101/unpause", headers=sup)
        assert unpaused.status == 200

        rung = await ringing.wait_for("ringing", 15)
        card = rung["call"]
        assert card["caller"] == CALLER and card["queue"] == QUEUE
        assert card["unique_id"] == unique_id
        assert card["ring_limit_s"] == 15 and card["ring_started_ms"] > 0
        assert card["ring_started_ms"] <= rung["server_time_ms"]
        # the pop: the menu choice and the words the caller spoke, the form's kind and reminders
        pop = (await ringing.wait_for("pop", 10))["call"]["pop"]
        assert pop["call_id"] == call_id and pop["choice"] == "complaint.report"
        assert pop["menu_path"] == ["main", "complaint"]
        assert pop["spoken"] == ["投诉 -> 4 (0.91)"]
        assert pop["form"]["kind"] == "report" and pop["form"]["phone"] == CALLER
        assert any("10个工作日内答复" in r for r in pop["form"]["reminders"])
        answered = await ringing.wait_for("answered", 15)
        assert (
            answered["call"]["caller"] == CALLER and answered["call"]["ring_to_answer_ms"] >= 2500
        )
        await ringing.wait_for("ended", 20)
        # a page that connects now gets no card (the call is over) and no number
        late = await connect(web, tokens["3101"])
        hello = await late.wait_for("hello", 5)
        assert hello["call"] is None and CALLER not in late.raw[0]
        await late.close()

        # the paused agent in the same queue saw the caller waiting, masked, and nothing else
        waiting = [
            c
            for m in other.messages
            if m["type"] == "queues"
            for q in m["queues"]
            for c in q["callers"]
        ]
        assert MASKED in [c["caller"] for c in waiting]
        assert not any(CALLER in raw for raw in other.raw)
        assert {m["type"] for m in other.messages} <= {"hello", "queues"}
        # and the rung agent's queue summaries are masked too
        for m in ringing.messages:
            if m["type"] == "queues":
                assert CALLER not in json.dumps(m)
    finally:
        for job in ("3101", "3102"):
            await web.post(f"/api/agents/{job}/logout", headers=sup)
        await ringing.close()
        await other.close()
