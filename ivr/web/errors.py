"""One error shape for every refusal: ``{"error": …}``, also for what aiohttp refuses itself
(a body over ``client_max_size`` → 413, an unknown method → 405), and one careful JSON reader.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 64 * 1024  # work orders and agent records are small; a bigger body is hostile

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(kind: type[web.HTTPException], message: str, **extra: Any) -> web.HTTPException:
    return kind(
        text=json.dumps({"error": message, **extra}, ensure_ascii=False),
        content_type="application/json",
    )


async def read_json(request: web.Request) -> Any:
    """The parsed body; 400 for what is not JSON (or nests beyond reason), 413 if too big."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        limit = request.app._client_max_size
        raise web.HTTPRequestEntityTooLarge(
            max_size=limit,
            actual_size=0,
            text=json.dumps({"error": f"the body is larger than {limit} bytes"}),
            content_type="application/json",
        ) from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(web.HTTPBadRequest, "the body must be JSON (UTF-8)") from None
    except RecursionError:
        raise json_error(web.HTTPBadRequest, "the body nests too deeply") from None


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, 413) come as text; turn them into our shape."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        headers = {
            k: v
            for k, v in exc.headers.items()
            if k.lower() not in ("content-type", "content-length")
        }
        return web.Response(
            text=json.dumps({"error": exc.reason or "refused"}, ensure_ascii=False),
            status=exc.status,
            headers=headers,
            content_type="application/json",
        )
