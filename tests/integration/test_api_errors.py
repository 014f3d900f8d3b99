"""What the API says when a request is wrong, through the bridge's real web app: an unknown
route is 404 and a wrong method 405 (both only after authentication: no token, still 401), and
an enum or range error names its parameter with the values it may take, and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.domain.access import Role
from tests.integration.api_app import Api, api_app


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with api_app(tmp_path) as found:
        yield found


async def test_unknown_routes_are_404_and_wrong_methods_405_after_authentication(
    api: Api,
) -> None:
    for role in Role:
        response = await api.client.get("/api/no-such-thing", headers=api.auth(role))
        assert response.status == 404, role
        assert await response.json() == {"error": "no such route: /api/no-such-thing"}
        response = await api.client.delete("/api/work-orders", headers=api.auth(role))
        assert response.status == 405, role
        assert response.headers["Allow"] == "GET,HEAD,POST"
        assert await response.json() == {
            "error": "DELETE is not allowed on /api/work-orders; allowed: GET, HEAD, POST"
        }
    # without a token neither says whether the route exists
    assert (await api.client.get("/api/no-such-thing")).status == 401
    assert (await api.client.delete("/api/work-orders")).status == 401


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/api/work-orders?status=finished",
            "status is one of created, dispatched, in_progress, closed, callback_done, archived",
        ),
        ("/api/work-orders?kind=x&limit=5", "kind is one of "),
        ("/api/work-orders?overdue=yes", "overdue is one of true, false"),
        ("/api/work-orders?limit=0", "limit is 1–500"),
        ("/api/work-orders?limit=many", "limit is 1–500"),
        ("/api/alerts?state=closed", "state is one of open, acknowledged, all"),
        ("/api/alerts?level=fatal", "level is one of warning, breach"),
        ("/api/alerts?limit=501", "limit is 1–500"),
        ("/api/follow-ups?state=x", "state is one of open, resolved, all"),
        ("/api/follow-ups?flagged=1", "flagged is one of true, false"),
        ("/api/deadlines?state=late", "state is one of attention, at_risk, overdue, open"),
        ("/api/reports/monthly?month=2026-11&format=pdf", "format is one of json, csv, xlsx"),
        ("/api/outages?state=gone", "state is one of open, closed, cancelled"),
        ("/api/outages?limit=1001", "limit is 1–1000"),
        ("/api/customers?limit=0", "limit is 1–1000"),
        ("/api/recordings?limit=501", "limit is 1–500"),
    ],
)
async def test_enum_and_range_errors_list_what_is_allowed(
    api: Api, path: str, message: str
) -> None:
    response = await api.client.get(path, headers=api.auth(Role.ADMIN))
    assert response.status == 400
    error = (await response.json())["error"]
    if message.endswith(" "):  # the values themselves are the domain's (checked elsewhere)
        assert error.startswith(message) and ";" not in error
    else:
        assert error == message


async def test_a_limit_inside_a_routes_own_range_is_taken(api: Api) -> None:
    for path in ("/api/outages?limit=1000", "/api/customers?limit=1000", "/api/calls?limit=500"):
        response = await api.client.get(path, headers=api.auth(Role.ADMIN))
        assert response.status == 200, path
