"""``GET /health/ready``: readiness, apart from liveness (``GET /health``).

200 when every part is ready, 503 otherwise, with a JSON body naming the parts that are not.
Unauthenticated (probes have no token), so it says only fixed words per part: no address, user,
secret or error text.
"""

from __future__ import annotations

from aiohttp import web

from ivr.services.readiness import Readiness
from ivr.web.auth import public
from ivr.web.json_body import json_response


def add_health_routes(app: web.Application, readiness: Readiness) -> None:
    @public
    async def ready(request: web.Request) -> web.Response:
        report = await readiness.report()
        body = {
            "status": "ready" if report.ready else "not ready",
            "not_ready": report.not_ready,
            "parts": {
                name: {"ready": part.ready, "state": part.state}
                for name, part in report.parts.items()
            },
        }
        return json_response(
            request,
            body,
            status=200 if report.ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    app.router.add_get("/health/ready", ready)
