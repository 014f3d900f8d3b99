"""Call recording on the sandbox: a call routed by the menu is answered and both sides talk
(a 1000 Hz pattern from the agent, 400 Hz from the caller); its recording exists, is linked to
the call and its work order, has each side in its own file (matched against what each side
sent), is served with range requests to those allowed and audited, is played in the agent's
workspace in headless Chromium through a signed link (another agent's page gets no link), a
recording Asterisk could not write is flagged, and retention deletes an expired one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import shutil
import time
import uuid
import wave
from array import array
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from ivr.app import make_web_app
from ivr.config import Settings
from ivr.db.recording_models import recordings_table
from ivr.domain.access import Role
from ivr.domain.agents import Agent
from ivr.domain.recording_findings import best_match
from ivr.domain.recordings import Recording, RecordingKind, RecordingState
from ivr.services.recordings import RecordingService
from ivr_sandbox.browser import Browser
from ivr_sandbox.simulation import SimulatedCaller, log_in_agent, log_out_agent, place_call
from tests.integration.asterisk_fixtures import AGENTS, QUEUES, RECORDINGS_DIR, wait_for_records
from tests.integration.test_dashboard import _browser_or_fail, until

pytestmark = pytest.mark.integration

AGENT_ID, JOB = "2131", "3131"  # the simulated agent and the job number it is registered as
OTHER_JOB = "3132"
RATE = 8000


def tone(path: Path, freq: int, pattern: list[tuple[float, bool]]) -> list[int]:
    """A WAV of ``freq`` bursts (seconds on/off) at 8 kHz; returns the samples."""
    samples: list[int] = []
    for seconds, on in pattern:
        n = int(seconds * RATE)
        samples += [
            round(8000 * math.sin(2 * math.pi * freq * i / RATE)) if on else 0 for i in range(n)
        ]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(array("h", samples).tobytes())
    return samples


def read(path: str) -> list[int]:
    with wave.open(path, "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (RATE, 2, 1)
        return list(array("h", w.readframes(w.getnframes())))


def band(samples: list[int], freq: int) -> list[float]:
    """Per 20 ms frame, the magnitude at ``freq`` (Goertzel): what one side sent at that pitch."""
    size = RATE // 50
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    out = []
    for start in range(0, len(samples) - size + 1, size):
        s1 = s2 = 0.0
        for x in samples[start : start + size]:
            s1, s2 = x + coeff * s1 - s2, s1
        out.append(math.sqrt(max(s1 * s1 + s2 * s2 - coeff * s1 * s2, 0.0)))
    return out


def sent_in(
    recording: list[int], other: list[int], sent: list[int], freq: int
) -> tuple[float, float]:
    """Cross-correlate what a side sent (its ``freq`` bursts, frame by frame) with one file:
    the best normalised correlation there, and the level at ``freq`` in the OTHER file at the
    same moments as a share of this file's (the files are aligned: both start at the answer)."""
    wanted = band(sent, freq)
    loud = [i for i, v in enumerate(wanted) if v > 0]
    wanted = wanted[loud[0] : loud[-1] + 1]  # the bursts, without the silences around them
    here = band(recording, freq)
    offset, score = best_match(here, wanted)
    there = band(other, freq)
    window = slice(max(offset - 5, 0), offset + len(wanted) + 5)
    leak = max(there[window], default=0.0) / max(max(here[window], default=0.0), 1e-9)
    return score, leak


@pytest.fixture(scope="module")
async def api(bridge) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:6]
    tokens = {
        "agent": await bridge.tokens.create(f"rec-agent-{suffix}", Role.AGENT, JOB),
        "other": await bridge.tokens.create(f"rec-other-{suffix}", Role.AGENT, OTHER_JOB),
        "inspector": await bridge.tokens.create(f"rec-insp-{suffix}", Role.INSPECTOR),
        "integration": await bridge.tokens.create(f"rec-int-{suffix}", Role.INTEGRATION),
    }
    async with TestClient(TestServer(make_web_app(bridge, manage_bridge=False))) as client:
        yield client, tokens


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def sealed(bridge, call_id: str, timeout_s: float = 40) -> Recording:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        found = await bridge.recordings.store.by_call(call_id)
        if found is not None and found.state is not RecordingState.RECORDING:
            return found  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"recording of {call_id} not sealed: {found}"
        await asyncio.sleep(0.5)


