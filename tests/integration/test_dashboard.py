"""Agents API, dashboard JSON, /metrics (parsed by prometheus_client) and the dashboard page
in a real headless Chromium, all against the running bridge, the sandboxed Asterisk and real
calls."""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ivr.app import make_web_app
from ivr.domain.access import Role
from ivr_sandbox.browser import Browser, missing_programs
from ivr_sandbox.simulation import SimulatedCaller, place_call, place_queue_call

pytestmark = pytest.mark.integration

QUEUE = "q-t-7"


@pytest.fixture(scope="module")
async def web(bridge) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        yield client


@pytest.fixture(scope="module")
async def tokens(bridge) -> dict[str, str]:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:6]
    return {
        "supervisor": await bridge.tokens.create(f"sup-{tag}", Role.SUPERVISOR),
        "agent": await bridge.tokens.create(f"agent-{tag}", Role.AGENT, "3001"),
        "other_agent": await bridge.tokens.create(f"agent2-{tag}", Role.AGENT, "3002"),
        "scraper": await bridge.tokens.create(f"prom-{tag}", Role.INTEGRATION),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.2)


async def agent_state(web: TestClient, token: str, job: str) -> dict[str, Any]:
    response = await web.get("/api/agents", headers=auth(token))
    assert response.status == 200
    return next(a for a in (await response.json())["agents"] if a["job_number"] == job)


@pytest.fixture(scope="module")
async def agent_3001(web, tokens, ami) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    client, _ = ami
    for name, value in (("SIM_AGENT_DELAY_3001", "3"), ("SIM_AGENT_TALK_3001", "3")):
        await client.action({"Action": "Setvar", "Variable": name, "Value": value})
    for job, name in (("3001", '<img src=x onerror="window.__xss=1">'), ("3002", "其他")):
        response = await web.put(
            f"/api/agents/{job}",
            json={"name": name, "interface": f"Local/{job}@sim-agents/n", "skills": [QUEUE]},
            headers=auth(tokens["supervisor"]),
        )
        assert response.status == 200, await response.text()
    yield "3001"
    await web.post("/api/agents/3001/logout", headers=auth(tokens["supervisor"]))


async def test_agents_log_in_pause_and_out_through_the_api(web, tokens, agent_3001, ami) -> None:  # type: ignore[no-untyped-def]
    _, log = ami
    me = auth(tokens["agent"])
    # an agent acts on themselves only
    forbidden = await web.post("/api/agents/3002/login", headers=me)
    assert forbidden.status == 403
    assert (
        await web.post("/api/agents/9999/login", headers=auth(tokens["supervisor"]))
    ).status == 404
    assert (await web.post("/api/agents/3001/login", headers=auth(tokens["scraper"]))).status == 403
    assert (await web.post("/api/agents/3001/login")).status == 401

    assert (await web.post("/api/agents/3001/login", headers=me)).status == 200

    async def added() -> bool:  # the event may come just after the action's response
        return bool(log.named("QueueMemberAdded", Queue=QUEUE, Interface="Local/3001@sim-agents/n"))

    await until(added, 5, "Asterisk reports the member added")
    state = await until(
        lambda: _logged_in(web, tokens["agent"]), 5, "agent 3001 shown in its queue"
    )
    assert state["logged_in_queues"] == [QUEUE] and not state["paused"]

    response = await web.post("/api/agents/3001/pause", json={"reason": "午餐"}, headers=me)
    assert response.status == 200
    await until(lambda: _paused(web, tokens["agent"], True), 5, "agent shown paused")

    async def paused_event() -> bool:  # shown paused because Asterisk said so
        return bool(log.named("QueueMemberPause", Interface="Local/3001@sim-agents/n", Paused="1"))

    await until(paused_event, 5, "Asterisk reports the member paused")
    # a supervisor may unpause anyone
    sup = auth(tokens["supervisor"])
    assert (await web.post("/api/agents/3001/unpause", headers=sup)).status == 200
    await until(lambda: _paused(web, tokens["agent"], False), 5, "agent shown unpaused")

    # agents list: an agent sees only themselves
    listed = await (await web.get("/api/agents", headers=me)).json()
    assert [a["job_number"] for a in listed["agents"]] == ["3001"]

    # bad input: clear errors, nothing stored
    bad = await web.put("/api/agents/12ab", json={"name": "x"}, headers=sup)
    assert bad.status == 400 and "job_number" in (await bad.json())["error"]
    bad = await web.put(
        "/api/agents/3003",
        json={"name": "x", "interface": "Local/3003@sim-agents/n,evil", "skills": [QUEUE]},
        headers=sup,
    )
    assert bad.status == 400
    bad = await web.post("/api/agents/3001/pause", data=b"{not json", headers=sup)
    assert bad.status == 400

    assert (await web.post("/api/agents/3002/logout", headers=sup)).status == 200  # not in: fine


