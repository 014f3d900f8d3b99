"""Seats API (supervisors and admins): add a seat (its secret in this response only), list the
seats, remove one. Errors are ``{"error": …}``; nothing sent here is ever dialled except as the
seat's own endpoint, and only after ``check_seat_name``."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from ivr.domain.access import Role
from ivr.domain.seats import Seat
from ivr.services.seats import SeatError, SeatService
from ivr.web.auth import principal, requires
from ivr.web.json_body import error_response, json_response
from ivr.web.requests import StrictIn, parse_body

log = logging.getLogger(__name__)


class SeatIn(StrictIn):
    """``POST /api/seats``; the name's rules are ``check_seat_name``'s (400 with the reason)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(max_length=64)


def _seat_json(seat: Seat) -> dict[str, Any]:
    return {
        "name": seat.name,
        "device": seat.device,
        "created_at": seat.created_at.isoformat(),
        "created_by": seat.created_by,
    }


def _error(exc: SeatError) -> web.Response:
    return error_response(str(exc), exc.status)


def add_seat_routes(app: web.Application, seats: SeatService) -> None:
    @requires(Role.SUPERVISOR)
    async def list_seats(request: web.Request) -> web.Response:
        try:
            found = await seats.list(principal(request))
        except SeatError as exc:
            return _error(exc)
        return json_response(request, {"seats": [_seat_json(s) for s in found]})

    @requires(Role.SUPERVISOR)
    async def add_seat(request: web.Request) -> web.Response:
        body: SeatIn = await parse_body(request, SeatIn)
        try:
            new = await seats.add(principal(request), body.name)
        except SeatError as exc:
            return _error(exc)
        # the only time the secret leaves us: no-store, so no proxy or browser cache keeps it
        return json_response(
            request,
            {
                **_seat_json(new.seat),
                "username": new.seat.name,
                "realm": new.realm,
                "secret": new.secret,
                "note": "the secret is shown once and stored nowhere; enter it in the phone now",
            },
            status=201,
            headers={"Cache-Control": "no-store"},
        )

    @requires(Role.SUPERVISOR)
    async def remove_seat(request: web.Request) -> web.Response:
        try:
            await seats.remove(principal(request), request.match_info["name"])
        except SeatError as exc:
            return _error(exc)
        return json_response(request, {"removed": request.match_info["name"]})

    app.router.add_get("/api/seats", list_seats)
    app.router.add_post("/api/seats", add_seat)
    app.router.add_delete("/api/seats/{name}", remove_seat)