async def others_paused(client, paused: bool) -> None:  # type: ignore[no-untyped-def]
    """The session's eight simulated agents (if logged in) stay out of this test's call."""
    for agent in AGENTS:
        for queue in QUEUES:
            with contextlib.suppress(Exception):  # not a member there (not logged in)
                await client.queue_pause(queue, f"Local/{agent}@sim-agents/n", paused, "test")


@pytest.fixture(scope="module")
async def recorded_call(bridge, ami, tmp_path_factory):  # type: ignore[no-untyped-def]
    """One routed call (keys 0 → q-general) answered by our agent; both sides send a tone."""
    client, _ = ami
    shared = Settings().sandbox.recordings_dir  # the files Asterisk plays must be visible to it
    # Simulated people are Local channels, which send no audio while they wait (a phone sends
    # RTP every 20 ms): each side's file carries its own silences, so both keep talking from
    # the answer on and the two recorded files stay aligned in time.
    agent_wav = tone(
        shared / "rec-agent-tone.wav", 1000, [(0.4, True), (0.3, False)] * 3 + [(12, False)]
    )
    caller_wav = tone(
        shared / "rec-caller-tone.wav",
        400,
        [(12, False)] + [(0.6, True), (0.2, False)] * 3 + [(4, False)],
    )
    os.chmod(shared / "rec-agent-tone.wav", 0o644)
    os.chmod(shared / "rec-caller-tone.wav", 0o644)
    interface = f"Local/{AGENT_ID}@sim-agents/n"
    await bridge.agents.put(Agent(JOB, "recorded agent", interface, ("q-general",)))
    await others_paused(client, True)
    await log_in_agent(
        client,
        AGENT_ID,
        ["q-general"],
        answer_after_s=1.0,
        talk_s=1,
        say=str(shared / "rec-agent-tone"),
    )
    number = "13500007701"
    try:
        await place_call(
            client,
            SimulatedCaller(
                number,
                "0",
                hold_s=40,
                talk=str(shared / "rec-caller-tone"),
                talk_after_s=0,
            ),
        )
        records = await wait_for_records(bridge, {number}, 90)
    finally:
        await log_out_agent(client, interface, ["q-general"])
        await others_paused(client, False)
    record = records[number]
    return record, await sealed(bridge, record.call_id), agent_wav, caller_wav


async def test_the_answered_call_is_recorded_and_linked(recorded_call, bridge) -> None:  # type: ignore[no-untyped-def]
    record, recording, _, _ = recorded_call
    assert record.agent_interface == f"Local/{AGENT_ID}@sim-agents/n"
    assert recording.state is RecordingState.COMPLETE, recording.failure
    assert recording.kind.value == "inbound"
    assert recording.agent_job_number == JOB
    assert recording.call_id == record.call_id
    for side, digest in (
        ("agent", recording.agent_sha256),
        ("customer", recording.customer_sha256),
    ):
        path = Path(recording.path(side))
        assert path.parent == RECORDINGS_DIR  # under the sandbox's recordings dir
        assert path.name == f"{record.call_id}-{side}.wav"  # the call id, never a number
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert recording.duration_ms is not None and recording.duration_ms > 12000
    # the opening was played on the agent's side: no no_opening finding; a real conversation
    kinds = {f.kind.value for f in recording.findings}
    assert "no_opening" not in kinds and "short_call" not in kinds, kinds


async def test_each_side_is_in_its_own_file(recorded_call) -> None:  # type: ignore[no-untyped-def]
    _, recording, agent_sent, caller_sent = recorded_call
    agent_file = read(recording.agent_path)
    customer_file = read(recording.customer_path)
    score, leak = sent_in(agent_file, customer_file, agent_sent, 1000)
    assert score > 0.9, score  # the agent's bursts, in their rhythm, on the agent's side
    assert leak < 0.05, leak  # and not on the caller's side at that moment
    score, leak = sent_in(customer_file, agent_file, caller_sent, 400)
    assert score > 0.9, score
    assert leak < 0.05, leak


