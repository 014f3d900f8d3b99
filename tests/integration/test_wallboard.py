"""The wallboard in a real headless Chromium (issue #19's proof):

* the service-level tile shows the monthly report's figure for the same calls (one definition,
  one number), coloured by its threshold, and the per-agent ring table counts every ring;
* a CJK label is drawn with a real font (DevTools says which font drew it), times are in the
  centre's zone and to the second although the browser runs in UTC;
* storm days: an active outage with the callers its notice informed, and the queue whose
  service level is under its alarm limit listed as an alarm and red in the queue table;
* on the real sandboxed Asterisk, an agent being rung shows as ringing by 工号 — not idle, not
  an Asterisk interface — and, once the caller gave up after more than 15 s of ringing, as
  not answering.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import make_web_app
from ivr.db.calls import SqlCallRepository
from ivr.db.engine import create_engine
from ivr.db.outages import SqlOutages
from ivr.db.report_rows import SqlReportRows
from ivr.db.tokens import SqlTokenStore
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository, datetime_to_us
from ivr.db.virtual_hold import SqlKeptPlaces
from ivr.domain.access import Role
from ivr.domain.agents import Agent
from ivr.domain.callbacks import CallingWindow
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.outages import OutageKind
from ivr.domain.phone import PhoneNumber
from ivr.domain.queue_calls import (
    AgentAnswered,
    AgentCompleted,
    AgentRingNoAnswer,
    AgentRung,
    CallerAbandoned,
    CallerJoined,
    HangupRequested,
    QueueEvent,
)
from ivr.domain.virtual_hold import CallBackRules
from ivr.domain.wallboard import WallboardRules
from ivr.services.call_tracking import CallTracking
from ivr.services.dashboard import DashboardSource
from ivr.services.monthly_reports import MonthlyReports
from ivr.web.auth import auth_middleware
from ivr.web.dashboard import add_dashboard_routes
from ivr.web.reports_api import add_report_routes
from ivr_sandbox.browser import Browser
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.test_dashboard import _browser_or_fail, until

BJ = ZoneInfo("Asia/Shanghai")
A1001, A1002 = "Local/1001@sim-agents/n", "Local/1002@sim-agents/n"
S = 1_000_000


def todays_calls(base_us: int) -> list[list[QueueEvent]]:
    """Five calls joined a second apart from ``base_us``, by hand: offered 5, one short abandon,
    answered within 15 s of the first ring 2 → service level 2 / 4 = 50.0 %."""

    def at(call: int, seconds: float) -> int:
        return base_us + call * S + int(seconds * S)

    return [
        # 1001 answers after 3 s
        [CallerJoined(at(0, 0), "w1", "q-repair", "13900000001"), AgentRung(at(0, 0), "w1", A1001),
         AgentAnswered(at(0, 3), "w1", A1001, agent_channel_uid="w1a"),
         AgentCompleted(at(0, 60), "w1", "caller")],
        # 1001 rings out at 15 s, 1002 answers 1 s later: 16 s from the first ring
        [CallerJoined(at(1, 0), "w2", "q-repair", "13900000002"), AgentRung(at(1, 0), "w2", A1001),
         AgentRingNoAnswer(at(1, 15), "w2", A1001), AgentRung(at(1, 15), "w2", A1002),
         AgentAnswered(at(1, 16), "w2", A1002, agent_channel_uid="w2a"),
         AgentCompleted(at(1, 60), "w2", "caller")],
        # the caller gives up after 30 s, 1002 having rung 20 s (against 1002)
        [CallerJoined(at(2, 0), "w3", "q-repair", "13900000003"), AgentRung(at(2, 10), "w3", A1002),
         HangupRequested(at(2, 30), "w3"), CallerAbandoned(at(2, 30), "w3")],
        # a misdial: gone after 2 s
        [CallerJoined(at(3, 0), "w4", "q-repair", "13900000004"), HangupRequested(at(3, 2), "w4"),
         CallerAbandoned(at(3, 2), "w4")],
        # 1002 answers after 12 s
        [CallerJoined(at(4, 0), "w5", "q-repair", "13900000005"), AgentRung(at(4, 0), "w5", A1002),
         AgentAnswered(at(4, 12), "w5", A1002, agent_channel_uid="w5a"),
         AgentCompleted(at(4, 60), "w5", "caller")],
    ]  # fmt: skip


async def today_base_us() -> int:
    """Joins five minutes ago, but not before Beijing's midnight (today and this month must
    hold the same calls)."""
    now = datetime.now(BJ)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if now - midnight < timedelta(seconds=20):
        await asyncio.sleep(20)  # just past midnight: let the five joins fall into today
        now = datetime.now(BJ)
    return datetime_to_us(max(now - timedelta(minutes=5), midnight + timedelta(seconds=1)))


AREA = "东城区"


async def storm(engine: Any) -> SqlOutages:
    """A fault outage in 东城区 since an hour ago, and three calls of the area that heard its
    notice: two hung up after it (informed), one went on to the menu."""
    outages = SqlOutages(engine, None, lambda: datetime.now(UTC))
    now = datetime.now(UTC)
    outage = await outages.create(
        OutageKind.FAULT, [AREA], [], now - timedelta(hours=1), now + timedelta(hours=3),
        "线路故障", "test",
    )  # fmt: skip
    calls = SqlCallRepository(engine)
    for n, informed in enumerate((True, True, False)):
        record = CallRecord(
            uuid.uuid4().hex, f"9.{n}", f"1390000010{n}", "95598", "Local/x", now,
            outcome=CallOutcome.ABANDONED_IN_MENU, ended_at=now,
            outage_id=outage.id, informed=informed,
        )  # fmt: skip
        await calls.add(record)
    return outages


@pytest.fixture
async def wallboard_app(
    sqlite_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[TestClient, str]]:
    """Today's five calls behind the real web app; ``language`` by indirect parameter."""
    language = getattr(request, "param", "zh")
    engine = create_engine(sqlite_url)
    tokens = SqlTokenStore(engine)
    supervisor = await tokens.create("sup", Role.SUPERVISOR)
    directory = SqlAgentDirectory(engine)
    await directory.put(Agent("1001", "李明", A1001, ("q-repair",)))
    await directory.put(Agent("1002", "王芳", A1002, ("q-repair",)))
    visits = SqlVisitRepository(engine)
    tracking = CallTracking(visits, lambda: datetime_to_us(datetime.now(UTC)), agents=directory)
    await tracking.start()
    for call in todays_calls(await today_base_us()):
        for event in call:
            tracking.handle(event)
    await tracking.flushed()
    outages = await storm(engine)
    kept = SqlKeptPlaces(engine, CallBackRules(CallingWindow()), lambda: datetime.now(UTC))
    # a caller of the storm who pressed 1 ten minutes ago: their place is kept, number masked
    await kept.keep(
        "q-repair", PhoneNumber("13900000777"), None, datetime.now(UTC) - timedelta(minutes=10)
    )
    app = web.Application(middlewares=[auth_middleware(tokens)])
    rules = WallboardRules(language=language)
    source = DashboardSource(
        tracking, directory, BJ, rules=rules, outages=outages, kept_places=kept
    )
    add_dashboard_routes(app, source)
    add_report_routes(app, MonthlyReports(SqlReportRows(engine), BJ, lambda: datetime.now(UTC)))
    async with TestClient(TestServer(app)) as client:
        yield client, supervisor
    await tracking.stop()
    await engine.dispose()


