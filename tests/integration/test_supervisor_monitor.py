"""Supervisor listen / whisper / barge on the sandbox, with a real SIP phone as the
supervisor's: baresip registers the seat an admin assigned to the supervisor's token, the
API rings it into ChanSpy on the agent's leg of a live routed call, and what each party
hears is checked by pitch (Goertzel, 20 ms frames): the agent sends 1000 Hz bursts, the
caller 400 Hz; the supervisor's phone 2650 Hz when whispering, 2150 Hz when barging. The
caller's and the agent's ears are MixMonitor recordings of what their channels read.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
import wave
from array import array
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.app import make_web_app
from ivr.config import Settings
from ivr.domain.access import Role
from ivr.domain.agents import Agent
from ivr_sandbox.simulation import SimulatedCaller, log_in_agent, log_out_agent, place_call
from tests.integration.sip_phone import baresip_phone
from tests.integration.test_recordings import others_paused, sealed, tone
from tests.integration.test_seats import add_seat

pytestmark = pytest.mark.integration

AGENT_ID, JOB = "2141", "3141"
QUEUE = "q-general"  # menu key 0
AGENT_HZ, CALLER_HZ, WHISPER_HZ, BARGE_HZ = 1000, 400, 2650, 2150
HEARD = 0.15  # a tone is heard in a frame at 15 % of a full-frame tone of the sent level


def levels(path: Path, freq: int) -> list[float]:
    """Per 20 ms frame, the magnitude at ``freq`` as a share of a full-frame tone of
    amplitude 8000 (what every side here sends): ~1.0 where that tone is, ~0 elsewhere."""
    with wave.open(str(path), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        assert (width, channels) == (2, 1), (width, channels)
        samples = array("h", w.readframes(w.getnframes()))
    size = rate // 50
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    full = 8000 * size / 2
    out = []
    for start in range(0, len(samples) - size + 1, size):
        s1 = s2 = 0.0
        for x in samples[start : start + size]:
            s1, s2 = x + coeff * s1 - s2, s1
        out.append(math.sqrt(max(s1 * s1 + s2 * s2 - coeff * s1 * s2, 0.0)) / full)
    return out


def frames_heard(path: Path, freq: int) -> int:
    """Frames that carry a tone at ``freq``: loud there and four times louder than 100 Hz
    either side (speech, which the menu and the opening put in the same files, spreads its
    formants over neighbouring pitches; a tone does not)."""
    here, below, above = (levels(path, f) for f in (freq, freq - 100, freq + 100))
    return sum(
        1 for h, b, a in zip(here, below, above, strict=True) if h > HEARD and h > 4 * max(b, a)
    )


async def wait_file(path: Path, timeout_s: float = 20) -> Path:
    """A MixMonitor file, once Asterisk has closed it (its size stops changing)."""
    deadline = time.monotonic() + timeout_s
    last = -1
    while True:
        size = path.stat().st_size if path.exists() else -1
        if size > 44 and size == last:
            return path
        assert time.monotonic() < deadline, f"{path} not written"
        last = size
        await asyncio.sleep(1.0)


@pytest.fixture(scope="module")
async def setup(bridge, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Tokens, the supervisor's seat (provisioned, assigned by an admin), the tone files."""
    suffix = uuid.uuid4().hex[:6]
    supervisor = f"mon-sup-{suffix}"
    tokens = {
        "supervisor": await bridge.tokens.create(supervisor, Role.SUPERVISOR),
        "admin": await bridge.tokens.create(f"mon-adm-{suffix}", Role.ADMIN),
        "agent": await bridge.tokens.create(f"mon-agent-{suffix}", Role.AGENT, JOB),
    }
    shared = Settings().sandbox.recordings_dir  # visible to Asterisk as to us
    files = {}
    for name, freq, on, off in (("agent", AGENT_HZ, 0.4, 0.3), ("caller", CALLER_HZ, 0.6, 0.2)):
        path = shared / f"mon-{name}-tone"
        tone(path.with_suffix(".wav"), freq, [(on, True), (off, False)] * 45)
        os.chmod(path.with_suffix(".wav"), 0o644)
        files[name] = str(path)
    phones = Path(tmp_path_factory.mktemp("monitor-phones"))
    for name, freq in (("whisper", WHISPER_HZ), ("barge", BARGE_HZ)):
        tone(phones / f"{name}.wav", freq, [(0.3, True), (0.3, False)] * 100)
    seat = f"m{suffix}"
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as web:
        as_sup = {"Authorization": f"Bearer {tokens['supervisor']}"}
        secret = await add_seat(web, as_sup, seat)
        assigned = await web.put(
            f"/api/monitor-phones/{supervisor}",
            json={"seat": seat},
            headers={"Authorization": f"Bearer {tokens['admin']}"},
        )
        assert assigned.status == 200, await assigned.text()
        assert (await assigned.json())["device"] == f"PJSIP/{seat}"
        interface = f"Local/{AGENT_ID}@sim-agents/n"
        await bridge.agents.put(Agent(JOB, "monitored agent", interface, (QUEUE,)))
        try:
            yield {
                "web": web,
                "tokens": tokens,
                "supervisor": supervisor,
                "seat": seat,
                "secret": secret,
                "files": files,
                "phones": phones,
                "shared": shared,
            }
        finally:
            await web.delete(f"/api/seats/{seat}", headers=as_sup)


