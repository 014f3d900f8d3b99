"""The agent's workspace page in a real headless Chromium, on the running bridge and the
sandboxed Asterisk: a caller dials 95598 and presses 1-1; the ringing agent's page pops with the
number, the choice and a running 15-second ring timer before the agent answers; on answer the
order form is prefilled; the agent records the repair order with two form actions (the surname,
then the summary and Enter). A mistyped phone is refused by the bridge and its problem shown
next to the phone field, the form kept; corrected, the order is saved with Enter while the
bridge's web server is restarted under the page: the link drops, the save fails, nothing typed
is lost, the page reconnects by itself, resyncs the call and saves the order once. The order
is linked to the call and owned by that agent's 工号.
From the page the agent then blind-transfers the live call: a 工号 with letters is refused by
the page itself, an unknown 工号 by the bridge (the error shown beside the control), and a test
queue takes the call, recorded on the call (``GET /api/calls/{id}``). Closed from the page's
list, the order shows the 回访 its close scheduled; once the 回访 has a result (written through
the bridge's own callback store, as its dialer writes an answered call's conversation) the list
shows it: answered, not satisfied, power restored, the customer's words recorded. Markup in
every displayed field stays text.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from ivr.app import callback_policy, make_web_app
from ivr.db.callback_store import SqlCallbacks
from ivr.domain.access import Role
from ivr.domain.callbacks import AttemptResult, Conversation
from ivr_sandbox.simulation import SimulatedCaller, place_call
from tests.integration.test_dashboard import Browser, _browser_or_fail, _not, until

pytestmark = pytest.mark.integration

JOB = "3201"
INTERFACE = f"Local/{JOB}@sim-agents/n"
CALLER = "13500000991"
XFER_TO = "q-t-xfer-b"  # one of the session bridge's transfer queues
XSS = '<img src=x onerror="window.__xss=1">'


class WebServer:
    """The bridge's web app on a fixed port, stopped and started again like a restarted bridge
    (the bridge's calls and tracking go on; every page's connection drops)."""

    def __init__(self, bridge: Any, port: int) -> None:
        self.bridge, self.port = bridge, port
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.runner = web.AppRunner(make_web_app(self.bridge, manage_bridge=False))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def server(bridge) -> AsyncIterator[WebServer]:  # type: ignore[no-untyped-def]
    found = WebServer(bridge, unused_port())
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
async def others_paused(bridge, ami) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """Only our agent takes q-repair calls during the test: other members (other tests' agents)
    are paused in q-repair and unpaused afterwards."""
    client, _ = ami
    paused = [
        m.interface
        for m in bridge.tracking.board.members.values()
        if m.queue == "q-repair" and m.interface != INTERFACE and not m.paused
    ]
    for interface in paused:
        await client.action(
            {"Action": "QueuePause", "Queue": "q-repair", "Interface": interface, "Paused": "true"}
        )
    yield
    for interface in paused:
        await client.action(
            {"Action": "QueuePause", "Queue": "q-repair", "Interface": interface, "Paused": "false"}
        )


async def js(browser: Browser, script: str) -> Any:
    return await asyncio.to_thread(browser.driver.execute_script, script)


async def text(browser: Browser, element_id: str) -> str:
    return await asyncio.to_thread(browser.text, element_id)


async def shows(browser: Browser, element_id: str, needle: str) -> bool:
    return needle in await text(browser, element_id)


async def type_into(browser: Browser, element_id: str, keys: str) -> None:
    def send() -> None:
        browser.driver.find_element("id", element_id).send_keys(keys)

    await asyncio.to_thread(send)


async def no_xss(browser: Browser) -> None:
    assert await js(browser, "return window.__xss") is None


async def the_customer_answers_the_callback(bridge, phone: str) -> None:  # type: ignore[no-untyped-def]
    """What the dialer writes when the simulated customer answers the 回访 (satisfied: no,
    power restored: yes, a suggestion recorded), through the product's callback store: claim
    the due attempt, originate, the conversation's outcome. The store's clock is put where
    the calling window is open, so the test does not depend on the time of day."""
    policy = callback_policy(bridge.settings.callback)
    moment = policy.window.next_open(datetime.now(UTC) + timedelta(seconds=1))
    store = SqlCallbacks(bridge.engine, policy, lambda: moment)
    owner = f"wb-dialer-{uuid.uuid4().hex[:6]}"
    claims = await store.claim(owner, max_live=500, min_gap_s=0, lease_s=600, limit=500)
    (mine,) = [c for c in claims if c.phone.digits == phone]
    assert await store.start_originate(mine.action_id, owner, 600)
    outcome = Conversation(
        AttemptResult.COMPLETED,
        right_person=True,
        power_restored=True,
        satisfied=False,
        suggestion_path="callbacks/suggestion-wb.wav",
    )
    await store.conversation_done(mine.action_id, outcome)


async def test_the_ringing_agents_page_pops_records_the_order_and_survives_a_restart(  # type: ignore[no-untyped-def]
    server, bridge, ami, others_paused
) -> None:
    _browser_or_fail()
    client, log = ami
    tag = uuid.uuid4().hex[:6]
    sup = {
        "Authorization": f"Bearer {await bridge.tokens.create(f'wb-sup-{tag}', Role.SUPERVISOR)}"
    }
    token = await bridge.tokens.create(f"wb-{JOB}-{tag}", Role.AGENT, JOB)
    me = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession(base_url=base) as http:
        put = await http.put(
            f"/api/agents/{JOB}",
            json={"name": XSS, "interface": INTERFACE, "skills": ["q-repair"]},
            headers=sup,
        )
        assert put.status == 200, await put.text()
        # the caller's earlier order (its summary is markup: shown as text in the history)
        earlier = await http.post(
            "/api/work-orders",
            json={
                "kind": "consultation",
                "customer": {"surname": "王", "title": "女士", "phone": CALLER},
                "summary": XSS,
            },
            headers=me,
        )
        assert earlier.status == 201, await earlier.text()
        earlier_no = (await earlier.json())["order_no"]
        note = await http.patch(
            f"/api/work-orders/{earlier_no}",
            json={"note": "<script>window.__xss=2</script>"},
            headers=me,
        )
        assert note.status == 200
        for name, value in ((f"SIM_AGENT_DELAY_{JOB}", "6"), (f"SIM_AGENT_TALK_{JOB}", "60")):
            await client.action({"Action": "Setvar", "Variable": name, "Value": value})

        browser = await asyncio.to_thread(Browser)
        try:
            await asyncio.to_thread(browser.driver.get, f"{base}/workspace#token={token}")
            await until(lambda: shows(browser, "link", "live"), 15, "the page's feed is live")
            where = await js(browser, "return location.href")
            assert token not in where and "token" not in where
            await until(lambda: shows(browser, "my-orders", earlier_no), 10, "my orders listed")
            # its next deadline in the centre's time, to the second, though the browser runs
            # in UTC: the API's +08:00 wall clock, not the browser's zone
            mine = await (await http.get("/api/agents/me/work-orders", headers=me)).json()
            (listed,) = [o for o in mine["orders"] if o["order_no"] == earlier_no]
            due = listed["next_deadline"]["due_at"]
            assert due.endswith("+08:00"), due
            shown = await js(
                browser,
                f"return document.querySelector('#my-orders tr[data-order=\"{earlier_no}\"]')"
                ".children[3].textContent",
            )
            assert f"{due[:10]} {due[11:19]} (" in shown, (due, shown)

            # the state buttons (the agent's own /api/agents/me/… routes)
            async def click(element_id: str) -> None:
                await asyncio.to_thread(
                    lambda: browser.driver.find_element("id", element_id).click()
                )

            await click("do-login")
            await until(lambda: shows(browser, "agent-state", "in q-repair"), 15, "logged in")
            await until(lambda: shows(browser, "agent-state", "ready"), 10, "ready")
            await asyncio.to_thread(
                lambda: browser.driver.find_element(
                    "css selector", "#pause-reason option[value='培训']"
                ).click()
            )
            await click("do-pause")
            await until(lambda: shows(browser, "agent-state", "培训"), 10, "paused for 培训")
            assert "paused" in await text(browser, "agent-state")
            await click("do-unpause")
            await until(lambda: shows(browser, "control-status", "unpause done"), 10, "unpaused")
            await until(lambda: _not(shows(browser, "agent-state", "培训")), 10, "ready again")
            await click("do-ready")  # not in after-call work: refused, and said so
            await until(lambda: shows(browser, "control-status", "ready failed"), 10, "refused")
            assert XSS in await text(browser, "my-orders")
            assert "<script>window.__xss=2</script>" in await text(browser, "my-orders")

            # a caller dials 95598 and presses 1, 1 (repair, no power)
            await place_call(client, SimulatedCaller(CALLER, "1ww1", hold_s=90))
            await until(lambda: shows(browser, "call-state", "ringing"), 40, "the page pops")
            assert await text(browser, "caller") == CALLER
            await until(lambda: shows(browser, "choice", "repair.no_power"), 5, "the choice")
            assert "main" in await text(browser, "menu-path")
            assert await text(browser, "ring-limit") == "/ 15 s"
            first = await text(browser, "ring-timer")

            async def timer_runs() -> bool:
                return await text(browser, "ring-timer") not in ("", first)

            await until(timer_runs, 5, "the ring timer counts")
            # still ringing: all of that before the agent answered
            assert "ringing" in await text(browser, "call-state")
            assert not await js(browser, "return document.getElementById('repeat').hidden")
            assert XSS in await text(browser, "history")  # the earlier order, as text
            await no_xss(browser)

            await until(lambda: shows(browser, "call-state", "talking"), 20, "answered")
            assert not await js(browser, "return document.getElementById('order').hidden")
            assert await js(browser, "return document.getElementById('f-kind').value") == "repair"
            assert await js(browser, "return document.getElementById('f-phone').value") == CALLER
            assert "回访" in await text(browser, "reminders")
            call_id = (await text(browser, "call-id")).strip()
            assert len(call_id) == 32

            # form action 1: the surname; then a reload keeps it (localStorage)
            await type_into(browser, "f-surname", "王")
            await asyncio.to_thread(browser.driver.refresh)
            await until(lambda: shows(browser, "link", "live"), 15, "live again after a reload")

            async def surname_kept() -> bool:
                return (
                    await js(browser, "return document.getElementById('f-surname').value") == "王"
                )

            await until(surname_kept, 5, "the typed surname kept across the reload")
            await until(lambda: shows(browser, "call-state", "talking"), 5, "the call resynced")

            # a mistyped phone: the bridge's 422 is shown next to that field, nothing is lost
            def set_phone(value: str) -> None:
                field = browser.driver.find_element("id", "f-phone")
                field.clear()
                field.send_keys(value)

            await asyncio.to_thread(set_phone, "12345")
            # form action 2: the summary and Enter
            await type_into(browser, "f-summary", f"整栋楼停电 {XSS}\n")
            await until(lambda: shows(browser, "err-phone", "mainland"), 10, "beside the phone")
            assert "correct the marked fields" in await text(browser, "form-status")
            assert await text(browser, "err-summary") == ""
            assert await js(browser, "return document.getElementById('f-summary').value") == (
                f"整栋楼停电 {XSS}"
            )
            await asyncio.to_thread(set_phone, CALLER)  # corrected; saved with the next Enter

            # the bridge's web server stops under the page: the link drops
            await server.stop()
            await until(lambda: shows(browser, "link", "reconnecting"), 10, "the page sees it")
            # Enter again: the save fails and is kept
            await type_into(browser, "f-summary", "\n")
            await until(lambda: shows(browser, "form-status", "kept"), 10, "the failed save kept")
            assert await text(browser, "err-phone") == ""
            assert await js(browser, "return document.getElementById('f-summary').value") == (
                f"整栋楼停电 {XSS}"
            )
            await server.start()
            await until(lambda: shows(browser, "link", "live"), 30, "reconnected by itself")
            assert await text(browser, "caller") == CALLER  # the same call, resynced
            assert "talking" in await text(browser, "call-state")
            await until(lambda: shows(browser, "mine-status", "saved"), 30, "the order saved")
            order_no = (await text(browser, "mine-status")).split()[-1]
            await until(lambda: shows(browser, "my-orders", order_no), 10, "listed as mine")
            await no_xss(browser)

            # blind transfer (转接) from the page while talking: the queues GET /api/agents/me
            # offers; a 工号 is digits only (checked by the page), then by the bridge
            assert not await js(browser, "return document.getElementById('transfer').hidden")

            option = f"#xfer-queue option[value='{XFER_TO}']"

            async def offered() -> bool:
                found = f'return !!document.querySelector("{option}")'
                return bool(await js(browser, found))

            await until(offered, 10, "the transfer queues offered")

            async def confirm_shown() -> bool:
                return not await js(
                    browser, "return document.getElementById('xfer-confirm').hidden"
                )

            def clear_job() -> None:
                browser.driver.find_element("id", "xfer-job").clear()

            await type_into(browser, "xfer-job", "12a")
            await until(lambda: shows(browser, "err-transfer", "digits only"), 5, "as typed")
            await click("do-transfer")
            assert "digits only" in await text(browser, "err-transfer")
            assert not await confirm_shown()  # refused by the page: nothing was asked
            await asyncio.to_thread(clear_job)
            await type_into(browser, "xfer-job", "99999")
            await click("do-transfer")
            await until(confirm_shown, 5, "the page asks to confirm")
            assert "工号 99999" in await text(browser, "xfer-question")
            await click("xfer-yes")
            await until(
                lambda: shows(browser, "err-transfer", "no agent with job number 99999"),
                10,
                "the bridge's refusal shown beside the control",
            )
            assert "talking" in await text(browser, "call-state")  # nothing moved
            await asyncio.to_thread(clear_job)
            await asyncio.to_thread(
                lambda: browser.driver.find_element("css selector", option).click()
            )
            await click("do-transfer")
            await until(confirm_shown, 5, "the page asks to confirm")
            assert f"queue {XFER_TO}" in await text(browser, "xfer-question")
            await click("xfer-yes")
            await until(
                lambda: shows(browser, "transfer-status", f"transferred to queue {XFER_TO}"),
                10,
                "the transfer done",
            )
            assert await text(browser, "err-transfer") == ""

            def joined_there() -> list[dict[str, str]]:
                return [
                    e
                    for e in log.named("QueueCallerJoin", Queue=XFER_TO)
                    if e.get("CallerIDNum") == CALLER
                ]

            await until(lambda: _now(joined_there()), 15, "the caller waits in the other queue")
            await until(lambda: shows(browser, "call-state", "no call"), 15, "the agent is free")
            assert await js(browser, "return document.getElementById('transfer').hidden")
            assert f"transferred to queue {XFER_TO}" in await text(browser, "transfer-status")
            call = await (await http.get(f"/api/calls/{call_id}", headers=sup)).json()
            keys = ("call_id", "from_job_number", "from_queue", "target_kind", "target", "actor")
            assert [tuple(t[k] for k in keys) for t in call["transfers"]] == [
                (call_id, JOB, "q-repair", "queue", XFER_TO, f"agent:{JOB}")
            ]
            moved = await client.channel_of(joined_there()[0]["Uniqueid"])
            if moved is not None:  # the caller needs nobody in the test queue: hang up
                await client.action({"Action": "Hangup", "Channel": moved})

            # closing it from the list with a resolution: the 回访 the policy schedules is shown
            def close_from_the_list() -> None:
                row = browser.driver.find_element("css selector", f'tr[data-order="{order_no}"]')
                row.find_element("css selector", ".resolution-input").send_keys(f"已抢修 {XSS}")
                row.find_element("css selector", ".close-button").click()

            await asyncio.to_thread(close_from_the_list)
            await until(lambda: shows(browser, "mine-status", f"closed {order_no}"), 10, "closed")
            await until(lambda: shows(browser, "my-orders", "回访 pending"), 10, "回访 shown")
            assert f"已抢修 {XSS}" in await text(browser, "my-orders")
            await no_xss(browser)

            # the simulated customer answers the 回访: the list shows its result
            await the_customer_answers_the_callback(bridge, CALLER)
            await asyncio.to_thread(browser.driver.refresh)  # the list polls every 30 s
            await until(lambda: shows(browser, "link", "live"), 15, "live after a reload")

            async def callback_cell() -> str:
                return await js(  # type: ignore[no-any-return]
                    browser,
                    f"const row = document.querySelector('tr[data-order=\"{order_no}\"]');"
                    " return row ? row.children[6].textContent : '';",
                )

            async def answered() -> bool:
                return "回访 done" in await callback_cell()

            await until(answered, 10, "the 回访's result shown")
            shown = await callback_cell()
            for part in ("completed", "不满意", "已恢复供电", "客户意见已录音"):
                assert part in shown, (part, shown)
            assert "满意" not in shown.replace("不满意", "")
            # and if markup reached the page, the CSP would still stop an inline handler
            await js(
                browser,
                "document.body.insertAdjacentHTML('beforeend',"
                " '<img src=x onerror=\"window.__csp=1\">');",
            )
            await asyncio.sleep(0.5)
            assert await js(browser, "return window.__csp") is None
            assert await js(browser, "return localStorage.length") == 0  # saved: nothing left
            await click("do-logout")
            await until(lambda: shows(browser, "agent-state", "logged_out"), 15, "logged out")
        finally:
            await asyncio.to_thread(browser.close)
            await http.post(f"/api/agents/{JOB}/logout", headers=sup)

        # the order: saved once, linked to the call both ways, owned by the answering agent
        mine = await (await http.get("/api/work-orders?kind=repair", headers=me)).json()
        repairs = [o for o in mine["orders"] if o["customer_phone"] == CALLER]
        assert [o["order_no"] for o in repairs] == [order_no]
        (order,) = repairs
        assert order["owner_job_number"] == JOB and order["call_ids"] == [call_id]
        # closed, and its 回访 done since
        assert order["status"] == "callback_done" and order["result"] == f"已抢修 {XSS}"
        assert order["customer_surname"] == "王" and order["summary"] == f"整栋楼停电 {XSS}"
        linked = await (await http.get(f"/api/calls/{call_id}/work-orders", headers=sup)).json()
        assert [o["order_no"] for o in linked["work_orders"]] == [order_no]
        record = await bridge.repository.get(call_id)
        assert record is not None and record.caller_number == CALLER
        assert record.choice == "repair.no_power"


async def _now(value: Any) -> Any:
    return value
