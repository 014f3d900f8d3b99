"""Agents on desk phones: the shipped ``[agent-dial]`` path, proven with a stand-in phone.

The agent logs in through ``AgentControl`` (as the API does) with a device; the queue member is
``Local/<工号>@agent-dial/n`` watching the device's state, and ``[agent-dial]`` dials the device
from a global. The sandbox has no SIP phones, so the device is ``Local/<id>@sim-phones/n`` (a
context the sandbox names in ``IVR_TEST_PHONES``) that rings for a scripted time and answers:
everything between the queue and the phone is the production dialplan. The simulated caller
records what it hears; the greeting must be in it, after the phone answered, and the tracker
must time the ring to that answer.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import make_web_app
from ivr.config import Settings
from ivr.domain.access import Principal, Role
from ivr.domain.agents import Agent, greeting_text, phone_member_interface
from ivr.services.agent_control import check_agent
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.test_agent_greeting import best_match, envelope
from tests.integration.test_answer_times import finished_visits
from tests.log_scan import register_secret

pytestmark = pytest.mark.integration

SUPERVISOR = Principal("test supervisor", Role.SUPERVISOR)
PHONE_DELAY_S = 2.0
SAY_AFTER_S = 5.0  # the agent speaks this long after picking up (the greeting is shorter)
AGENT_SAYS = "请问有什么可以帮您"


async def dialled_device(client, job_number: str) -> str:  # type: ignore[no-untyped-def]
    """What [agent-dial] will dial for this agent ("" for nothing)."""
    reply = await client.action({"Action": "Getvar", "Variable": f"IVR_AGENT_DEVICE_{job_number}"})
    return str(reply.get("Value") or "")


async def wait_for_recording(path):  # type: ignore[no-untyped-def]
    for _ in range(20):  # Record() closes its file as the channel goes
        if path.exists():
            return path
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recording at {path}")


async def test_phone_agent_greets_the_caller_and_is_timed(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    control = bridge.control
    control.test_phone_context = "sim-phones"
    interface = phone_member_interface("4711")
    agent = Agent("4711", "phone agent", interface, ("q-t-3",), "Local/9001@sim-phones/n")
    await bridge.agents.put(check_agent(agent, "sim-phones"))
    prompt = await bridge.prompts.prompt_path(greeting_text("4711"))
    agent_says = await bridge.prompts.prompt_path(AGENT_SAYS)
    greeting = envelope(prompt.with_suffix(".wav"))
    assert len(greeting) * 0.02 < SAY_AFTER_S - 0.5, "the greeting would overlap the agent"
    phone = {
        "DELAY": f"{PHONE_DELAY_S:g}",
        "SAY": str(agent_says),
        "SAY_AFTER": f"{SAY_AFTER_S:g}",
        "TALK": "1",
    }
    for name, value in phone.items():
        await client.action(
            {"Action": "Setvar", "Variable": f"SIM_PHONE_{name}_9001", "Value": value}
        )
    target = Settings().sandbox.recordings_dir / f"phone-greeting-{uuid.uuid4().hex[:8]}"
    await control.log_in(SUPERVISOR, "4711")
    try:
        assert await dialled_device(client, "4711") == "Local/9001@sim-phones/n"
        await place_queue_call(
            client,
            SimulatedCaller("13500000501", pause_s=0, hold_s=16),
            "q-t-3",
            record_to=str(target),
        )
        visits = await finished_visits(bridge, {"13500000501"}, 40)
        added = events.named("QueueMemberAdded", Queue="q-t-3", Interface=interface)
        assert added, "no QueueMemberAdded for the phone agent"
        assert added[-1].get("StateInterface") == "Local/9001@sim-phones"
    finally:
        await control.log_out(SUPERVISOR, "4711")
        control.test_phone_context = None
    assert await dialled_device(client, "4711") == ""  # logged out: nothing left to ring
    visit = visits["13500000501"]
    assert visit.agent_interface == interface
    assert visit.ring_to_answer_ms is not None
    print(f"phone agent: ring-to-answer {visit.ring_to_answer_ms} ms (phone rings 2 s)")
    # the ring is the phone's: the scripted delay plus the Local hops, within 50 ms
    assert abs(visit.ring_to_answer_ms - PHONE_DELAY_S * 1000) <= 50
    wav = await wait_for_recording(target.with_suffix(".wav"))
    try:
        heard = envelope(wav)
        offset, score = best_match(heard, greeting)
        answered_at = (visit.answered_us - visit.joined_us) / 1e6  # type: ignore[operator]
        print(
            f"greeting {offset * 20} ms into the recording (answer at {answered_at:.3f} s), "
            f"correlation {score:.3f}"
        )
        assert score > 0.9
        assert max(heard[: int(answered_at * 50) - 5], default=0) < 100  # nothing before
        assert answered_at - 0.2 <= offset * 0.02 <= answered_at + 1.0
        # then caller and phone are bridged: what the agent says reaches the caller, after the
        # greeting. (The stand-in's Wait() ends when Bridge() takes its other half, so it
        # speaks as soon as the greeting is over and hangs up as it finishes: the recording
        # may stop inside its last syllable, so its first half is what we look for.)
        words = envelope(agent_says.with_suffix(".wav"))
        spoke_at, spoke_score = best_match(heard, words[: len(words) // 2])
        print(f"the agent's words {spoke_at * 20} ms in, correlation {spoke_score:.3f}")
        assert spoke_score > 0.9
        assert spoke_at >= offset + len(greeting) - 10  # not over the greeting (200 ms slack)
    finally:
        wav.unlink(missing_ok=True)


async def test_agent_dial_refuses_a_device_that_is_not_a_phone(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    """A device set around the API (straight over AMI) is not dialled: nobody answers."""
    client, events = ami
    interface = phone_member_interface("4712")
    await client.set_agent_device("4712", "Local/2199@sim-agents/n")
    await client.queue_add("q-t-4", interface, "4712", "Local/2199@sim-agents")
    try:
        await place_queue_call(
            client, SimulatedCaller("13500000502", pause_s=0, hold_s=10), "q-t-4", queue_timeout_s=4
        )
        visits = await finished_visits(bridge, {"13500000502"}, 30)
    finally:
        await client.queue_remove("q-t-4", interface)
        await client.set_agent_device("4712", None)
    assert visits["13500000502"].outcome.value == "timed_out"
    assert not events.named("SimAgentAnswered", Agent="2199")


async def test_api_registers_a_phone_agent_and_refuses_unsafe_devices(bridge) -> None:  # type: ignore[no-untyped-def]
    token = await bridge.tokens.create(f"sup-{uuid.uuid4().hex[:6]}", Role.SUPERVISOR)
    headers = {"Authorization": f"Bearer {token}"}
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as web:
        body = {"name": "王工", "device": "PJSIP/desk4713", "skills": ["q-repair"]}
        response = await web.put("/api/agents/4713", json=body, headers=headers)
        assert response.status == 400  # not a seat (yet): nothing to register as that phone
        assert "not a seat" in (await response.json())["error"]
        seat = await bridge.seats.add(Principal("test", Role.SUPERVISOR), "desk4713")
        register_secret(seat.secret)
        response = await web.put("/api/agents/4713", json=body, headers=headers)
        assert response.status == 200, await response.text()
        agent = await response.json()
        assert (agent["interface"], agent["device"]) == (
            "Local/4713@agent-dial/n",
            "PJSIP/desk4713",
        )
        stored = await bridge.agents.get("4713")
        assert (stored.interface, stored.device) == ("Local/4713@agent-dial/n", "PJSIP/desk4713")
        for device in (
            "PJSIP/desk4713&PJSIP/8002",
            "PJSIP/13500000000@trunk-95598",
            "PJSIP/trunk-95598",  # the carrier's endpoint: well-formed, but no seat
            "Local/9001@sim-phones/n",
        ):
            body = {"name": "x", "device": device, "skills": ["q-repair"]}
            response = await web.put("/api/agents/4714", json=body, headers=headers)
            assert response.status == 400, device
            assert "device" in (await response.json())["error"]
        body = {"name": "x", "interface": "Local/4714@agent-dial/n", "skills": ["q-repair"]}
        response = await web.put("/api/agents/4714", json=body, headers=headers)
        assert response.status == 400  # an [agent-dial] member with nothing to dial
    assert await bridge.agents.get("4714") is None
    await bridge.seats.remove(Principal("test", Role.SUPERVISOR), "desk4713")


async def test_caller_hanging_up_during_the_greeting_releases_the_phone(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    """The phone's leg waits silently while the caller is greeted; if the caller leaves then,
    the phone is hung up at once (not left off-hook until [agent-dial]'s Wait() runs out)."""
    client, events = ami
    control = bridge.control
    control.test_phone_context = "sim-phones"
    interface = phone_member_interface("4715")
    agent = Agent("4715", "phone agent 2", interface, ("q-t-5",), "Local/9002@sim-phones/n")
    await bridge.agents.put(check_agent(agent, "sim-phones"))
    for name, value in (("DELAY", "1"), ("SAY", ""), ("TALK", "30")):
        await client.action(
            {"Action": "Setvar", "Variable": f"SIM_PHONE_{name}_9002", "Value": value}
        )
    await control.log_in(SUPERVISOR, "4715")
    try:
        # the caller holds 3 s: the phone answers at 1 s, the greeting (3.4 s) is still playing
        await place_queue_call(client, SimulatedCaller("13500000505", pause_s=0, hold_s=3), "q-t-5")
        visits = await finished_visits(bridge, {"13500000505"}, 30)
        assert visits["13500000505"].agent_interface == agent.interface
        for _ in range(50):
            answered = events.named("UserEvent", UserEvent="SimPhoneAnswered", Phone="9002")
            gone = [
                e
                for e in events.named("Hangup")
                if e.get("Channel", "").startswith("Local/9002@sim-phones-")
                and e.get("Channel", "").endswith(";1")
            ]
            if answered and gone:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the phone's leg is still up 10 s after the caller left")
    finally:
        await control.log_out(SUPERVISOR, "4715")
        control.test_phone_context = None
    held = float(gone[-1]["Timestamp"]) - float(answered[-1]["Timestamp"])
    print(f"phone released {held:.3f} s after it answered (caller left 2 s after that)")
    assert held < 5  # released with the caller, not after its 30 s of talk or a 60 s Wait()
