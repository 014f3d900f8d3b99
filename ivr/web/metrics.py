"""``GET /metrics``: the bridge's Prometheus exposition (see ``ivr.services.metrics``).

For supervisors and the ``integration`` role (give Prometheus its own ``integration`` token).
It holds no personal data, but the centre's load and its agents' states are not public.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ivr.domain.access import Role
from ivr.ports import StoredOutcomes
from ivr.services.metrics import CONTENT_TYPE, BridgeMetrics
from ivr.web.auth import requires


def add_metrics_route(
    app: web.Application,
    metrics: BridgeMetrics,
    snapshot: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    stored: StoredOutcomes | None = None,
) -> None:
    @requires(Role.SUPERVISOR, Role.INTEGRATION)
    async def scrape(_request: web.Request) -> web.Response:
        body = await metrics.exposition(snapshot, stored)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", scrape)
