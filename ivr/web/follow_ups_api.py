"""The supervisor's follow-up API (督办): list open follow-ups and callbacks flagged for a human,
resolve one with a note, or re-queue a flagged callback for another automatic attempt.

Supervisors (and admin) only: follow-ups are escalations. Resolving and re-queueing are
idempotent (repeating the same decision answers ``200`` with the stored result); the other
decision on a decided follow-up is ``409``. Errors are ``{"error": …}`` like the work-order API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints

from ivr.domain.access import Role
from ivr.domain.follow_ups import FollowUpConflict, FollowUpNotFound
from ivr.ports import FollowUpDesk
from ivr.web.auth import principal, requires
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import (
    NO_CONTROLS,
    StrictIn,
    actor,
    parse_body,
    path_id,
    query_choice,
    query_limit,
    to_json,
)

FOLLOW_UPS = web.AppKey("follow_ups", FollowUpDesk)
Note = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NO_CONTROLS),
]
_STATES = {"open": True, "resolved": False, "all": None}
_FLAGS = {"true": True, "false": False, None: None}


class ResolveIn(StrictIn):
    note: Note


class RequeueIn(StrictIn):
    note: Note | None = None


@requires(Role.SUPERVISOR)
async def list_follow_ups(request: web.Request) -> web.Response:
    query = request.query
    state = query_choice(query, "state", list(_STATES), "open") or "open"
    flagged = query_choice(query, "flagged", ["true", "false"])
    limit = query_limit(query)
    rows = await request.app[FOLLOW_UPS].list(_STATES[state], _FLAGS[flagged], limit)
    return json_response(request, {"follow_ups": to_json(rows)})


@requires(Role.SUPERVISOR)
async def get_follow_up(request: web.Request) -> web.Response:
    try:
        row = await request.app[FOLLOW_UPS].get(path_id(request, "follow_up_id", "follow-up"))
    except FollowUpNotFound:
        raise json_error(web.HTTPNotFound, "no such follow-up") from None
    return json_response(request, to_json(row))


@requires(Role.SUPERVISOR)
async def resolve_follow_up(request: web.Request) -> web.Response:
    return await _decide(request, ResolveIn, request.app[FOLLOW_UPS].resolve)


@requires(Role.SUPERVISOR)
async def requeue_follow_up(request: web.Request) -> web.Response:
    return await _decide(request, RequeueIn, request.app[FOLLOW_UPS].requeue)


async def _decide(
    request: web.Request,
    model: type[ResolveIn] | type[RequeueIn],
    decide: Callable[[int, str, str | None], Awaitable[dict[str, Any]]],
) -> web.Response:
    """One decision on a follow-up (resolve or requeue), with the same errors for both."""
    follow_up_id = path_id(request, "follow_up_id", "follow-up")
    body = await parse_body(request, model)
    try:
        row = await decide(follow_up_id, actor(principal(request)), body.note)
    except FollowUpNotFound:
        raise json_error(web.HTTPNotFound, "no such follow-up") from None
    except FollowUpConflict as exc:
        raise json_error(web.HTTPConflict, str(exc)) from None
    return json_response(request, to_json(row))


def add_routes(app: web.Application, store: FollowUpDesk) -> None:
    app[FOLLOW_UPS] = store
    app.router.add_get("/api/follow-ups", list_follow_ups)
    app.router.add_get("/api/follow-ups/{follow_up_id}", get_follow_up)
    app.router.add_post("/api/follow-ups/{follow_up_id}/resolve", resolve_follow_up)
    app.router.add_post("/api/follow-ups/{follow_up_id}/requeue", requeue_follow_up)