async def test_linked_to_its_work_order_and_played_with_ranges(recorded_call, api) -> None:  # type: ignore[no-untyped-def]
    record, recording, _, _ = recorded_call
    client, tokens = api
    order = await client.post(
        "/api/work-orders",
        json={
            "kind": "repair",
            "customer": {"surname": "王", "title": "先生", "phone": "13500007701"},
            "summary": "停电",
            "call_id": record.call_id,
            "owner_job_number": JOB,
        },
        headers=auth(tokens["integration"]),
    )
    assert order.status == 201, await order.text()
    order_no = (await order.json())["order_no"]
    detail = await client.get(f"/api/recordings/{recording.id}", headers=auth(tokens["agent"]))
    assert detail.status == 200
    body = await detail.json()
    assert body["orders"] == [order_no] and body["call_id"] == record.call_id
    assert "agent_path" not in body and "13500007701" not in await detail.text()

    url = f"/api/recordings/{recording.id}/audio?side=customer"
    data = Path(recording.customer_path).read_bytes()
    whole = await client.get(url, headers=auth(tokens["agent"]))
    assert whole.status == 200 and await whole.read() == data
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = await client.get(url, headers=auth(tokens["agent"], Range="bytes=1000-4999"))
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-4999/{len(data)}"
    assert await part.read() == data[1000:5000]
    tail = await client.get(url, headers=auth(tokens["inspector"], Range="bytes=-500"))
    assert tail.status == 206 and await tail.read() == data[-500:]
    beyond = await client.get(url, headers=auth(tokens["agent"], Range=f"bytes={len(data)}-"))
    assert beyond.status == 416

    # another agent: not in their list, refused, and the refusal audited
    listed = await client.get("/api/recordings", headers=auth(tokens["other"]))
    assert recording.id not in [r["id"] for r in (await listed.json())["recordings"]]
    refused = await client.get(url, headers=auth(tokens["other"]))
    assert refused.status == 403
    assert (
        await client.get(f"/api/recordings/{recording.id}", headers=auth(tokens["other"]))
    ).status == 403
    assert (await client.get(url, headers=auth(tokens["integration"]))).status == 403
    mine = await client.get("/api/recordings", headers=auth(tokens["agent"]))
    assert recording.id in [r["id"] for r in (await mine.json())["recordings"]]

    audit = await client.get(f"/api/recordings/{recording.id}", headers=auth(tokens["inspector"]))
    plays = (await audit.json())["playbacks"]
    outcomes = [(p["role"], p["job_number"], p["range"], p["outcome"]) for p in plays]
    assert ("agent", JOB, None, "served") in outcomes
    assert ("agent", JOB, "bytes=1000-4999", "served") in outcomes
    assert ("inspector", None, "bytes=-500", "served") in outcomes
    assert ("agent", OTHER_JOB, None, "refused") in outcomes


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _browser_or_fail()
    found = await asyncio.to_thread(Browser)
    yield found
    await asyncio.to_thread(found.close)