async def test_the_service_level_tile_shows_the_reports_figure_in_a_real_font(
    wallboard_app: tuple[TestClient, str],
) -> None:
    _browser_or_fail()
    client, token = wallboard_app
    month = datetime.now(BJ).strftime("%Y-%m")
    response = await client.get(
        f"/api/reports/monthly?month={month}", headers={"Authorization": f"Bearer {token}"}
    )
    report = (await response.json())["centre"]
    assert report["service_level"] == pytest.approx(2 / 4)  # by hand, above
    browser = await asyncio.to_thread(Browser)
    try:
        url = f"http://{client.host}:{client.port}/dashboard#token={token}"
        await asyncio.to_thread(browser.open, url)

        async def shows(element_id: str, needle: str) -> bool:
            return needle in await asyncio.to_thread(browser.text, element_id)

        def js(script: str) -> Any:
            return asyncio.to_thread(browser.js, script)

        await until(lambda: shows("status", "更新于"), 15, "the page polls the API")
        tile = f"{100 * report['service_level']:.1f}%"
        await until(lambda: shows("value-service_level", tile), 10, "the tile shows 50.0%")
        assert await asyncio.to_thread(browser.text, "value-service_level") == tile
        # 50 % is under amber (80 %): red, with its thresholds written under it
        assert await js("return document.getElementById('tile-service_level').dataset.level") == (
            "red"
        )
        assert await shows("tile-service_level", "≥ 90.0%")
        # answered-only beside it, never instead of it: 2 of 3 answered
        assert await shows("answered-sl", "66.7%")
        # every ring, per agent: 1001 rang twice (one missed), 1002 three times (one over
        # 15 s before the caller gave up)
        rings = await js(
            "return [...document.querySelectorAll('#agent-rings tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        assert rings == [
            ["1001", "2", "1", "0", "1", "0", "1", "50.0%"],
            ["1002", "3", "2", "0", "0", "1", "1", "66.7%"],
        ]
        # the label is drawn with a real CJK font, not empty boxes
        fonts = await asyncio.to_thread(browser.platform_fonts, "#tile-service_level .label")
        cjk = [f for f in fonts if "WenQuanYi" in f["familyName"] and f["glyphCount"] > 0]
        assert cjk, f"no CJK font drew the label: {fonts}"
        # times: the centre's zone, to the second, though the browser runs in UTC
        status = await asyncio.to_thread(browser.text, "status")
        shown = re.fullmatch(r"更新于 (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(Asia/Shanghai\)", status)
        assert shown, status
        when = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BJ)
        assert abs(when - datetime.now(BJ)) < timedelta(minutes=5)  # Beijing, not UTC (8 h)
        assert await js("return Intl.DateTimeFormat().resolvedOptions().timeZone") in (
            "UTC",
            "Etc/UTC",
        )
        assert await js("return document.documentElement.lang") == "zh-CN"
        # storm days: the active outage with the two callers its notice informed
        outage_rows = await js(
            "return [...document.querySelectorAll('#outages tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        assert len(outage_rows) == 1, outage_rows
        assert outage_rows[0][0] == f"{AREA} (故障)" and outage_rows[0][1] == "线路故障"
        assert outage_rows[0][4] == "2"
        assert not await js("return document.getElementById('outages-none').checkVisibility()")
        # virtual hold: the kept place, its number masked, and today's counts
        held = await js(
            "return [...document.querySelectorAll('#vhold tbody tr')]"
            ".map(r => [...r.cells].map(c => c.textContent))"
        )
        assert len(held) == 1 and held[0][0] == "q-repair", held
        assert "13900000777" not in held[0][1] and held[0][1] == "139******77", held
        assert held[0][3] == "等候轮到" and held[0][4] == "0", held
        assert "保留 1" in await asyncio.to_thread(browser.text, "vhold-counts")
        assert "13900000777" not in await js("return document.body.textContent")
        # q-repair's 50 % is under the 80 % alarm limit; 0 waiting is not over 5
        alarm_rows = await js(
            "return [...document.querySelectorAll('#queue-alarms tbody tr')]"
            ".map(r => [r.className, ...[...r.cells].map(c => c.textContent)])"
        )
        assert alarm_rows == [["alarm", "q-repair", "服务水平低于告警线", "50.0%", "< 80.0%"]]
        queue_row = await js(
            "return [...document.querySelectorAll('#queues tbody tr')]"
            ".find(r => r.cells[0].textContent === 'q-repair').className"
        )
        assert queue_row == "alarm"
    finally:
        await asyncio.to_thread(browser.close)


@pytest.mark.parametrize("wallboard_app", ["en"], indirect=True)
async def test_the_centre_may_choose_english_labels(wallboard_app: tuple[TestClient, str]) -> None:
    _browser_or_fail()
    client, token = wallboard_app
    browser = await asyncio.to_thread(Browser)
    try:
        url = f"http://{client.host}:{client.port}/dashboard#token={token}"
        await asyncio.to_thread(browser.open, url)

        async def shows(element_id: str, needle: str) -> bool:
            return needle in await asyncio.to_thread(browser.text, element_id)

        await until(lambda: shows("status", "updated"), 15, "the page polls the API")
        assert await shows("tile-service_level", "service level (answered ≤ 15 s)")
        assert await shows("agents", "state") and await shows("agent-rings", "against")
        assert await shows("queue-alarms", "service level below its alarm")
        assert await shows("storm", "callers informed")
        assert await asyncio.to_thread(browser.js, "return document.documentElement.lang") == "en"
    finally:
        await asyncio.to_thread(browser.close)


# ------------------------------------------------------------ on the real sandboxed Asterisk

QUEUE = "q-t-8"
JOB = "3101"


@pytest.fixture(scope="module")
async def live(bridge) -> AsyncIterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        token = await bridge.tokens.create(f"sup-{uuid.uuid4().hex[:6]}", Role.SUPERVISOR)
        yield client, token


async def test_a_rung_agent_shows_as_ringing_by_gonghao_then_as_not_answering(  # type: ignore[no-untyped-def]
    live, ami
) -> None:
    _browser_or_fail()
    client, token = live
    ami_client, _ = ami
    sup = {"Authorization": f"Bearer {token}"}
    await ami_client.action({"Action": "Setvar", "Variable": f"SIM_AGENT_DELAY_{JOB}",
                             "Value": "never"})  # fmt: skip
    response = await client.put(
        f"/api/agents/{JOB}",
        json={"name": "赵敏", "interface": f"Local/{JOB}@sim-agents/n", "skills": [QUEUE]},
        headers=sup,
    )
    assert response.status == 200, await response.text()
    assert (await client.post(f"/api/agents/{JOB}/login", headers=sup)).status == 200
    browser = await asyncio.to_thread(Browser)
    try:
        url = f"http://{client.host}:{client.port}/dashboard#token={token}"
        await asyncio.to_thread(browser.open, url)

        async def row_of_agent() -> list[str]:
            return await asyncio.to_thread(  # type: ignore[no-any-return]
                browser.js,
                "const r = [...document.querySelectorAll('#agents tbody tr')]"
                f".find(r => r.cells[0].textContent === '{JOB}');"
                "return r ? [r.className, ...[...r.cells].map(c => c.textContent)] : [];",
            )

        async def agent_is(label: str) -> bool:
            row = await row_of_agent()
            return bool(row) and row[3] == label

        await until(lambda: agent_is("空闲"), 15, f"{JOB} listed idle")
        # the caller stays 20 s; the agent never answers
        await place_queue_call(
            ami_client, SimulatedCaller("13500000311", pause_s=0, hold_s=20), QUEUE
        )
        await until(lambda: agent_is("振铃中"), 15, f"{JOB} shown ringing")
        row = await row_of_agent()
        assert row[0] == "state-ringing" and row[2] == "赵敏"
        waiting = await asyncio.to_thread(browser.text, "waiting")
        assert JOB in waiting and "Local/" not in waiting  # rung by 工号, not by interface
        assert "135******11" in waiting
        # the caller gave up after ~20 s of ringing: a ring over 15 s counts against the agent
        await until(lambda: agent_is("未接听"), 40, f"{JOB} shown not answering")
    finally:
        await asyncio.to_thread(browser.close)
        await client.post(f"/api/agents/{JOB}/logout", headers=sup)
