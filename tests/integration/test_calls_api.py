"""``GET /api/calls`` and ``GET /api/calls/{id}`` through the bridge's own web app, on SQLite
and PostgreSQL, with call rows written by the bridge's own repositories: filters, cursor paging
(no call repeated or skipped), who sees what (masked numbers, an agent's own calls only), the
errors naming the parameter at fault, timestamps in the centre's offset and Chinese as UTF-8."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivr.db.agent_states import SqlCallTransfers
from ivr.db.calls import SqlCallRepository
from ivr.db.servers import SqlServers
from ivr.db.tracking import SqlVisitRepository
from ivr.domain.access import Role
from ivr.domain.calls import CallOutcome, CallRecord, CallStep, StepKind
from ivr.domain.queue_calls import QueueVisit, VisitOutcome
from ivr.domain.transfers import CallTransfer, TargetKind, TransferTarget
from tests.integration.api_app import AGENT_JOB, Api, api_app

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # 09:00 in the centre (Asia/Shanghai)


def call_id(n: int) -> str:
    return f"{n:032x}"


async def store_calls(api: Api) -> None:
    """Seven calls a minute apart; #2 and #5 answered by the test agent, #3 by another,
    #4 abandoned in the queue; #6 from another number and a different menu choice."""
    calls, visits = SqlCallRepository(api.bridge.engine), SqlVisitRepository(api.bridge.engine)
    for n in range(7):
        at = T0 + timedelta(minutes=n)
        choice = "repair.outage" if n != 6 else "billing.query"
        await calls.add(
            CallRecord(
                call_id=call_id(n),
                unique_id=f"1700000000.{n}",
                caller_number="13800138000" if n != 6 else "13900139000",
                dialed_number="95598",
                channel_name=f"PJSIP/trunk-0000000{n}",
                started_at=at,
                outcome=CallOutcome.ROUTED if n else CallOutcome.ABANDONED_IN_MENU,
                ended_at=at + timedelta(seconds=50),
                route="repair" if n else None,
                choice=choice if n else None,
                menu_path=["main", "repair"],
                keys="1",
                steps=[CallStep(at, StepKind.PROMPT, "main", None, "停电报修")],
            )
        )
        if n in (2, 3, 4, 5):
            answered = n != 4
            await visits.save(
                QueueVisit(
                    unique_id=f"1700000000.{n}",
                    queue="repair",
                    caller_number="13800138000",
                    joined_us=int((at + timedelta(seconds=20)).timestamp() * 1e6),
                    outcome=VisitOutcome.ANSWERED if answered else VisitOutcome.ABANDONED,
                    queue_wait_ms=4000,
                    talk_ms=20000 if answered else None,
                    agent_job_number=(AGENT_JOB if n in (2, 5) else "7302") if answered else None,
                )
            )


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path, db_url) as found:
        await store_calls(found)
        yield found


async def get(api: Api, path: str, role: Role = Role.INTEGRATION) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = await api.client.get(path, headers=api.auth(role))
    return response.status, await response.json()


async def test_filters_find_the_calls_an_integrator_asks_for(api: Api) -> None:
    status, body = await get(api, "/api/calls?phone=13800138000&choice=repair.outage")
    assert status == 200
    assert [c["call_id"] for c in body["calls"]] == [call_id(n) for n in (5, 4, 3, 2, 1)]
    assert body["next_cursor"] is None
    _, body = await get(api, "/api/calls?queue_outcome=abandoned")
    assert [c["call_id"] for c in body["calls"]] == [call_id(4)]
    assert body["calls"][0]["queue"][0]["outcome"] == "abandoned"
    _, body = await get(api, "/api/calls?outcome=abandoned_in_menu")
    assert [c["call_id"] for c in body["calls"]] == [call_id(0)]
    # from inclusive, to exclusive, offsets honoured (09:02 and 09:04 in the centre)
    _, body = await get(api, "/api/calls?from=2026-12-05T09:02%2B08:00&to=2026-12-05T01:04Z")
    assert [c["call_id"] for c in body["calls"]] == [call_id(3), call_id(2)]
    # an unencoded "+" (a space once decoded) is the offset all the same
    _, body = await get(api, "/api/calls?from=2026-12-05T09:06+08:00")
    assert [c["call_id"] for c in body["calls"]] == [call_id(6)]


async def test_cursor_pages_through_every_call_once(api: Api) -> None:
    seen: list[str] = []
    path = "/api/calls?limit=3"
    pages = 0
    while True:
        status, body = await get(api, path)
        assert status == 200
        pages += 1
        seen += [c["call_id"] for c in body["calls"]]
        if body["next_cursor"] is None:
            break
        path = f"/api/calls?limit=3&cursor={body['next_cursor']}"
    assert seen == [call_id(n) for n in range(6, -1, -1)]
    assert pages == 3


async def test_one_call_with_steps_in_the_centres_offset_and_utf8(api: Api) -> None:
    response = await api.client.get(f"/api/calls/{call_id(5)}", headers=api.auth(Role.ADMIN))
    assert response.status == 200
    raw = await response.read()
    assert "停电报修".encode() in raw and b"\\u" not in raw
    body = await response.json()
    assert body["started_at"] == "2026-12-05T09:05:00+08:00"
    assert body["steps"] == [
        {
            "at": "2026-12-05T09:05:00+08:00",
            "kind": "prompt",
            "node": "main",
            "key": None,
            "detail": "停电报修",
        }
    ]
    assert body["queue"][0]["agent_job_number"] == AGENT_JOB
    assert body["caller_number"] == "13800138000"
    status, body = await get(api, f"/api/calls/{'f' * 32}")
    assert (status, body) == (404, {"error": "no such call"})
    status, _ = await get(api, "/api/calls/not-a-call-id")
    assert status == 404