async def test_the_agent_plays_the_call_in_the_workspace_and_another_agent_cannot(  # type: ignore[no-untyped-def]
    recorded_call, api, browser
) -> None:
    """The real call's recording in headless Chromium: the agent's workspace lists it, its
    players load through signed links (no token in the URL), the customer side plays and
    seeks into the caller's bursts, the page's range request gets exactly those bytes, the
    audio the browser decodes from the link is the caller's (400 Hz bursts correlate, none of
    the agent's 1000 Hz), every request is audited under the agent; another agent's page
    neither lists it nor gets a link (403, audited)."""
    _, recording, _, caller_sent = recorded_call
    client, tokens = api

    async def js(script: str) -> Any:
        return await asyncio.to_thread(browser.driver.execute_script, script)

    page = client.make_url("/workspace")
    await asyncio.to_thread(browser.open, f"{page}#token={tokens['agent']}")
    button = f'#recordings button[data-recording="{recording.id}"]'
    await until(
        lambda: js(f"return !!document.querySelector({button!r})"), 20, "the recording listed"
    )
    await asyncio.to_thread(browser.driver.find_element("css selector", button).click)
    await until(
        lambda: js("return $('play-customer').readyState >= 1"), 20, "the customer side loaded"
    )
    duration = float(await js("return $('play-customer').duration"))
    with wave.open(recording.customer_path, "rb") as w:
        assert abs(duration - w.getnframes() / RATE) < 0.1, duration
    source = str(await js("return $('play-customer').src"))
    assert "sig=" in source and tokens["agent"] not in source

    # it plays (muted: no user gesture needed) from inside the caller's bursts on
    await js("const a = $('play-customer'); a.muted = true; a.currentTime = 12; a.play()")
    await until(
        lambda: js("const a = $('play-customer'); return !a.paused && a.currentTime > 12.5"),
        30,
        "the customer side played past 12.5 s",
    )

    # the page's own range request on the link: exactly those bytes, 206
    data = Path(recording.customer_path).read_bytes()
    ranged = await js(
        "return fetch($('play-customer').src, {headers: {Range: 'bytes=1000-4999'}})"
        ".then(async r => [r.status, r.headers.get('Content-Range'),"
        " Array.from(new Uint8Array(await r.arrayBuffer()))])"
    )
    assert ranged[0] == 206 and ranged[1] == f"bytes 1000-4999/{len(data)}"
    assert bytes(ranged[2]) == data[1000:5000]

    # what the browser decodes from the link is the caller's side
    decoded = await js(
        "return fetch($('play-customer').src).then(r => r.arrayBuffer())"
        ".then(b => new OfflineAudioContext(1, 1, 8000).decodeAudioData(b))"
        ".then(d => Array.from(d.getChannelData(0), x => Math.round(x * 32768)))"
    )
    score, leak = sent_in(decoded, read(recording.agent_path), caller_sent, 400)
    assert score > 0.9 and leak < 0.05, (score, leak)
    assert max(band(decoded, 1000)) < 0.05 * max(band(decoded, 400))  # no agent tone in it

    # every request of the page is audited under the agent, with its range
    audit = await client.get(f"/api/recordings/{recording.id}", headers=auth(tokens["inspector"]))
    plays = (await audit.json())["playbacks"]
    served = [p for p in plays if p["outcome"] == "served" and p["job_number"] == JOB]
    assert ("customer", "bytes=1000-4999") in {(p["side"], p["range"]) for p in served}
    assert any(
        p["side"] == "customer"
        and (p["range"] or "").startswith("bytes=")
        and p["range"] != "bytes=1000-4999"
        for p in served
    ), served  # the player's own seeking requests

    # another agent's page: its own player asks for a link and is refused; not listed either
    await asyncio.to_thread(browser.open, "about:blank")  # a new load, not a fragment change
    await asyncio.to_thread(browser.open, f"{page}#token={tokens['other']}")
    assert await js("return sessionStorage.getItem('ivr-token')") == tokens["other"]
    await js(f"playRecording({recording.id}, 'x')")
    refusal = await until(
        lambda: asyncio.to_thread(browser.text, "rec-status"), 20, "the other page refused"
    )
    assert "cannot play: this recording is not yours to hear" in refusal
    assert await js("return $('play-customer').getAttribute('src')") is None
    listed = await js("return api('/api/recordings').then(r => r.json())")
    assert recording.id not in [r["id"] for r in listed["recordings"]]
    audit = await client.get(f"/api/recordings/{recording.id}", headers=auth(tokens["inspector"]))
    refused = [
        (p["job_number"], p["side"], p["outcome"]) for p in (await audit.json())["playbacks"]
    ]
    assert (OTHER_JOB, "link", "refused") in refused


async def test_retention_deletes_an_expired_recording(recorded_call, bridge, api) -> None:  # type: ignore[no-untyped-def]
    _, recording, _, _ = recorded_call
    client, tokens = api
    days = bridge.settings.recording.retention_days
    async with bridge.engine.begin() as conn:  # the call took place longer ago than retention
        await conn.execute(
            update(recordings_table)
            .where(recordings_table.c.id == recording.id)
            .values(started_at=recording.started_at - timedelta(days=days, hours=1))
        )
    assert await bridge.recordings.delete_expired(days) >= 1
    gone = await bridge.recordings.store.get(recording.id)
    assert gone.state is RecordingState.DELETED and gone.deleted_at is not None
    assert not Path(recording.agent_path).exists() and not Path(recording.customer_path).exists()
    url = f"/api/recordings/{recording.id}/audio?side=agent"
    answer = await client.get(url, headers=auth(tokens["inspector"]))
    assert answer.status == 410 and (await answer.json())["state"] == "deleted"


async def test_a_recording_asterisk_could_not_write_is_flagged(bridge, ami) -> None:  # type: ignore[no-untyped-def]
    """The directory is made unwritable for Asterisk: MixMonitor starts but writes nothing;
    the recording is flagged failed with the reason, not silently missing."""
    client, _ = ami
    RECORDINGS_DIR.mkdir(exist_ok=True)
    mode = RECORDINGS_DIR.stat().st_mode & 0o7777
    os.chmod(RECORDINGS_DIR, 0o555)
    call_id = uuid.uuid4().hex
    interface = f"Local/{AGENT_ID}@sim-agents/n"
    await others_paused(client, True)
    await log_in_agent(client, AGENT_ID, ["q-t-2"], answer_after_s=0.5, talk_s=2)
    try:
        await client.action(
            {
                "Action": "Originate",
                "Channel": "Local/q-t-2@sim-queue-entry",
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": '"sim" <13500007702>',
                "Variable": f"__IVR_CALL_ID={call_id},SIM_HOLD=6",
                "Async": "true",
            }
        )
        recording = await sealed(bridge, call_id)
    finally:
        os.chmod(RECORDINGS_DIR, mode)
        await log_out_agent(client, interface, ["q-t-2"])
        await others_paused(client, False)
    assert recording.state is RecordingState.FAILED
    assert recording.failure is not None and "no usable file" in recording.failure