def auth(setup, who: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {setup['tokens'][who]}"}


async def live_call(bridge, client, setup, number: str, hear: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """Place a routed call that our agent answers; its call id once it is talking."""
    caller_hear = None if hear is None else f"{hear}-caller"
    await log_in_agent(
        client,
        AGENT_ID,
        [QUEUE],
        answer_after_s=0.5,
        talk_s=1,
        say=setup["files"]["agent"],
        hear=None if hear is None else f"{hear}-agent",
    )
    await place_call(
        client,
        SimulatedCaller(
            number, "0", hold_s=45, talk=setup["files"]["caller"], talk_after_s=0, hear=caller_hear
        ),
    )
    deadline = time.monotonic() + 60
    while True:
        visit = next((v for v in bridge.tracking.talking() if v.caller_number == number), None)
        if visit is not None:
            ids = await bridge.repository.call_ids_of([visit.unique_id])
            if visit.unique_id in ids:
                return str(ids[visit.unique_id])
        assert time.monotonic() < deadline, "the call was not answered"
        await asyncio.sleep(0.3)


async def monitor(setup, call_id: str, mode: str, who: str = "supervisor"):  # type: ignore[no-untyped-def]
    return await setup["web"].post(
        f"/api/calls/{call_id}/monitor", json={"mode": mode}, headers=auth(setup, who)
    )


async def test_supervisor_listens_and_hears_both_sides(bridge, ami, setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, _ = ami
    await others_paused(client, True)
    try:
        call_id = await live_call(bridge, client, setup, "13500007801")
        # the dashboard's live call names it, so its listen / whisper / barge buttons can
        board = await setup["web"].get("/api/dashboard", headers=auth(setup, "supervisor"))
        talking = (await board.json())["talking"]
        assert call_id in [c["call_id"] for c in talking], talking
        assert all("unique_id" not in c for c in talking)
        async with baresip_phone(
            tmp_path / "listen", setup["seat"], setup["secret"], 5191, answer_after_s=0.3
        ) as phone:
            assert (await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")).type == "REGISTER_OK"
            # an agent may not, whatever the call
            refused = await monitor(setup, call_id, "listen", who="agent")
            assert refused.status == 403
            answer = await monitor(setup, call_id, "listen")
            assert answer.status == 201, await answer.text()
            session = await answer.json()
            assert (session["mode"], session["outcome"], session["agent_job_number"]) == (
                "listen",
                "started",
                JOB,
            )
            await phone.wait_for("CALL_ESTABLISHED", timeout_s=15)
            # ChanSpy's E: the spy ends with the agent's leg (the agent hangs up after talking)
            await phone.wait_for("CALL_CLOSED", timeout_s=60)
        heard = phone.heard()
    finally:
        await log_out_agent(client, f"Local/{AGENT_ID}@sim-agents/n", [QUEUE])
        await others_paused(client, False)
    agent_frames, caller_frames = frames_heard(heard, AGENT_HZ), frames_heard(heard, CALLER_HZ)
    print(f"the supervisor heard {agent_frames} agent frames, {caller_frames} caller frames")
    assert agent_frames >= 25 and caller_frames >= 25  # both sides, several bursts each

    # the call is over: nothing to listen to now (refused, and audited as such)
    ended = await monitor(setup, call_id, "listen")
    assert ended.status == 409, await ended.text()
    audit = await setup["web"].get(
        f"/api/monitor-sessions?call_id={call_id}", headers=auth(setup, "supervisor")
    )
    rows = [(s["principal"], s["mode"], s["outcome"]) for s in (await audit.json())["sessions"]]
    assert rows == [
        (setup["supervisor"], "listen", "refused"),
        (setup["supervisor"], "listen", "started"),
    ]
    assert (
        await setup["web"].get("/api/monitor-sessions", headers=auth(setup, "agent"))
    ).status == 403


async def test_whisper_reaches_the_agent_only_and_barge_both(bridge, ami, setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Whisper: the agent hears the supervisor's 2650 Hz, the caller (and the call's
    recording of the caller's side) does not. Barge: both hear the 2150 Hz; the site tells
    its agents then ([monitor] tell_agent): a beep is whispered to the agent first."""
    client, events = ami
    start = len(events.events)  # the session's log also holds the listen test's spies
    ears = str(setup["shared"] / f"mon-ears-{uuid.uuid4().hex[:8]}")
    await others_paused(client, True)
    try:
        call_id = await live_call(bridge, client, setup, "13500007802", hear=ears)
        for mode, port in (("whisper", 5194), ("barge", 5197)):
            bridge.monitor.tell_agent = mode == "barge"
            async with baresip_phone(
                tmp_path / mode,
                setup["seat"],
                setup["secret"],
                port,
                answer_after_s=0.3,
                source=setup["phones"] / f"{mode}.wav",
            ) as phone:
                assert (await phone.wait_for("REGISTER_OK", "REGISTER_FAIL")).type == "REGISTER_OK"
                answer = await monitor(setup, call_id, mode)
                assert answer.status == 201, await answer.text()
                await phone.wait_for("CALL_ESTABLISHED", timeout_s=15)
                await asyncio.sleep(5)  # the supervisor's bursts: eight of them
                await phone.command("hangup")
                await phone.wait_for("CALL_CLOSED", timeout_s=10)
        recording = await sealed(bridge, call_id, timeout_s=90)
    finally:
        bridge.monitor.tell_agent = False
        await log_out_agent(client, f"Local/{AGENT_ID}@sim-agents/n", [QUEUE])
        await others_paused(client, False)
    agent_ear = await wait_file(Path(f"{ears}-agent.wav"))
    caller_ear = await wait_file(Path(f"{ears}-caller.wav"))
    figures = {
        "agent hears whisper": frames_heard(agent_ear, WHISPER_HZ),
        "agent hears barge": frames_heard(agent_ear, BARGE_HZ),
        "caller hears barge": frames_heard(caller_ear, BARGE_HZ),
        "caller hears agent": frames_heard(caller_ear, AGENT_HZ),
        "caller hears whisper": frames_heard(caller_ear, WHISPER_HZ),
        "recorded caller side holds whisper": frames_heard(
            Path(recording.customer_path), WHISPER_HZ
        ),
    }
    print(figures)
    for leftover in Path(ears).parent.glob(Path(ears).name + "-*.wav"):
        leftover.unlink(missing_ok=True)  # what the simulated people heard: not kept
    assert figures["agent hears whisper"] >= 10
    assert figures["caller hears agent"] >= 25  # the caller's ear works…
    assert figures["caller hears whisper"] == 0  # …and never heard the whisper
    assert figures["recorded caller side holds whisper"] == 0
    assert figures["agent hears barge"] >= 10 and figures["caller hears barge"] >= 10
    # ChanSpy on the agent's leg: the supervisor's phone twice, the tell channel once (barge)
    spies = [
        (e.get("SpyerChannel", ""), e.get("SpyeeChannel", ""))
        for e in events.events[start:]
        if e.get("Event") == "ChanSpyStart"
    ]
    mine = [s for s in spies if s[0].startswith(f"PJSIP/{setup['seat']}-")]
    assert len(mine) == 2 and mine[0][1] == mine[1][1], spies
    assert mine[0][1].startswith(f"Local/{AGENT_ID}@sim-agents-") and mine[0][1].endswith(";1")
    told = [s for s in spies if s[0].startswith("Local/beep@ivr-monitor-tell-")]
    assert told == [(told[0][0], mine[0][1])], spies  # only when the site said so
    audit = await setup["web"].get(
        f"/api/monitor-sessions?call_id={call_id}", headers=auth(setup, "supervisor")
    )
    modes = [(s["mode"], s["outcome"]) for s in (await audit.json())["sessions"]]
    assert modes == [("barge", "started"), ("whisper", "started")]
