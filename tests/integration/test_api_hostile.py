"""Hostile input to the real API on SQLite and PostgreSQL: wrong types, huge or deep bodies,
unknown fields, bad phone numbers, SQL and dial-string metacharacters. Each gets a clear error
(and nothing stored), or is stored verbatim where it is legitimate text; a phone number never
gets past validation, so nothing of it can reach a dial string."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.domain.access import Role
from tests.integration.api_app import AGENT_JOB, Api, api_app

# Dial-string and SQL metacharacters, and text a trunk or a person might really send.
META = [
    "1380013800&Local/x",
    "13800138000,trunk",
    "a|b",
    "line\nbreak",
    "'; DROP TABLE work_orders; --",
    '" OR "1"="1',
    "${SHELL}$(reboot)`id`",
    "Local/1@evil/n",
    "<img src=x onerror=alert(1)>",
    "王先生 ☎ 0755-1234567",
]
BAD_PHONES = [
    *META,
    "13800138000\n",
    "138 0013 8000",
    "+8613800138000",
    "1380013800",
    "23800138000",
    "",
    "１３８００１３８０００",  # full-width digits
]


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path, db_url) as found:
        yield found


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "repair",
        "owner_job_number": AGENT_JOB,
        "summary": "整栋楼停电",
        "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
    }
    for key, value in changes.items():
        if key.startswith("customer_"):
            body["customer"][key.removeprefix("customer_")] = value
        else:
            body[key] = value
    return body


async def count_orders(api: Api) -> int:
    listed = await api.client.get("/api/work-orders?limit=500", headers=api.auth(Role.ADMIN))
    return len((await listed.json())["orders"])


async def test_free_text_with_metacharacters_is_stored_verbatim(api: Api) -> None:
    headers = api.auth(Role.INTEGRATION)
    for text in META:
        response = await api.client.post(
            "/api/work-orders", json=order(summary=f"x {text} y"), headers=headers
        )
        assert response.status == 201, (text, await response.text())
        created = await response.json()
        number = created["order_no"]
        fetched = await (await api.client.get(f"/api/work-orders/{number}", headers=headers)).json()
        assert fetched["summary"] == f"x {text} y"
        assert fetched["customer_phone"] == "13800138000"
        patch = await api.client.patch(
            f"/api/work-orders/{number}", json={"note": text, "summary": text}, headers=headers
        )
        assert patch.status == 200, await patch.text()
        assert (await patch.json())["summary"] == text.strip()
        closed = await api.client.post(
            f"/api/work-orders/{number}/close", json={"result": text}, headers=headers
        )
        assert closed.status == 200, await closed.text()
    for surname in ("O'N", "王;&|", "<b>"):
        response = await api.client.post(
            "/api/work-orders", json=order(customer_surname=surname), headers=headers
        )
        assert response.status == 201
        assert (await response.json())["customer_surname"] == surname
    assert await count_orders(api) == len(META) + 3


async def test_bad_phone_numbers_are_refused_and_nothing_is_stored(api: Api) -> None:
    headers = api.auth(Role.INTEGRATION)
    for phone in BAD_PHONES:
        response = await api.client.post(
            "/api/work-orders", json=order(customer_phone=phone), headers=headers
        )
        assert response.status == 422, (phone, response.status)
        error = await response.json()
        assert "phone" in str(error), error
    assert await count_orders(api) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (order(kind=3), "kind"),
        (order(summary=["list"]), "summary"),
        (order(summary={"a": 1}), "summary"),
        (order(do_not_call="yes please"), "do_not_call"),
        (order(customer_phone=13800138000), "customer.phone"),
        (order(customer="王女士"), "customer"),
        (order(owner_job_number="1; DROP"), "owner_job_number"),
        (order(call_id="../../etc/passwd"), "call_id"),
        (order(is_admin=True), "is_admin"),
        (order(customer_extra="x"), "customer.extra"),
        (order(summary="nul\x00byte"), "summary"),
        (order(summary="escape\x1b[2J"), "summary"),
        (order(summary="x" * 2001), "summary"),
        (order(customer_surname="王" * 5), "customer.surname"),
        ([order()], ""),
        ("just a string", ""),
    ],
)
async def test_wrong_types_and_unknown_fields_are_422(api: Api, body: Any, field: str) -> None:
    response = await api.client.post(
        "/api/work-orders", json=body, headers=api.auth(Role.INTEGRATION)
    )
    assert response.status == 422, await response.text()
    error = await response.json()
    assert error["error"] == "invalid input"
    assert field in {d["field"] for d in error["details"]} or not field
    assert await count_orders(api) == 0


async def test_huge_deep_and_broken_bodies(api: Api) -> None:
    headers = api.auth(Role.INTEGRATION)
    huge = order(summary="x" * (80 * 1024))
    response = await api.client.post("/api/work-orders", json=huge, headers=headers)
    assert response.status == 413
    assert "larger than" in (await response.json())["error"]
    deep = b"[" * 50_000 + b"]" * 50_000  # under the size limit, beyond the parser's recursion
    response = await api.client.post("/api/work-orders", data=deep, headers=headers)
    assert response.status in (400, 413), response.status
    assert (await response.json())["error"]
    for raw in (b"{not json", b"\xff\xfe\x00", b""):
        response = await api.client.post("/api/work-orders", data=raw, headers=headers)
        assert response.status == 400, raw
        assert "JSON" in (await response.json())["error"]
    # and the API still works for the next request
    ok = await api.client.post("/api/work-orders", json=order(), headers=headers)
    assert ok.status == 201
    assert await count_orders(api) == 1


async def test_query_strings_and_headers_are_checked(api: Api) -> None:
    headers = api.auth(Role.SUPERVISOR)
    for query in ("status=nope", "kind=1%27%20OR%201%3D1", "limit=-1", "limit=x", "overdue=1"):
        response = await api.client.get(f"/api/work-orders?{query}", headers=headers)
        assert response.status == 400, query
        assert (await response.json())["error"]
    response = await api.client.get(
        "/api/work-orders?owner=%27%20OR%20%271%27%3D%271", headers=headers
    )
    assert response.status == 200 and (await response.json())["orders"] == []
    bad_key = {**api.auth(Role.INTEGRATION), "Idempotency-Key": "a\u2028b; DROP"}
    response = await api.client.post("/api/work-orders", json=order(), headers=bad_key)
    assert response.status == 400
    for path in ("/api/work-orders/..%2F..%2Fetc", "/api/follow-ups/1;2", "/api/follow-ups/9e9"):
        response = await api.client.get(path, headers=api.auth(Role.ADMIN))
        assert response.status == 404, path
    response = await api.client.delete("/api/work-orders", headers=api.auth(Role.ADMIN))
    assert response.status == 405 and (await response.json())["error"]


async def test_agents_api_refuses_unknown_fields_wrong_types_and_dial_metacharacters(
    api: Api,
) -> None:
    sup = api.auth(Role.SUPERVISOR)
    good = {"name": "王工", "interface": "Local/7301@sim-agents/n", "skills": ["q-repair"]}
    assert (await api.client.put("/api/agents/7301", json=good, headers=sup)).status == 200
    for body in (
        {**good, "role": "admin"},
        {**good, "name": 7},
        {**good, "skills": "q-repair"},
        {**good, "skills": [1]},
        [good],
    ):
        response = await api.client.put("/api/agents/7302", json=body, headers=sup)
        assert response.status == 422, body
    for device in (
        "PJSIP/8001&Local/x@evil",
        "PJSIP/8001,30,D(1)",
        "PJSIP/8001|x",
        "PJSIP/80\n01",
        "PJSIP/8001)",
    ):
        body = {"name": "x", "device": device, "skills": ["q-repair"]}
        response = await api.client.put("/api/agents/7302", json=body, headers=sup)
        assert response.status == 400, device
    for interface in (
        "Local/7302@sim-agents/n&Local/x",
        "Local/7302@a,b/n",
        "Local/7302@x\n/n",
        "Local/13800138000@outbound-trunk/n",  # a queue that dials out: toll fraud
        "Local/95598@from-pstn/n",  # a queue that calls the hotline: a call storm
        "PJSIP/trunk-95598",
    ):
        body = {"name": "x", "interface": interface, "skills": ["q-repair"]}
        response = await api.client.put("/api/agents/7302", json=body, headers=sup)
        assert response.status == 400, interface
    response = await api.client.put(
        "/api/agents/7302", json={**good, "name": "a\nAction: Originate"}, headers=sup
    )
    assert response.status == 400  # a line break is text, but not in a name that reaches AMI
    for name in ("x\x00", "\x1b[31m"):  # characters no person types: refused by the body
        response = await api.client.put(
            "/api/agents/7302", json={**good, "name": name}, headers=sup
        )
        assert response.status == 422, name
    listed = await (await api.client.get("/api/agents", headers=sup)).json()
    assert [a["job_number"] for a in listed["agents"]] == ["7301"]
    # a pause reason that would end the AMI action's header and start another is refused
    response = await api.client.post(
        "/api/agents/7301/pause",
        json={"reason": "lunch\r\nAction: Originate\r\nChannel: Local/1@x"},
        headers=sup,
    )
    assert response.status == 422
    response = await api.client.post(
        "/api/agents/7301/pause", json={"reason": "x", "force": True}, headers=sup
    )
    assert response.status == 422
    response = await api.client.post("/api/agents/7301/login", json={"x": 1}, headers=sup)
    assert response.status == 422


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("address", "幸福路\x00 12号"),
        ("address", "幸福路\x1b]0;owned\x07"),
        ("fault", "停\x85电"),
        ("fault", "\u202e电停"),
        ("summary", "停电\u2066隐藏\u2069"),
        ("customer_surname", "王\x7f"),
    ],
)
async def test_control_and_bidi_characters_are_refused_everywhere(
    api: Api, field: str, text: str
) -> None:
    """NUL gave a 500 on PostgreSQL and was stored on SQLite; escapes, C1 controls and bidi
    overrides passed. Each is a 422 naming the field, and nothing is stored."""
    before = await count_orders(api)
    response = await api.client.post(
        "/api/work-orders", json=order(**{field: text}), headers=api.auth(Role.INTEGRATION)
    )
    assert response.status == 422, await response.text()
    [detail] = (await response.json())["details"]
    assert detail["field"] == field.replace("customer_", "customer.")
    assert "contains U+" in detail["problem"] or "pattern" in detail["problem"]
    assert await count_orders(api) == before
