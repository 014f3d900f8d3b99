"""The agent's workspace: its live feed over a WebSocket, the agent's own orders, and the page.

* ``GET /api/agents/me/events`` — aiohttp's own WebSocket. The token never goes in the URL
  (logs, history): the first message must be ``{"type": "auth", "token": …}`` within
  :data:`AUTH_TIMEOUT_S`. Close codes: 4401 not authenticated, 4403 not an agent with a 工号,
  4408 no auth message in time, 4429 too many connections (or too many bad tokens from this
  address), 1013 the page could not keep up (it reconnects and resyncs). The token is checked
  again every :data:`RECHECK_S`: a revoked token's connection ends (4401).
* ``GET /api/agents/me/work-orders`` — the agent's open orders (and those closed in the last
  7 days, with their 回访), next deadline marked ``warning``/``breached``.
* ``GET /workspace`` and its static files — no data in them, so they need no token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from datetime import datetime, timedelta, tzinfo
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from ivr.domain.access import Principal, Role
from ivr.domain.auth_throttle import AuthThrottle
from ivr.domain.workspace import MyOrder
from ivr.ports import WorkspaceLookup
from ivr.services.agent_feed import AgentFeed, Subscriber, TooManyConnections
from ivr.web.auth import Authenticator, principal, public, requires
from ivr.web.errors import json_error
from ivr.web.json_body import centre_timezone, dumps, json_response
from ivr.web.requests import to_json

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 5.0
RECHECK_S = 60.0
HEARTBEAT_S = 20.0
CLOSED_SHOWN = timedelta(days=7)  # closed orders stay on the list this long (their 回访)

UNAUTHENTICATED, FORBIDDEN, AUTH_TIMEOUT, TOO_MANY, TRY_AGAIN = 4401, 4403, 4408, 4429, 1013

_STATIC = resources.files("ivr.web").joinpath("workspace_page")
_FILES = {
    "workspace.js": "text/javascript",
    "workspace.css": "text/css",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; media-src 'self'; img-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def my_order_json(order: MyOrder) -> dict[str, Any]:
    deadline = order.next_deadline
    callback = order.callback
    return to_json(
        {
            "order_no": order.order_no,
            "kind": order.kind,
            "status": order.status,
            "created_at": order.created_at,
            "summary": order.summary,
            "result": order.result,
            "customer_phone": order.customer_phone,
            "call_ids": list(order.call_ids),
            "notes": list(order.notes),
            "next_deadline": None
            if deadline is None
            else {"name": deadline.name, "due_at": deadline.due_at, "urgency": deadline.urgency},
            "callback": None
            if callback is None
            else {
                "state": callback.state,
                "due_by": callback.due_by,
                "result": callback.result,
                "satisfied": callback.satisfied,
                "power_restored": callback.power_restored,
                "suggestion_recorded": callback.suggestion_recorded,
            },
        }
    )


class WorkspaceEvents:
    """The WebSocket endpoint: first-message auth, then this agent's events only."""

    def __init__(self, feed: AgentFeed, tokens: Authenticator) -> None:
        self.feed = feed
        self.tokens = tokens
        self.throttle = AuthThrottle()
        self.open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def close_all(self, _app: web.Application) -> None:
        """The web server is stopping: tell every page (1001), which reconnects by itself."""
        for ws in list(self.open):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopping")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        _same_origin(request)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=4096)
        await ws.prepare(request)
        self.open.add(ws)
        source = request.remote or "unknown"
        if self.throttle.wait_s(source, time.monotonic()) > 0:
            await ws.close(code=TOO_MANY, message=b"too many bad tokens: wait")
            return ws
        token = await _first_auth(ws)
        if token is None:
            if not ws.closed:
                await ws.close(code=AUTH_TIMEOUT, message=b"send {type: auth, token} first")
            return ws
        who = await self.tokens.authenticate(token)
        if who is None:
            self.throttle.failed(source, time.monotonic())
            await ws.close(code=UNAUTHENTICATED, message=b"a valid token is required")
            return ws
        self.throttle.succeeded(source)
        if who.role is not Role.AGENT or not who.job_number:
            await ws.close(code=FORBIDDEN, message=b"the workspace is an agent's")
            return ws
        try:
            sub = await self.feed.subscribe(who.job_number)
        except TooManyConnections as exc:
            await ws.close(code=TOO_MANY, message=str(exc).encode()[:120])
            return ws
        try:
            tz = centre_timezone(request)  # the one JSON writer's form (ivr/web/json_body.py)
            await ws.send_json(self.feed.snapshot(who.job_number), dumps=lambda v: dumps(v, tz))
            await self._serve(ws, sub, token, tz)
        finally:
            self.feed.unsubscribe(sub)
        return ws

    async def _serve(
        self, ws: web.WebSocketResponse, sub: Subscriber, token: str, tz: tzinfo
    ) -> None:
        reader = asyncio.ensure_future(_drain(ws))
        try:
            while not ws.closed:
                getter = asyncio.ensure_future(sub.messages.get())
                done, _ = await asyncio.wait(
                    {getter, reader}, timeout=RECHECK_S, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                if reader in done:
                    return  # the page went away
                if getter in done:
                    message = getter.result()
                    if message.get("type") == "overflow":
                        await ws.close(code=TRY_AGAIN, message=b"too slow: reconnect")
                        return
                    await ws.send_json(message, dumps=lambda v: dumps(v, tz))
                elif not _still(await self.tokens.authenticate(token), sub.job_number):
                    await ws.close(code=UNAUTHENTICATED, message=b"token no longer valid")
                    return
        except (ConnectionResetError, RuntimeError):
            return  # the connection closed while sending
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _still(who: Principal | None, job_number: str) -> bool:
    return who is not None and who.role is Role.AGENT and who.job_number == job_number


async def _first_auth(ws: web.WebSocketResponse) -> str | None:
    try:
        message = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_S)
    except TimeoutError:
        return None
    if message.type is not WSMsgType.TEXT:
        return None
    try:
        body = json.loads(message.data)
    except ValueError:
        return None
    token = body.get("token") if isinstance(body, dict) and body.get("type") == "auth" else None
    return token if isinstance(token, str) and 0 < len(token) <= 256 else None


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the page sends after auth, until it closes."""
    async for _message in ws:
        pass


def _same_origin(request: web.Request) -> None:
    """A browser sends Origin on a WebSocket: another site's page may not open ours."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise json_error(web.HTTPForbidden, "cross-origin WebSocket refused")


