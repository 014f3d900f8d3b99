"""Alerts and deadlines at risk through the bridge's own web app (``make_web_app``) on a real
database: roles (401/403), filters, acknowledgement, the per-order deadline view, the watch
woken by a work order created through the API, and the dashboard in headless Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import Bridge, make_web_app
from ivr.calendar_cn import china_is_workday
from ivr.config import AlertsSettings, DatabaseSettings, Settings, SpeechSettings
from ivr.db.migrate import upgrade
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.access import Role
from ivr.domain.alerts import Alert, AlertLevel
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def settings(url: str, tmp_path: Path, **alerts: Any) -> Settings:
    return Settings(
        database=DatabaseSettings(url=url),
        speech=SpeechSettings(recognition=False, cache_dir=tmp_path / "prompts"),
        alerts=AlertsSettings(**alerts),
    )


@pytest.fixture
async def env(
    db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[TestClient, dict[str, str], Bridge]]:
    bridge = Bridge(settings(db_url, tmp_path, max_sleep_s=60, lead_s={"dispatch": 299}))
    tokens = {
        "supervisor": await bridge.tokens.create("sup", Role.SUPERVISOR),
        "admin": await bridge.tokens.create("root", Role.ADMIN),
        "agent": await bridge.tokens.create("agent-1024", Role.AGENT, "1024"),
        "integration": await bridge.tokens.create("wo-system", Role.INTEGRATION),
    }
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        yield client, tokens, bridge
    if bridge.watch is not None:
        await bridge.watch.stop()
    await bridge.engine.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order(kind: OrderKind = OrderKind.REPAIR) -> NewOrder:
    return NewOrder(kind, None, "1024", "王", "先生", PhoneNumber("13800138000"), "停电")


async def made_ago(bridge: Bridge, ago: timedelta) -> str:
    """A repair order recorded ``ago`` (through the store, with its clock set back)."""
    at = datetime.now(UTC) - ago
    store = SqlWorkOrders(bridge.engine, china_is_workday, CallbackPolicy(), lambda: at)
    view, _ = await store.create(order(), "test", None)
    return view.order_no


async def test_roles_filters_ack_and_deadlines_at_risk(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, bridge = env
    assert bridge.watch is not None
    sup = auth(tokens["supervisor"])
    for path in ("/api/alerts", "/api/deadlines"):
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers=auth("nonsense"))).status == 401
        assert (await client.get(path, headers=auth(tokens["agent"]))).status == 403
        assert (await client.get(path, headers=auth(tokens["integration"]))).status == 403
        assert (await client.get(path, headers=auth(tokens["admin"]))).status == 200
    assert (await client.post("/api/alerts/1/ack", headers=auth(tokens["agent"]))).status == 403

    risky = await made_ago(bridge, timedelta(minutes=4, seconds=30))  # warned 1 s after
    overdue = await made_ago(bridge, timedelta(minutes=10))
    fresh = await made_ago(bridge, timedelta(seconds=-120))  # recorded "in 2 min": on track
    await bridge.watch.run_once()
    body = await (await client.get("/api/alerts", headers=sup)).json()
    assert {(a["order_no"], a["level"]) for a in body["alerts"]} == {
        (risky, "warning"),
        (overdue, "breach"),
    }
    await bridge.alerts.raise_alert(
        Alert("test:w", AlertLevel.WARNING, "dispatch", "crew not answering", datetime.now(UTC),
              order_no=risky, deadline="dispatch")
    )  # fmt: skip
    listed = (await (await client.get("/api/alerts?level=warning", headers=sup)).json())["alerts"]
    assert {a["key"] for a in listed} == {"test:w", f"deadline:{risky_id(body, risky)}"}
    breaches = await (await client.get("/api/alerts?level=breach", headers=sup)).json()
    assert [a["order_no"] for a in breaches["alerts"]] == [overdue]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = await client.get("/api/alerts", params={"since": future}, headers=sup)
    assert (await later.json())["alerts"] == []
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    before = await client.get("/api/alerts", params={"since": earlier}, headers=sup)
    assert len((await before.json())["alerts"]) == 3
    for bad in ("state=closed", "level=info", "since=yesterday", "since=2026-01-01T00:00",
                "limit=0", "limit=x"):  # fmt: skip
        response = await client.get(f"/api/alerts?{bad}", headers=sup)
        assert response.status == 400, bad
        assert "error" in await response.json()

    # acknowledge: idempotent, the first one is kept, it leaves the open list
    alert_id = next(a["id"] for a in listed if a["key"] == "test:w")
    first = await (await client.post(f"/api/alerts/{alert_id}/ack", headers=sup)).json()
    assert first["acknowledged_by"] == "supervisor:sup" and first["acknowledged_at"]
    again = await client.post(f"/api/alerts/{alert_id}/ack", headers=auth(tokens["admin"]))
    assert again.status == 200 and (await again.json())["acknowledged_by"] == "supervisor:sup"
    assert (await client.post("/api/alerts/999999/ack", headers=sup)).status == 404
    assert (await client.post("/api/alerts/12ab/ack", headers=sup)).status == 404
    open_keys = [
        a["key"] for a in (await (await client.get("/api/alerts", headers=sup)).json())["alerts"]
    ]
    assert "test:w" not in open_keys
    acked = await (await client.get("/api/alerts?state=acknowledged", headers=sup)).json()
    assert [a["key"] for a in acked["alerts"]] == ["test:w"]

    # deadlines per order, by their state now
    view = await (await client.get("/api/deadlines", headers=sup)).json()
    states = {o["order_no"]: [d["state"] for d in o["deadlines"]] for o in view["orders"]}
    assert states == {risky: ["at_risk"], overdue: ["overdue"]}
    [over] = [o for o in view["orders"] if o["order_no"] == overdue]
    assert over["kind"] == "repair" and over["deadlines"][0]["breached"] is True
    assert over["deadlines"][0]["seconds_left"] < 0
    assert "customer_phone" not in over and "13800138000" not in str(view)
    only = await (
        await client.get(f"/api/deadlines?state=open&order_no={fresh}", headers=sup)
    ).json()
    assert [d["state"] for d in only["orders"][0]["deadlines"]] == ["on_track"]
    assert (await client.get("/api/deadlines?state=late", headers=sup)).status == 400
    assert (await client.get("/api/deadlines?order_no=x", headers=sup)).status == 400


def risky_id(alerts: dict[str, Any], order_no: str) -> str:
    """The warning key of ``order_no``'s dispatch limit, as the watch named it."""
    key = next(a["key"] for a in alerts["alerts"] if a["order_no"] == order_no)
    return key.removeprefix("deadline:")