async def test_a_call_that_fell_back_in_the_dialplan_is_recorded(
    bridge, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """FastAGI unreachable: [from-pstn] queues the caller on its own (IVR_FALLBACK_QUEUE) and
    the bridge never sees the call. The answered call is still recorded, under the id the
    dialplan gave it (fb-…), filed as a `fallback` recording owned by the agent who answered."""
    client, _ = ami
    interface = f"Local/{AGENT_ID}@sim-agents/n"
    since = bridge.recordings.now()
    await bridge.agents.put(Agent(JOB, "recorded agent", interface, ("q-general",)))
    await others_paused(client, True)
    await log_in_agent(client, AGENT_ID, ["q-general"], answer_after_s=0.5, talk_s=3)
    try:
        await place_call(
            client, SimulatedCaller("13500007703", hold_s=8), agi_url="agi://127.0.0.1:9"
        )
        deadline = time.monotonic() + 60
        while True:
            found = [
                r
                for r in await bridge.recordings.store.listing(None, since, None, 50)
                if r.kind.value == "fallback"
            ]
            if found:
                break
            assert time.monotonic() < deadline, "no fallback recording"
            await asyncio.sleep(0.5)
    finally:
        await log_out_agent(client, interface, ["q-general"])
        await others_paused(client, False)
    recording = await sealed(bridge, found[0].call_id)
    assert recording.call_id.startswith("fb-") and len(recording.call_id) == 35
    assert recording.state is RecordingState.COMPLETE, recording.failure
    assert recording.agent_job_number == JOB
    assert Path(recording.agent_path).name == f"{recording.call_id}-agent.wav"
    assert await bridge.repository.get(recording.call_id) is None  # the bridge never saw it
    await files_with_no_row_are_filed(bridge, recording, tmp_path)


async def files_with_no_row_are_filed(bridge, recording: Recording, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same call's files with no row, as when no bridge heard Asterisk at all (bridge and
    AMI down): the keeper's sweep files them from the files once nobody writes them, and seals
    them like any other recording. A file still being written, one older than the database's
    first recording (another database's), and other names are left."""
    service = bridge.recordings
    orphans = tmp_path / "calls"
    orphans.mkdir()
    quiet = time.time() - 5  # after this database's first recording, which is older still
    unheard = "fb-" + uuid.uuid4().hex  # this call's files again, under an id with no row
    for side in ("agent", "customer"):
        copy = orphans / f"{unheard}-{side}.wav"
        shutil.copyfile(getattr(recording, f"{side}_path"), copy)
        os.utime(copy, (quiet, quiet))
    busy = "fb-" + uuid.uuid4().hex
    shutil.copyfile(recording.agent_path, orphans / f"{busy}-agent.wav")  # written just now
    foreign = uuid.uuid4().hex
    shutil.copyfile(recording.agent_path, orphans / f"{foreign}-agent.wav")
    first = await service.store.first_started()
    assert first is not None
    long_ago = first.timestamp() - 60
    os.utime(orphans / f"{foreign}-agent.wav", (long_ago, long_ago))
    (orphans / "notes.txt").write_text("not a recording")
    sweep = RecordingService(
        service.store, service.files, service.agents, orphans, service.rules,
        service._greeting, service.now,
    )  # fmt: skip
    assert await sweep.adopt_orphans(quiet_for_s=2) == 1
    assert await sweep.adopt_orphans(quiet_for_s=2) == 0  # once
    filed = await service.store.by_call(unheard)
    assert filed is not None and filed.kind is RecordingKind.FALLBACK
    assert filed.agent_job_number is None  # nobody reported who answered
    assert filed.ended_at is not None and abs(filed.ended_at.timestamp() - quiet) < 1
    await sweep.seal(filed)
    filed = await service.store.by_call(unheard)
    assert filed.state is RecordingState.COMPLETE, filed.failure
    assert (filed.agent_sha256, filed.customer_sha256) == (
        recording.agent_sha256,
        recording.customer_sha256,
    )
    assert await service.store.by_call(busy) is None
    assert await service.store.by_call(foreign) is None
