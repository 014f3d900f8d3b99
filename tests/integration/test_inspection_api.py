"""Quality inspection (质检) and the pages' signed playback links through the bridge's own web
app, on SQLite and PostgreSQL, with recordings written by the bridge's own store over real WAV
files: a link plays one viewer's own call with range requests and is audited under that
viewer; another agent's call gets no link; a tampered, foreign or expired link is refused.
The queue draws every complaint call, every call whose 回访 found the customer dissatisfied
and a share of each agent's calls; inspectors score on the standard's items, agents read only
their own results, and the month's report carries the error rate and quality score."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import update

from ivr.db.calls import SqlCallRepository
from ivr.db.centre_secrets import SqlCentreSecrets
from ivr.db.recordings import SqlRecordings
from ivr.db.workorder_models import tasks_table
from ivr.domain.access import Principal, Role
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.playback_links import sign
from ivr.domain.recording_findings import Finding, FindingKind
from ivr.domain.recordings import RecordingFile, RecordingKind
from tests.integration.api_app import AGENT_JOB, Api, api_app

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 on 5 Dec in the centre
OTHER_JOB = "7302"
FULL = {"opening": 15, "mandarin": 10, "courtesy": 20, "first_ask": 20, "accuracy": 25}


def call_id(n: int) -> str:
    return f"{n + 0xABC000:032x}"


def write_wav(path: Path, seconds: float) -> RecordingFile:
    frames = bytes(
        (i * 37) % 256 for i in range(int(16000 * seconds))
    )  # 8 kHz 16-bit: 16 000 bytes a second
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(frames)
    return RecordingFile(path.stat().st_size, int(seconds * 1000), "0" * 64)


async def store_recordings(api: Api, directory: Path, seconds: float = 3) -> dict[str, int]:
    """Six recorded calls of 5 Dec, ``seconds`` long: #0-#3 the test agent's, #4-#5 another
    agent's. #1 is linked to a complaint order, #4 to a repair order whose 回访 found the
    customer dissatisfied. #0 has a long silence, #3 fell back in the dialplan. Returns the
    recording ids by name."""
    directory.mkdir(parents=True, exist_ok=True)
    calls = SqlCallRepository(api.bridge.engine)
    store = SqlRecordings(api.bridge.engine, lambda: T0)
    ids: dict[str, int] = {}
    for n in range(6):
        cid = call_id(n)
        await calls.add(
            CallRecord(
                call_id=cid,
                unique_id=f"1700000100.{n}",
                caller_number="13800138000",
                dialed_number="95598",
                channel_name=f"PJSIP/trunk-0000010{n}",
                started_at=T0 + timedelta(minutes=n),
                outcome=CallOutcome.ROUTED,
                ended_at=T0 + timedelta(minutes=n, seconds=50),
            )
        )
        job = AGENT_JOB if n < 4 else OTHER_JOB
        agent_path, customer_path = (
            directory / f"{cid}-agent.wav",
            directory / f"{cid}-customer.wav",
        )
        # #3 fell back in the dialplan (the bridge never saw it): an agent answered it all the same
        kind = RecordingKind.FALLBACK if n == 3 else RecordingKind.INBOUND
        await store.started(cid, kind, job, str(agent_path), str(customer_path))
        agent_file = write_wav(agent_path, seconds)
        customer_file = write_wav(customer_path, seconds)
        recording = await store.ended(cid)
        assert recording is not None
        findings = [Finding(FindingKind.LONG_SILENCE, 1000, 9000)] if n == 0 else []
        assert await store.finished(recording.id, agent_file, customer_file, findings, None)
        ids[f"call{n}"] = recording.id
    complaint = await order(api, "complaint", call_id(1))
    assert complaint
    repair = await order(api, "repair", call_id(4))
    closed = await api.client.post(
        f"/api/work-orders/{repair}/close",
        json={"result": "已修复"},
        headers=api.auth(Role.INTEGRATION),
    )
    assert closed.status == 200, await closed.text()
    async with api.bridge.engine.begin() as conn:  # the 回访's outcome, as the dialer writes it
        await conn.execute(update(tasks_table).values(outcome="dissatisfied", satisfied=False))
    return ids


async def order(api: Api, kind: str, cid: str) -> str:
    response = await api.client.post(
        "/api/work-orders",
        json={
            "kind": kind,
            "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
            "summary": "测试",
            "call_id": cid,
            "owner_job_number": AGENT_JOB,
        },
        headers=api.auth(Role.INTEGRATION),
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["order_no"])


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Api, dict[str, int]]]:
    async with api_app(tmp_path, db_url) as found:
        ids = await store_recordings(found, tmp_path / "recordings")
        yield found, ids


async def call(api: Api, method: str, path: str, role: Role | None, **kw: Any) -> tuple[int, Any]:
    headers = api.auth(role) if role is not None else {}
    response = await api.client.request(method, path, headers=headers, **kw)
    body = await response.read()
    if response.content_type == "application/json":
        return response.status, await response.json()
    return response.status, body


async def test_a_signed_link_plays_the_viewers_own_call_with_ranges_and_is_audited(
    api: tuple[Api, dict[str, int]],
) -> None:
    app, ids = api
    mine, theirs = ids["call0"], ids["call4"]
    status, links = await call(app, "POST", f"/api/recordings/{mine}/playback-url", Role.AGENT)
    assert status == 200, links
    assert set(links) == {"agent", "customer", "expires_at"}
    url = links["agent"]
    assert "token" not in url and "t-agent" in url  # names the viewer, carries no token
    # no Authorization header: the link alone plays it, and seeks
    response = await app.client.get(url, headers={"Range": "bytes=1000-1999"})
    assert response.status == 206
    assert response.headers["Content-Range"].startswith("bytes 1000-1999/")
    assert len(await response.read()) == 1000
    assert response.headers["Cache-Control"] == "no-store"
    whole = await app.client.get(links["customer"])
    assert whole.status == 200 and (await whole.read())[:4] == b"RIFF"

    # the audit names the viewer of the link
    _, detail = await call(app, "GET", f"/api/recordings/{mine}", Role.SUPERVISOR)
    served = [p for p in detail["playbacks"] if p["outcome"] == "served"]
    assert {(p["principal"], p["role"], p["job_number"]) for p in served} == {
        ("t-agent", "agent", AGENT_JOB)
    }
    assert any(p["range"] == "bytes=1000-1999" for p in served)

    # another agent's call: no link, refused and audited
    status, error = await call(app, "POST", f"/api/recordings/{theirs}/playback-url", Role.AGENT)
    assert status == 403, error
    _, other = await call(app, "GET", f"/api/recordings/{theirs}", Role.SUPERVISOR)
    assert [(p["principal"], p["side"], p["outcome"]) for p in other["playbacks"]] == [
        ("t-agent", "link", "refused")
    ]
    # nor does the agent's link for their own call open another recording
    query = urlsplit(url).query
    foreign = await app.client.get(f"/api/recordings/{theirs}/audio?{query}")
    assert foreign.status == 401
    # tampered: another viewer, a later expiry, a changed signature
    fields = dict(parse_qsl(query))
    for change in ({"viewer": "t-supervisor"}, {"exp": str(int(fields["exp"]) + 60)}):
        bad = await app.client.get(f"/api/recordings/{mine}/audio", params={**fields, **change})
        assert bad.status == 401, change
    flipped = fields["sig"][:-1] + ("0" if fields["sig"][-1] != "0" else "1")
    bad = await app.client.get(f"/api/recordings/{mine}/audio", params={**fields, "sig": flipped})
    assert bad.status == 401
    # expired: signed with the centre's own secret, but its time is over
    secret = await SqlCentreSecrets(app.bridge.engine).playback_secret()
    old = sign(
        secret,
        mine,
        Principal("t-agent", Role.AGENT, AGENT_JOB),
        datetime.now(UTC) - timedelta(minutes=10),
        300,
    )
    expired = await app.client.get(f"/api/recordings/{mine}/audio", params=old.query())
    assert expired.status == 401
    assert "expired: ask for a new one" in (await expired.json())["error"]
    assert "expired or not valid" in (await bad.json())["error"]
    # an integration token gets no link; a supervisor gets one for any call
    status, _ = await call(app, "POST", f"/api/recordings/{mine}/playback-url", Role.INTEGRATION)
    assert status == 403
    status, _ = await call(app, "POST", f"/api/recordings/{theirs}/playback-url", Role.SUPERVISOR)
    assert status == 200
    status, _ = await call(app, "POST", "/api/recordings/999999/playback-url", Role.INSPECTOR)
    assert status == 404


async def test_revoking_the_viewers_token_ends_its_links(
    api: tuple[Api, dict[str, int]],
) -> None:
    app, ids = api
    mine = ids["call0"]
    status, links = await call(app, "POST", f"/api/recordings/{mine}/playback-url", Role.AGENT)
    assert status == 200, links
    # a rotation keeps the token (its name, role, 工号) alive: the link still plays
    await app.bridge.tokens.rotate("t-agent")
    playing = await app.client.get(links["agent"], headers={"Range": "bytes=0-99"})
    assert playing.status == 206
    assert await app.bridge.tokens.revoke("t-agent")
    for side in ("agent", "customer"):
        gone = await app.client.get(links[side], headers={"Range": "bytes=100-199"})
        assert gone.status == 401, side
        assert "no longer valid" in (await gone.json())["error"]
    # the refused uses reached no file: only the play before the revocation is audited
    _, detail = await call(app, "GET", f"/api/recordings/{mine}", Role.SUPERVISOR)
    assert [p["range"] for p in detail["playbacks"] if p["principal"] == "t-agent"] == [
        "bytes=0-99"
    ]
    # a supervisor's link is untouched by the agent's revocation
    status, theirs = await call(
        app, "POST", f"/api/recordings/{mine}/playback-url", Role.SUPERVISOR
    )
    assert status == 200
    assert (await app.client.get(theirs["agent"], headers={"Range": "bytes=0-9"})).status == 206


async def test_the_queue_draws_complaints_dissatisfied_and_a_share(
    api: tuple[Api, dict[str, int]],
) -> None:
    app, ids = api
    status, queue = await call(
        app, "GET", "/api/inspections/queue?period=2026-12-05", Role.INSPECTOR
    )
    assert status == 200, queue
    drawn = {c["recording_id"]: c for c in queue["calls"]}
    assert "complaint" in drawn[ids["call1"]]["reasons"]
    assert "dissatisfied" in drawn[ids["call4"]]["reasons"]
    sampled = [c for c in queue["calls"] if "sampled" in c["reasons"]]
    # 5 % of 4 calls and of 2 calls: one each, rounded up
    assert sorted(c["agent_job_number"] for c in sampled) == [AGENT_JOB, OTHER_JOB]
    assert queue["pending"] == len(queue["calls"])
    again = await call(app, "GET", "/api/inspections/queue?period=2026-12-05", Role.SUPERVISOR)
    assert again == (200, queue)  # the same draw
    status, other_day = await call(
        app, "GET", "/api/inspections/queue?period=2026-12-06", Role.INSPECTOR
    )
    assert status == 200 and other_day["calls"] == []
    for bad in ("2026-12", "yesterday", "2026-02-30"):
        status, error = await call(
            app, "GET", f"/api/inspections/queue?period={bad}", Role.INSPECTOR
        )
        assert status == 400 and "period" in error["error"], bad
    for role in (Role.AGENT, Role.INTEGRATION):
        status, _ = await call(app, "GET", "/api/inspections/queue", role)
        assert status == 403


async def test_inspectors_score_agents_read_their_own_and_the_month_reports_it(
    api: tuple[Api, dict[str, int]],
) -> None:
    app, ids = api
    status, standard = await call(app, "GET", "/api/inspections/standard", Role.AGENT)
    assert status == 200 and standard["points"] == 100
    assert standard["items"][0]["label"] == "标准开场白"

    good = {**FULL, "closing": 10}
    body = {
        "recording_id": ids["call0"],
        "scores": {**good, "opening": 5},
        "comment": "开场白不规范",
        "findings_used": ["long_silence"],
    }
    status, made = await call(app, "POST", "/api/inspections", Role.AGENT, json=body)
    assert status == 403
    status, made = await call(app, "POST", "/api/inspections", Role.INSPECTOR, json=body)
    assert status == 201, made
    assert made["failed"] and made["failed_items"] == ["opening"] and made["score"] == 90.0
    assert made["inspector"] == "t-inspector" and made["agent_job_number"] == AGENT_JOB
    assert made["standard"]["points"] == 100 and made["findings_used"] == ["long_silence"]
    status, error = await call(app, "POST", "/api/inspections", Role.SUPERVISOR, json=body)
    assert status == 409, error

    refused = [
        ({**body, "recording_id": ids["call1"], "scores": FULL}, 422, "closing"),
        ({**body, "recording_id": ids["call1"], "scores": {**good, "closing": 11}}, 422, "0-10"),
        ({**body, "recording_id": ids["call1"], "findings_used": ["over_talk"]}, 422, "over_talk"),
        ({**body, "recording_id": 999999, "findings_used": []}, 404, "no such"),
        ({**body, "recording_id": ids["call1"], "extra": 1}, 422, "invalid"),
        (
            {**body, "recording_id": ids["call1"], "scores": {**good, "mandarin": True}},
            422,
            "invalid",
        ),
        (
            {**body, "recording_id": ids["call1"], "scores": {**good, "mandarin": "10"}},
            422,
            "invalid",
        ),
    ]
    for bad, code, needle in refused:
        status, error = await call(app, "POST", "/api/inspections", Role.INSPECTOR, json=bad)
        assert status == code and needle in str(error), (bad, error)

    for n in (1, 4):
        status, made_too = await call(
            app,
            "POST",
            "/api/inspections",
            Role.SUPERVISOR,
            json={"recording_id": ids[f"call{n}"], "scores": good},
        )
        assert status == 201, made_too
    assert "dissatisfied" in made_too["reasons"]  # why call #4 was in the queue

    # the agent reads the inspections of their own calls only
    status, mine = await call(app, "GET", "/api/inspections", Role.AGENT)
    assert status == 200
    assert sorted(i["recording_id"] for i in mine["inspections"]) == [ids["call0"], ids["call1"]]
    status, _ = await call(app, "GET", f"/api/inspections/{made_too['id']}", Role.AGENT)
    assert status == 403
    status, own = await call(app, "GET", f"/api/inspections/{made['id']}", Role.AGENT)
    assert status == 200 and own["comment"] == "开场白不规范"
    status, every = await call(app, "GET", "/api/inspections", Role.INSPECTOR)
    assert status == 200 and len(every["inspections"]) == 3
    status, _ = await call(app, "GET", "/api/inspections", Role.INTEGRATION)
    assert status == 403
    # the queue shows what is done
    _, queue = await call(app, "GET", "/api/inspections/queue?period=2026-12-05", Role.INSPECTOR)
    done = {c["recording_id"]: c["inspection_id"] for c in queue["calls"]}
    assert done[ids["call1"]] is not None and done[ids["call4"]] is not None

    # the month: the agent 2 inspected, 1 with a failed item; the other agent 1, none
    status, report = await call(app, "GET", "/api/reports/monthly?month=2026-12", Role.SUPERVISOR)
    assert status == 200
    agents = {a["job_number"]: a for a in report["agents"]}
    assert agents[AGENT_JOB]["inspected"] == 2
    assert agents[AGENT_JOB]["inspected_with_errors"] == 1
    assert agents[AGENT_JOB]["error_rate"] == 0.5
    assert agents[AGENT_JOB]["quality_score"] == 95.0
    assert agents[OTHER_JOB]["error_rate"] == 0.0
    centre = report["centre"]
    assert centre["inspected"] == 3 and centre["error_rate_target_met"] is False
    csv = await app.client.get(
        "/api/reports/monthly?month=2026-12&format=csv", headers=app.auth(Role.SUPERVISOR)
    )
    assert "差错率 (error_rate)" in await csv.text()
    # a call that fell back in the dialplan was answered by an agent too: it is inspected
    status, fallback = await call(
        app,
        "POST",
        "/api/inspections",
        Role.INSPECTOR,
        json={"recording_id": ids["call3"], "scores": good},
    )
    assert status == 201 and fallback["agent_job_number"] == AGENT_JOB, fallback