def add_workspace_routes(
    app: web.Application,
    feed: AgentFeed,
    tokens: Authenticator,
    lookup: WorkspaceLookup,
    clock: Any,
) -> None:
    events = WorkspaceEvents(feed, tokens)
    app.on_shutdown.append(events.close_all)

    @public  # authenticated by its first message, not by a header a browser cannot set
    async def agent_events(request: web.Request) -> web.StreamResponse:
        return await events.handle(request)

    @requires(Role.AGENT)
    async def my_work_orders(request: web.Request) -> web.Response:
        who = principal(request)
        if not who.job_number:
            raise json_error(web.HTTPForbidden, "this token has no 工号")
        now: datetime = clock()
        orders = await lookup.my_orders(who.job_number, now - CLOSED_SHOWN)
        return json_response(
            request,
            {"job_number": who.job_number, "orders": [my_order_json(o) for o in orders]},
            headers={"Cache-Control": "no-store"},
        )

    @public
    async def page(_request: web.Request) -> web.Response:
        text = _STATIC.joinpath("workspace.html").read_text(encoding="utf-8")
        return web.Response(text=text, content_type="text/html", headers=SECURITY_HEADERS)

    @public
    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _FILES:
            raise json_error(web.HTTPNotFound, "no such file")
        body = _STATIC.joinpath(name).read_text(encoding="utf-8")
        return web.Response(text=body, content_type=_FILES[name], headers=SECURITY_HEADERS)

    app.router.add_get("/api/agents/me/events", agent_events)
    app.router.add_get("/api/agents/me/work-orders", my_work_orders)
    app.router.add_get("/workspace", page)
    app.router.add_get("/workspace/{name}", asset)