async def test_an_order_created_through_the_api_wakes_the_watch(env) -> None:  # type: ignore[no-untyped-def]
    client, tokens, bridge = env
    assert bridge.watch is not None
    bridge.watch.start()  # nothing to watch: it sleeps 60 s (max_sleep_s)
    await asyncio.sleep(0.3)
    created = await client.post(
        "/api/work-orders",
        json={
            "kind": "repair",
            "customer": {"surname": "王", "title": "先生", "phone": "13800138000"},
            "summary": "整栋楼停电",
            "owner_job_number": "1024",
        },
        headers=auth(tokens["integration"]),
    )
    assert created.status == 201
    order_no = (await created.json())["order_no"]
    sup = auth(tokens["supervisor"])

    async def warned() -> bool:  # lead 299 s: the warning is due 1 s after creation
        rows = (await (await client.get("/api/alerts", headers=sup)).json())["alerts"]
        return any(a["order_no"] == order_no and a["level"] == "warning" for a in rows)

    await until(warned, 10, "the new order's warning, long before the watch's 60 s sleep ends")


def _browser_or_fail() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = (
            f"headless browser test needs {missing} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


async def test_dashboard_shows_open_alerts_as_text_and_acknowledges(  # type: ignore[no-untyped-def]
    sqlite_url: str, tmp_path: Path
) -> None:
    from ivr_sandbox.browser import Browser

    _browser_or_fail()
    await upgrade(sqlite_url)
    bridge = Bridge(settings(sqlite_url, tmp_path, watch=False))
    token = await bridge.tokens.create("sup-dash", Role.SUPERVISOR)
    order_no = await made_ago(bridge, timedelta(minutes=7))
    evil = '<img src=x onerror="window.__xss=1">'
    await bridge.alerts.raise_alert(
        Alert("deadline:x:dispatch:breach", AlertLevel.BREACH, "deadline",
              f"repair order {order_no}: dispatch overdue {evil}", datetime.now(UTC),
              order_no=order_no, deadline="dispatch", due_at=datetime.now(UTC),
              details={"provisional": "true"})
    )  # fmt: skip
    browser = await asyncio.to_thread(Browser)
    try:
        async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as web:
            url = f"http://{web.host}:{web.port}/dashboard#token={token}"
            await asyncio.to_thread(browser.driver.get, url)

            async def shows(needle: str) -> bool:
                return needle in await asyncio.to_thread(browser.text, "alerts")

            await until(lambda: shows(order_no), 15, "the alert shown")
            text = await asyncio.to_thread(browser.text, "alerts")
            # labels in the centre's language (Chinese): 超时 = breach, 暂定 = provisional
            assert evil in text and "超时" in text and "（暂定）" in text
            assert await asyncio.to_thread(browser.text, "alerts-status") == "1 条未确认"
            assert (
                await asyncio.to_thread(browser.driver.execute_script, "return window.__xss")
                is None
            )
            button = await asyncio.to_thread(
                browser.driver.find_element, "css selector", "#alerts button"
            )
            await asyncio.to_thread(button.click)
            await until(lambda: _not(shows(order_no)), 10, "the acknowledged alert gone")
            [row] = await bridge.alerts.list(acknowledged=True)
            assert row["acknowledged_by"] == "supervisor:sup-dash"
    finally:
        await asyncio.to_thread(browser.close)
        await bridge.engine.dispose()


async def _not(check: Any) -> bool:
    return not await check


async def until(check: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.2)


async def test_deadlines_agree_with_a_dispatch_warning_raised_before_the_watchs_time(
    db_url: str, tmp_path: Path
) -> None:
    """The dispatcher warns of a repair's dispatch limit as soon as it sees the risk (nobody on
    duty), before the watch's own warning time: /api/deadlines says at_risk and warned, as the
    open alert does, and not on_track."""
    from sqlalchemy import select

    from ivr.db.workorder_models import orders_table
    from ivr.domain.dispatch import AtRisk
    from ivr.services.dispatcher import at_risk_alert

    bridge = Bridge(settings(db_url, tmp_path))  # the default lead: the watch warns at 3 min
    token = await bridge.tokens.create("sup", Role.SUPERVISOR)
    try:
        order_no = await made_ago(bridge, timedelta(seconds=13))
        async with bridge.engine.connect() as conn:
            order_id = await conn.scalar(
                select(orders_table.c.id).where(orders_table.c.order_no == order_no)
            )
        async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
            path = f"/api/deadlines?state=open&order_no={order_no}"
            [before] = (await (await client.get(path, headers=auth(token))).json())["orders"]
            dispatch = {d["name"]: d for d in before["deadlines"]}["dispatch"]
            assert (dispatch["state"], dispatch["warned"]) == ("on_track", False)
            now = datetime.now(UTC)
            risk = AtRisk(0, order_id, order_no, now + timedelta(minutes=4), "nobody on duty")
            assert await bridge.alerts.raise_alert(at_risk_alert(risk, now))
            [alert] = (await (await client.get("/api/alerts", headers=auth(token))).json())[
                "alerts"
            ]
            assert (alert["order_no"], alert["deadline"], alert["level"]) == (
                order_no,
                "dispatch",
                "warning",
            )
            [after] = (await (await client.get(path, headers=auth(token))).json())["orders"]
            dispatch = {d["name"]: d for d in after["deadlines"]}["dispatch"]
            assert (dispatch["state"], dispatch["warned"], dispatch["breached"]) == (
                "at_risk",
                True,
                False,
            )
            attention = await client.get("/api/deadlines", headers=auth(token))
            assert order_no in [o["order_no"] for o in (await attention.json())["orders"]]
    finally:
        await bridge.engine.dispose()
