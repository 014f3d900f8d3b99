"""The one JSON writer of every route (docs/api.md, "JSON bodies"): UTF-8 as is (Chinese text is
sent as characters, never ``\\u`` escapes) and every timestamp in the centre's time zone with
its offset (``2026-12-05T15:20:00+08:00``), whichever part of the bridge produced it: a
``datetime`` object, or an ISO 8601 string with an offset made earlier (an alert's stored
payload). A string that is exactly such a timestamp is the same instant either way.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from aiohttp import web

CENTRE_TZ = web.AppKey("centre_tz", tzinfo)
_ISO_WITH_OFFSET = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$"
)


def set_centre_timezone(app: web.Application, tz: tzinfo) -> None:
    """The zone every timestamp is written in (``tracking.timezone``)."""
    app[CENTRE_TZ] = tz


def centre_timezone(request: web.Request) -> tzinfo:
    return request.app.get(CENTRE_TZ) or UTC


def jsonable(value: Any, tz: tzinfo) -> Any:
    """``value`` with its timestamps in ``tz`` (nested dicts, lists and tuples included)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the bridge stores UTC; a naive one is UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(tz).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        if _ISO_WITH_OFFSET.match(value):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return value
            return moment.astimezone(tz).isoformat()
        return value
    if isinstance(value, dict):
        return {k: jsonable(v, tz) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, tz) for v in value]
    return value


def dumps(value: Any, tz: tzinfo) -> str:
    return json.dumps(jsonable(value, tz), ensure_ascii=False)


def json_response(
    request: web.Request,
    data: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """``data`` as a JSON response (UTF-8, the centre's offset on every timestamp)."""
    return web.Response(
        text=dumps(data, centre_timezone(request)),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(message: str, status: int) -> web.Response:
    """``{"error": message}`` (no timestamps in it, so no request needed for the zone)."""
    return web.Response(
        text=json.dumps({"error": message}, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )
