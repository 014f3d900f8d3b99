"""Agents on real SIP phones: seats provisioned through the API, baresip as the phone.

Everything between the API and the phone is real: the seat's endpoint is written into the
generated include and Asterisk reloads res_pjsip through the seats' own AMI user (no restart);
baresip registers with the secret the API showed once; the queue's member
``Local/<工号>@agent-dial/n`` dials ``PJSIP/<seat>``, the phone rings (180) and picks up (200)
after a delay the test sets; the bridge's tracker times that ring; the phone's own recording of
what it received holds the greeting 您好，{工号}号为您服务. Callers are simulated (Local).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import make_web_app
from ivr.config import Settings
from ivr.domain.access import Role
from ivr.domain.agents import greeting_text
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.sip_phone import baresip_phone
from tests.integration.test_agent_greeting import best_match, envelope
from tests.integration.test_answer_times import finished_visits
from tests.log_scan import register_secret

pytestmark = pytest.mark.integration

ANSWER_AFTER_S = 1.5
QUEUE = "q-t-9"


def contacts() -> str:
    return AsteriskSandbox.from_settings(Settings()).rx("pjsip show contacts")


async def _web(bridge):  # type: ignore[no-untyped-def]
    token = await bridge.tokens.create(f"seat-sup-{uuid.uuid4().hex[:6]}", Role.SUPERVISOR)
    client = TestClient(TestServer(make_web_app(bridge, manage_bridge=False)))
    await client.start_server()
    return client, {"Authorization": f"Bearer {token}"}


async def add_seat(web, headers, name: str) -> str:  # type: ignore[no-untyped-def]
    response = await web.post("/api/seats", json={"name": name}, headers=headers)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert (body["name"], body["device"]) == (name, f"PJSIP/{name}")
    assert response.headers["Cache-Control"] == "no-store"
    register_secret(body["secret"])  # the log scan fails the run if it is ever logged
    return str(body["secret"])


async def test_seat_added_registers_without_restart_and_removed_is_refused(
    bridge, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    box = AsteriskSandbox.from_settings(Settings())
    pid = box._daemon_pid()
    web, headers = await _web(bridge)
    name = f"s{uuid.uuid4().hex[:8]}"
    try:
        secret = await add_seat(web, headers, name)
        seats_file = (box.seats_conf_dir / "pjsip_seats.conf").read_text()
        assert f"[{name}]" in seats_file and secret not in seats_file  # hash only
        stored = await bridge.seats.get(name)
        assert stored is not None and secret not in stored.password_digest
        listed = await (await web.get("/api/seats", headers=headers)).json()
        assert name in [s["name"] for s in listed["seats"]]
        assert all("secret" not in s for s in listed["seats"])

        async with baresip_phone(tmp_path / "wrong", name, secret + "x", 5171) as phone:
            failed = await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")
        assert failed.type == "REGISTER_FAIL"  # a wrong password is refused
        async with baresip_phone(tmp_path / "right", name, secret, 5174) as phone:
            ok = await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")
            assert ok.type == "REGISTER_OK", phone.log_tail()
            shown = contacts()
            # registered, and reachable: Asterisk's OPTIONS (qualify) reach the phone
            assert re.search(
                rf"Contact:\s+{name}/sip:{name}\S*@127\.0\.0\S*\s+[0-9a-f]+\s+Avail", shown
            ), shown

        response = await web.delete(f"/api/seats/{name}", headers=headers)
        assert response.status == 200, await response.text()
        assert f"[{name}]" not in (box.seats_conf_dir / "pjsip_seats.conf").read_text()
        async with baresip_phone(tmp_path / "gone", name, secret, 5177) as phone:
            gone = await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")
        assert gone.type == "REGISTER_FAIL"  # the removed seat's secret opens nothing
        assert f"{name}/sip:" not in contacts()
        assert box._daemon_pid() == pid  # all of it without restarting Asterisk
    finally:
        await web.delete(f"/api/seats/{name}", headers=headers)
        await web.close()


async def test_seats_api_refuses_bad_names_and_agents(bridge) -> None:  # type: ignore[no-untyped-def]
    web, headers = await _web(bridge)
    agent_token = await bridge.tokens.create(f"seat-ag-{uuid.uuid4().hex[:6]}", Role.AGENT, "4799")
    try:
        for bad in ("", "a" * 33, "8001&PJSIP/x", "x@trunk-95598", "a-b", "anonymous", "座席"):
            response = await web.post("/api/seats", json={"name": bad}, headers=headers)
            assert response.status == 400, bad
            assert "seat name" in (await response.json())["error"] or bad == "anonymous"
        as_agent = {"Authorization": f"Bearer {agent_token}"}
        response = await web.post("/api/seats", json={"name": "s1"}, headers=as_agent)
        assert response.status == 403
        response = await web.post("/api/seats", json={"name": 5}, headers=headers)
        assert response.status == 422
        assert await bridge.seats.get("s1") is None
    finally:
        await web.close()


async def test_queue_rings_the_registered_phone_which_hears_the_greeting(
    bridge, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    web, headers = await _web(bridge)
    name, job = f"s{uuid.uuid4().hex[:8]}", "4721"
    caller = "13500000721"
    try:
        secret = await add_seat(web, headers, name)
        body = {"name": "坐席测试", "device": f"PJSIP/{name}", "skills": [QUEUE]}
        response = await web.put(f"/api/agents/{job}", json=body, headers=headers)
        assert response.status == 200, await response.text()
        async with baresip_phone(tmp_path / "phone", name, secret, 5181, ANSWER_AFTER_S) as phone:
            assert (await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")).type == "REGISTER_OK"
            response = await web.post(f"/api/agents/{job}/login", headers=headers)
            assert response.status == 200, await response.text()
            try:
                await place_queue_call(client, SimulatedCaller(caller, pause_s=0, hold_s=12), QUEUE)
                visits = await finished_visits(bridge, {caller}, 40)
            finally:
                await web.post(f"/api/agents/{job}/logout", headers=headers)
            incoming = await phone.wait_for("CALL_INCOMING")
            await phone.wait_for("CALL_ESTABLISHED")
            await phone.wait_for("CALL_CLOSED", timeout_s=20)
        heard = phone.heard()
        # Asterisk saw the phone ring (180) and answer (200) on its PJSIP channel
        rang = [
            e
            for e in events.named("DialState", DialStatus="RINGING")
            if e.get("DestChannel", "").startswith(f"PJSIP/{name}-")
        ]
        answered = [
            e
            for e in events.named("DialEnd", DialStatus="ANSWER")
            if e.get("DestChannel", "").startswith(f"PJSIP/{name}-")
        ]
        assert rang and answered, "no 180 Ringing / 200 OK from the phone's channel"
        assert incoming.body.get("peeruri", "") != ""
        visit = visits[caller]
        assert visit.answered_us is not None and visit.ring_to_answer_ms is not None
        print(
            f"baresip answered after {ANSWER_AFTER_S * 1000:.0f} ms of ringing; the tracker "
            f"measured ring-to-answer {visit.ring_to_answer_ms} ms"
        )
        # a check of the measurement: the ring the tracker times is the phone's own ring
        assert abs(visit.ring_to_answer_ms - ANSWER_AFTER_S * 1000) <= 50
        prompt = await bridge.prompts.prompt_path(greeting_text(job))
        greeting = envelope(prompt.with_suffix(".wav"))
        # all but its last 200 ms: Bridge() may take the phone's leg as those last frames play
        offset, score = best_match(envelope(heard), greeting[:-10])
        print(f"greeting {offset * 20} ms into the phone's recording, correlation {score:.3f}")
        assert score > 0.9
        assert offset <= 5  # the first thing the agent hears once they pick up
    finally:
        await web.delete(f"/api/seats/{name}", headers=headers)
        await web.close()


async def test_ivr_seat_command_adds_lists_and_removes(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`ivr seat` as an operator runs it: the secret on stdout once, the seat in Asterisk."""
    box = AsteriskSandbox.from_settings(Settings())
    seats_ami = box.seats_ami
    env = os.environ | {
        "IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'seats.db'}",
        "IVR_SEATS__CONF_DIR": str(box.seats_conf_dir),
        "IVR_SEATS__AMI__SECRET": seats_ami.secret,
    }
    name = f"c{uuid.uuid4().hex[:8]}"

    async def ivr(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "seat", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await ivr("list")
    assert code == 0 and out == "" and "no seats yet" in err
    code, out, err = await ivr("add", name)
    assert code == 0, err
    [secret] = re.findall(r"^secret (\S+)$", out, re.M)
    register_secret(secret)
    try:
        assert "shown once" in err
        assert f"[{name}]" in (box.seats_conf_dir / "pjsip_seats.conf").read_text()
        assert f"Endpoint:  {name}" in box.rx(f"pjsip show endpoint {name}")
        code, out, _ = await ivr("list")
        assert code == 0 and out.startswith(f"{name}\t") and secret not in out
        code, _, err = await ivr("add", "bad-name")
        assert code == 2 and "seat name" in err
        code, _, err = await ivr("add", name)
        assert code == 2 and "exists" in err
    finally:
        code, _, err = await ivr("remove", name)
    assert code == 0, err
    assert f"[{name}]" not in (box.seats_conf_dir / "pjsip_seats.conf").read_text()
