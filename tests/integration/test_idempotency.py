"""An ``Idempotency-Key`` is a retry's promise: the same key with the same body answers as the
first time (one order, one close); the same key with a different body is refused with 409 and
a message that says so, on SQLite and PostgreSQL (the hash is stored with the key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.db.workorder_models import WorkOrderRow
from ivr.domain.access import Role
from tests.integration.api_app import AGENT_JOB, Api, api_app

ORDER = {
    "kind": "consultation",
    "owner_job_number": AGENT_JOB,
    "summary": "咨询电费",
    "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
}


@pytest.fixture
async def api(db_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path, db_url) as found:
        yield found


async def post(api: Api, path: str, body: dict, key: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    headers = {**api.auth(Role.INTEGRATION), "Idempotency-Key": key}
    response = await api.client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def orders(api: Api) -> int:
    async with api.bridge.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(WorkOrderRow)) or 0)


async def test_a_key_reused_with_another_body_is_refused(api: Api) -> None:
    status, first = await post(api, "/api/work-orders", ORDER, "crm-2026-000123")
    assert status == 201
    # a retry: the same body (key order and spacing do not matter) answers with the same order
    retry = dict(reversed(list(ORDER.items())))
    status, again = await post(api, "/api/work-orders", retry, "crm-2026-000123")
    assert (status, again["order_no"]) == (200, first["order_no"])
    status, body = await post(
        api, "/api/work-orders", {**ORDER, "summary": "咨询电价"}, "crm-2026-000123"
    )
    assert status == 409
    assert body == {
        "error": "Idempotency-Key crm-2026-000123 was already used with a different body: "
        "a retry sends the same body, a new request a new key"
    }
    assert await orders(api) == 1

    close = f"/api/work-orders/{first['order_no']}/close"
    status, _ = await post(api, close, {"result": "已答复"}, "crm-close-000123")
    assert status == 200
    status, _ = await post(api, close, {"result": "已答复"}, "crm-close-000123")
    assert status == 200
    status, body = await post(api, close, {"result": "另一个结果"}, "crm-close-000123")
    assert status == 409
    assert body["error"].startswith("Idempotency-Key crm-close-000123 was already used with a")
