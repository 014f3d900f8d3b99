"""One JSON writer for every route (``ivr/web/json_body.py``): through the real web app, Chinese
text arrives as UTF-8 characters, never ``\\u`` escapes, and every timestamp in any answer
carries the centre's offset (+08:00 for Asia/Shanghai), wherever in the bridge it was made."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ivr.domain.access import Role
from tests.integration.api_app import AGENT_JOB, Api, api_app

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path) as found:
        yield found


def timestamps(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if ISO.match(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in timestamps(v)]
    if isinstance(value, list):
        return [t for v in value for t in timestamps(v)]
    return []


async def test_utf8_and_the_centres_offset_in_every_answer(api: Api) -> None:
    order = {
        "kind": "repair",
        "owner_job_number": AGENT_JOB,
        "summary": "整栋楼停电",
        "address": "朝阳区幸福路12号",
        "fault": "停电",
        "customer": {"surname": "王", "title": "女士", "phone": "13800138000"},
    }
    created = await api.client.post(
        "/api/work-orders", json=order, headers=api.auth(Role.INTEGRATION)
    )
    assert created.status == 201
    assert created.headers["Content-Type"] == "application/json; charset=utf-8"
    order_no = (await created.json())["order_no"]
    checked = 0
    for path, role in [
        (f"/api/work-orders/{order_no}", Role.INTEGRATION),
        ("/api/work-orders", Role.SUPERVISOR),
        ("/api/deadlines?state=open", Role.SUPERVISOR),
        ("/api/dashboard", Role.SUPERVISOR),
    ]:
        response = await api.client.get(path, headers=api.auth(role))
        assert response.status == 200, path
        raw = (await response.read()).decode("utf-8")
        assert "\\u" not in raw, path
        found = timestamps(json.loads(raw))
        assert found, path  # each of these answers has times in it
        for moment in found:
            assert moment.endswith("+08:00"), (path, moment)
        checked += len(found)
    assert checked > 10
    body = (
        await (
            await api.client.get(f"/api/work-orders/{order_no}", headers=api.auth(Role.INTEGRATION))
        ).read()
    ).decode()
    assert "整栋楼停电" in body and "朝阳区幸福路12号" in body
