"""首问负责制 (first-contact responsibility): the agent who takes a request owns its work order
until it is closed. The owner is set when the order is recorded and a transfer of the call
changes nothing (the transfer route never touches orders: proven on a live call in
``tests/integration/test_agent_state.py``); only a supervisor gives an order to another agent,
with a reason, and the order's history says so. Through the real web app on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.domain.access import Role
from ivr.domain.agents import Agent
from tests.integration.api_app import AGENT_JOB, Api, api_app

OTHER = "7302"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path) as found:
        for job in (AGENT_JOB, OTHER):
            await found.bridge.agents.put(
                Agent(job, f"坐席{job}", f"Local/{job}@sim-agents/n", ("q-repair",))
            )
        yield found


async def record(api: Api) -> str:
    body = {
        "kind": "repair",
        "summary": "整栋楼停电",
        "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
    }
    response = await api.client.post("/api/work-orders", json=body, headers=api.auth(Role.AGENT))
    assert response.status == 201, await response.text()
    order = await response.json()
    assert order["owner_job_number"] == AGENT_JOB  # the agent who took it
    return str(order["order_no"])


async def test_only_a_supervisor_reassigns_and_the_history_says_why(api: Api) -> None:
    order_no = await record(api)
    url = f"/api/work-orders/{order_no}/reassign"
    body = {"owner_job_number": OTHER, "reason": "原坐席调岗，转交跟进"}
    for role in (Role.AGENT, Role.INTEGRATION):
        response = await api.client.post(url, json=body, headers=api.auth(role))
        assert response.status == 403, role
    # an agent cannot take it over by changing it either
    patch = await api.client.patch(
        f"/api/work-orders/{order_no}",
        json={"owner_job_number": OTHER},
        headers=api.auth(Role.AGENT),
    )
    assert patch.status == 422

    sup = api.auth(Role.SUPERVISOR)
    for bad, status in (
        ({"owner_job_number": OTHER}, 422),  # a reason is required
        ({"owner_job_number": OTHER, "reason": "x"}, 422),  # …and says something
        ({"owner_job_number": "9999", "reason": "转交"}, 422),  # no such agent
        ({"owner_job_number": "12a", "reason": "转交"}, 422),
        ({"owner_job_number": AGENT_JOB, "reason": "转交"}, 409),  # owns it already
    ):
        response = await api.client.post(url, json=bad, headers=sup)
        assert response.status == status, (bad, await response.text())
    missing = await api.client.post(
        "/api/work-orders/00000000000000000000/reassign", json=body, headers=sup
    )
    assert missing.status == 404

    response = await api.client.post(url, json=body, headers=sup)
    assert response.status == 200, await response.text()
    order = await response.json()
    assert order["owner_job_number"] == OTHER
    last = order["history"][-1]
    assert last["actor"] == "supervisor:t-supervisor"
    assert last["from"] == last["to"] == "created"  # the status did not move
    assert last["note"] == f"reassigned {AGENT_JOB} → {OTHER}: 原坐席调岗，转交跟进"

    # the first agent no longer sees it; the new owner does
    gone = await api.client.get(f"/api/work-orders/{order_no}", headers=api.auth(Role.AGENT))
    assert gone.status == 403
    theirs = await api.bridge.tokens.create("t-other", Role.AGENT, OTHER)
    mine = await api.client.get(
        f"/api/work-orders/{order_no}", headers={"Authorization": f"Bearer {theirs}"}
    )
    assert mine.status == 200