async def _logged_in(web: TestClient, token: str) -> dict[str, Any] | None:
    state = await agent_state(web, token, "3001")
    return state if state["logged_in_queues"] else None


async def _paused(web: TestClient, token: str, paused: bool) -> bool:
    return (await agent_state(web, token, "3001"))["paused"] is paused


async def scrape(web: TestClient, token: str) -> dict[str, Metric]:
    """``/metrics`` parsed by prometheus_client's own parser, by family name."""
    response = await web.get("/metrics", headers=auth(token))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(await response.text())}


def sample(families: dict[str, Metric], name: str, **labels: str) -> float:
    """The value of one sample (0 when the series does not exist yet: a counter not yet hit)."""
    base = name
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        base = base.removesuffix(suffix)
    family = families[base]
    found = [s.value for s in family.samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


async def test_metrics_need_a_token_and_speak_prometheus(web, tokens) -> None:  # type: ignore[no-untyped-def]
    assert (await web.get("/metrics")).status == 401
    assert (await web.get("/metrics", headers=auth(tokens["agent"]))).status == 403
    families = await scrape(web, tokens["scraper"])
    kinds = {name: f.type for name, f in families.items()}
    assert kinds["ivr_queue_waiting_callers"] == "gauge"
    assert kinds["ivr_today_offered"] == "gauge"
    assert sample(families, "ivr_today_offered", queue="_all") >= 0
    for counter in ("ivr_calls", "ivr_queue_answered", "ivr_rings_missed", "ivr_alerts",
                    "ivr_callback_attempts", "ivr_dispatch_calls", "ivr_agi_sessions"):  # fmt: skip
        assert kinds[counter] == "counter", counter
    for histogram in ("ivr_ring_to_answer_seconds", "ivr_queue_wait_seconds",
                      "ivr_agi_think_seconds"):  # fmt: skip
        assert kinds[histogram] == "histogram", histogram
    # the library's own process collector, on this bridge's registry
    assert sample(families, "process_cpu_seconds_total") > 0
    assert sample(families, "process_open_fds") > 0


async def test_metrics_count_real_calls(web, tokens, agent_3001, ami, bridge) -> None:  # type: ignore[no-untyped-def]
    """A menu call and a queue call answered by 3001 after its 3 s ring, seen in the counters
    and histograms (other tests share the bridge: compare before and after)."""
    client, _ = ami
    sup = auth(tokens["supervisor"])
    assert (await web.post("/api/agents/3001/login", headers=sup)).status == 200
    await until(lambda: _logged_in(web, tokens["agent"]), 5, "agent 3001 in its queue")
    before = await scrape(web, tokens["scraper"])

    await place_call(client, SimulatedCaller("13500000212", keys="0", hold_s=2))
    await place_queue_call(client, SimulatedCaller("13500000213", pause_s=0, hold_s=20), QUEUE)

    async def answered_and_done() -> dict[str, Metric] | None:
        now = await scrape(web, tokens["scraper"])
        done = sample(now, "ivr_queue_answered_total", queue=QUEUE) > sample(
            before, "ivr_queue_answered_total", queue=QUEUE
        )
        menu = sample(now, "ivr_calls_total") > sample(before, "ivr_calls_total")
        return now if done and menu else None

    after = await until(answered_and_done, 40, "the answered call counted")
    assert (await web.post("/api/agents/3001/logout", headers=sup)).status == 200

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("ivr_queue_answered_total", queue=QUEUE) == 1
    assert grew("ivr_queue_calls_total", queue=QUEUE, outcome="answered") == 1
    assert grew("ivr_queue_answered_in_15s_total", queue=QUEUE) == 1  # a 3 s ring
    assert grew("ivr_ring_to_answer_seconds_count", queue=QUEUE) == 1
    # 3 s of ring: in the 5 s bucket, not in the 2 s one
    assert grew("ivr_ring_to_answer_seconds_bucket", queue=QUEUE, le="5.0") == 1
    assert grew("ivr_ring_to_answer_seconds_bucket", queue=QUEUE, le="2.0") == 0
    assert 2.5 < grew("ivr_ring_to_answer_seconds_sum", queue=QUEUE) < 5
    assert grew("ivr_queue_wait_seconds_count", queue=QUEUE) == 1
    assert grew("ivr_agi_sessions_total", route="inbound") >= 1
    assert grew("ivr_agi_think_seconds_count") > 0  # the menu call's commands
    await bridge.tracking.flushed()  # today's gauges are read from the stored visits

    async def today() -> bool:
        return sample(await scrape(web, tokens["scraper"]), "ivr_today_answered", queue=QUEUE) >= 1

    await until(today, 5, "today's gauges count the stored call")


def _browser_or_fail() -> None:
    missing = missing_programs()
    if missing:
        message = (
            f"headless browser test needs {missing} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


async def test_dashboard_in_a_real_browser_shows_a_call_arrive_and_be_answered(  # type: ignore[no-untyped-def]
    web, tokens, agent_3001, ami, bridge
) -> None:
    _browser_or_fail()
    client, _ = ami
    sup = auth(tokens["supervisor"])
    assert (await web.post("/api/agents/3001/login", headers=sup)).status == 200
    browser = await asyncio.to_thread(Browser)
    try:
        url = f"http://{web.host}:{web.port}/dashboard#token={tokens['supervisor']}"
        await asyncio.to_thread(browser.driver.get, url)

        async def shows(element_id: str, needle: str) -> bool:
            return needle in await asyncio.to_thread(browser.text, element_id)

        await until(lambda: shows("status", "更新于"), 15, "the page polls the API")
        # the token does not stay in the address bar (history, bookmarks, screenshots)
        where = await asyncio.to_thread(browser.driver.execute_script, "return location.href")
        assert tokens["supervisor"] not in where and "token" not in where
        # the agent's name is text, not markup
        await until(lambda: shows("agents", "<img src=x"), 10, "agent 3001 listed")
        assert await asyncio.to_thread(browser.driver.execute_script, "return window.__xss") is None
        # so is a pause reason the agent typed
        reason = {"reason": "<script>window.__xss=2</script><b onmouseover=x>"}
        response = await web.post("/api/agents/3001/pause", json=reason, headers=sup)
        assert response.status == 200, await response.text()
        await until(lambda: shows("agents", "暂停（<script>window.__xss=2"), 10, "reason shown")
        assert await asyncio.to_thread(browser.driver.execute_script, "return window.__xss") is None
        assert (await web.post("/api/agents/3001/unpause", headers=sup)).status == 200
        await until(lambda: _not(shows("agents", "<script>")), 10, "agent 3001 unpaused")
        # and if markup ever reached the page, the CSP would still stop inline handlers
        await asyncio.to_thread(
            browser.driver.execute_script,
            "document.body.insertAdjacentHTML('beforeend',"
            " '<img src=x onerror=\"window.__csp=1\">');",
        )
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(browser.driver.execute_script, "return window.__csp") is None
        policy = (await web.get("/dashboard")).headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy

        def board() -> Any:  # one reading of the tables, so no refresh falls between them
            return asyncio.to_thread(
                browser.js,
                "const rows = id => [...document.querySelectorAll('#' + id + ' tbody tr')]"
                ".map(r => [...r.cells].map(c => c.textContent));"
                "return {waiting: rows('waiting'), queues: rows('queues'),"
                " agents: rows('agents')};",
            )

        def queue_row(seen: dict[str, Any]) -> list[str]:
            return next((r for r in seen["queues"] if r[0] == QUEUE), [])

        def agent_row(seen: dict[str, Any]) -> list[str]:
            return next((r for r in seen["agents"] if r[0] == "3001"), [])

        async def rung() -> dict[str, Any] | None:
            seen = await board()
            ringing = agent_row(seen)[2:3] == ["振铃中"]
            waits = any("135******11" in " ".join(r) for r in seen["waiting"])
            return seen if ringing and waits and queue_row(seen)[1:2] == ["1"] else None

        await place_queue_call(client, SimulatedCaller("13500000211", pause_s=0, hold_s=20), QUEUE)
        # waiting, with 3001 rung (3 s before it answers): its queue's waiting callers and
        # longest wait, and the agent's live state by 工号, all from the same refresh
        seen = await until(rung, 10, "the caller shown waiting while 3001 rings")
        assert re.fullmatch(r"\d+:\d\d", queue_row(seen)[2]), queue_row(seen)
        assert "3001" in " ".join(seen["waiting"][0]) and "Local/" not in str(seen["waiting"])
        assert re.fullmatch(r"\d+:\d\d", agent_row(seen)[3]), agent_row(seen)  # ring time

        async def talks() -> bool:
            seen = await board()
            return agent_row(seen)[2:3] == ["通话中"] and queue_row(seen)[1:2] == ["0"]

        await until(talks, 15, "3001 shown talking, nobody waiting in the queue")
        await until(lambda: shows("talking", "3001"), 15, "the call shown answered by 3001")
        await until(lambda: _not(shows("talking", "135******11")), 20, "the call shown ended")
        await bridge.tracking.flushed()
        await until(lambda: shows("offered", "/"), 5, "today's figures shown")
    finally:
        await asyncio.to_thread(browser.close)
    snapshot = await (await web.get("/api/dashboard", headers=sup)).json()
    assert snapshot["today"]["by_queue"][QUEUE]["answered"] >= 1
    assert (await web.get("/api/dashboard", headers=auth(tokens["agent"]))).status == 403
    page = await web.get("/dashboard")
    assert page.status == 200 and "Content-Security-Policy" in page.headers


async def _not(check: Any) -> bool:
    return not await check