async def test_supervisors_see_numbers_masked_and_agents_only_their_own_calls(api: Api) -> None:
    _, body = await get(api, "/api/calls?limit=1", Role.SUPERVISOR)
    assert body["calls"][0]["caller_number"] == "139******00"
    _, body = await get(api, f"/api/calls/{call_id(2)}", Role.SUPERVISOR)
    assert body["caller_number"] == "138******00"
    _, body = await get(api, "/api/calls", Role.AGENT)
    assert [c["call_id"] for c in body["calls"]] == [call_id(5), call_id(2)]
    assert body["calls"][0]["caller_number"] == "13800138000"  # the agent's own customer
    status, _ = await get(api, f"/api/calls/{call_id(3)}", Role.AGENT)  # another agent's
    assert status == 404
    status, _ = await get(api, f"/api/calls/{call_id(2)}", Role.AGENT)
    assert status == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit is 1–500"),
        ("limit=501", "limit is 1–500"),
        ("limit=ten&phone=13800138000", "limit is 1–500"),
        (
            "outcome=answered",
            "outcome is one of in_menu, routed, abandoned_in_menu, failed, lost",
        ),
        (
            "queue_outcome=gone",
            "queue_outcome is one of waiting, talking, answered, abandoned, timed_out, lost",
        ),
        ("from=yesterday", "from is an ISO 8601 time with its offset, e.g. 2026-12-05T08:00+08:00"),
        (
            "to=2026-12-05T08:00",
            "to is an ISO 8601 time with its offset, e.g. 2026-12-05T08:00+08:00",
        ),
        ("from=2026-12-05T02:00Z&to=2026-12-05T01:00Z", "from must be before to"),
        ("phone=138-0013", "phone is the caller's number: 3-20 digits, optionally after +"),
        ("cursor=bm9wZQ", "cursor is not one this API gave: send next_cursor as it came"),
        (
            "number=1",
            "unknown query parameter number; known: phone, from, to, choice, outcome,"
            " queue_outcome, server, limit, cursor",
        ),
        ("server=Box_1", "server is an Asterisk's server_name: a-z 0-9 -, at most 32"),
    ],
)
async def test_a_bad_parameter_is_named_with_what_it_may_be(
    api: Api, query: str, message: str
) -> None:
    assert await get(api, f"/api/calls?{query}") == (400, {"error": message})


async def test_a_call_shows_the_transfers_made_of_it(api: Api) -> None:
    """Recorded on the call (the live transfer itself: tests/integration/test_agent_state.py)."""
    done = CallTransfer(
        unique_id="1700000000.5",
        call_id=call_id(5),
        at=T0 + timedelta(minutes=5, seconds=40),
        from_job_number=AGENT_JOB,
        from_queue="q-repair",
        target=TransferTarget(TargetKind.QUEUE, "q-billing"),
        actor=f"agent:{AGENT_JOB}",
    )
    await SqlCallTransfers(api.bridge.engine).record(done)
    for role in (Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION):
        status, body = await get(api, f"/api/calls/{call_id(5)}", role)
        assert status == 200
        assert body["transfers"] == [
            {
                "call_id": call_id(5),
                "at": "2026-12-05T09:05:40+08:00",
                "from_job_number": AGENT_JOB,
                "from_queue": "q-repair",
                "target_kind": "queue",
                "target": "q-billing",
                "actor": f"agent:{AGENT_JOB}",
            }
        ]
    status, body = await get(api, f"/api/calls/{call_id(2)}")
    assert body["transfers"] == []


async def test_a_call_a_lost_server_took_names_its_server_and_why(api: Api) -> None:
    """A call open on server b when every bridge of b stopped beating is closed as lost by
    another bridge (ivr.db.servers); the API shows where it ran and why it ended so."""
    engine = api.bridge.engine
    at = T0 + timedelta(minutes=7)
    await SqlCallRepository(engine, "b").add(
        CallRecord(
            call_id=call_id(7),
            unique_id="1700000000.7",
            caller_number="13800138000",
            dialed_number="95598",
            channel_name="PJSIP/trunk-00000007",
            started_at=at,
            outcome=CallOutcome.IN_MENU,
        )
    )
    await SqlServers(engine, lambda: at, "b").beat("bridge-b1", at)
    later = at + timedelta(minutes=1)
    assert await SqlServers(engine, lambda: later, "a").close_lost_server("b", later) == (1, 0)

    status, body = await get(api, "/api/calls?server=b")
    assert status == 200
    [lost] = body["calls"]
    assert (lost["call_id"], lost["server_name"], lost["outcome"]) == (call_id(7), "b", "lost")
    assert lost["lost_reason"] == "server b lost: no bridge of it alive since 2026-12-05 01:07:00Z"
    _, body = await get(api, f"/api/calls/{call_id(2)}")
    assert (body["server_name"], body["lost_reason"]) == ("asterisk-1", None)
    _, body = await get(api, "/api/calls?server=a")
    assert body["calls"] == []
