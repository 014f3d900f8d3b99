"""Recording routes (录音调听): listed, described and played, never by a public URL.

* ``GET /api/recordings?since=&until=&limit=`` — agents: their own calls; inspectors
  (质检) and supervisors: all. Newest first.
* ``GET /api/recordings/{id}`` — one recording: call id, kind, state, duration, checksums,
  linked work orders, automatic findings; inspectors and supervisors also see its playbacks.
* ``GET /api/recordings/{id}/audio?side=agent|customer`` — the WAV of one direction, with
  HTTP range requests (206) so a player can seek. Every request is audited (who, when, which
  call, which bytes, served or refused); ``403`` for someone else's call, ``410`` once
  retention deleted the files (or Asterisk never wrote them). Instead of the bearer token
  the request may carry a signed playback link's query (``viewer``, ``role``, ``job``,
  ``exp``, ``sig``): what the pages' ``<audio>`` player uses, since it cannot send a header.
  The link holds only while the token it was made for is live (``401`` once it is revoked).
* ``POST /api/recordings/{id}/playback-url`` — a signed link to that audio for the caller
  only, valid ``[recording] playback_link_s`` (a few minutes): ``{"agent": url, "customer":
  url, "expires_at"}``. Refused (``403``, audited) for a call the caller may not hear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from aiohttp import web

from ivr.domain.access import Principal, Role
from ivr.domain.playback_links import BadLink, ViewerGone
from ivr.domain.recordings import SIDES, RangeNotSatisfiable, may_hear, parse_range
from ivr.services.recordings import RecordingService, file_size, read_part
from ivr.web.auth import principal, requires, signed_link
from ivr.web.errors import json_error
from ivr.web.json_body import json_response
from ivr.web.requests import path_id, query_choice, query_limit

RECORDINGS = web.AppKey("recordings", RecordingService)
_NO_STORE = {"Cache-Control": "no-store"}
_CHUNK = 64 * 1024


def parse_instant(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise json_error(
            web.HTTPBadRequest, f"{name} is an ISO 8601 time, offset included"
        ) from None
    if value.tzinfo is None:
        raise json_error(web.HTTPBadRequest, f"{name} needs a UTC offset (e.g. +08:00 or Z)")
    return value


@requires(Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR)
async def list_recordings(request: web.Request) -> web.Response:
    query = request.query
    limit = query_limit(query)
    found = await request.app[RECORDINGS].visible(
        principal(request),
        parse_instant(query.get("since"), "since"),
        parse_instant(query.get("until"), "until"),
        limit,
    )
    return json_response(request, {"recordings": [r.as_dict() for r in found]}, headers=_NO_STORE)


@requires(Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR)
async def get_recording(request: web.Request) -> web.Response:
    service = request.app[RECORDINGS]
    who = principal(request)
    recording = await service.store.get(path_id(request, "id", "recording"))
    if recording is None:
        raise json_error(web.HTTPNotFound, "no such recording")
    if not may_hear(who, recording):
        raise json_error(web.HTTPForbidden, "this recording is not yours to hear")
    body = recording.as_dict()
    if who.role is not Role.AGENT:
        body["playbacks"] = await service.store.playbacks(recording.id)
    return json_response(request, body, headers=_NO_STORE)


async def _link_viewer(request: web.Request) -> Principal | None:
    """The viewer a signed playback link names; None if it is not ours for this recording
    (counted by the bad-token throttle); an expired one of ours is a plain 401."""
    try:
        recording_id = int(request.match_info.get("id", ""))
    except ValueError:
        return None
    try:
        return await request.app[RECORDINGS].link_viewer(recording_id, dict(request.query))
    except ViewerGone:  # our own signature, its token revoked: not a guess either
        raise json_error(
            web.HTTPUnauthorized, "the token this playback link was made for is no longer valid"
        ) from None
    except BadLink as exc:
        if exc.expired:  # our own signature, only late: not counted as a guess
            raise json_error(
                web.HTTPUnauthorized, "the playback link has expired: ask for a new one"
            ) from None
        return None


@requires(Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR)
async def playback_url(request: web.Request) -> web.Response:
    recording_id = path_id(request, "id", "recording")
    try:
        link = await request.app[RECORDINGS].playback_link(principal(request), recording_id)
    except PermissionError:
        raise json_error(web.HTTPForbidden, "this recording is not yours to hear") from None
    if link is None:
        raise json_error(web.HTTPNotFound, "no such recording")
    base = f"/api/recordings/{recording_id}/audio"
    body = {side: f"{base}?{urlencode({'side': side, **link.query()})}" for side in SIDES} | {
        "expires_at": datetime.fromtimestamp(link.expires, UTC).isoformat()
    }
    return json_response(request, body, headers=_NO_STORE)


@signed_link(_link_viewer)
@requires(Role.AGENT, Role.INSPECTOR, Role.SUPERVISOR)
async def audio(request: web.Request) -> web.StreamResponse:
    service = request.app[RECORDINGS]
    side = query_choice(request.query, "side", SIDES, "customer") or "customer"
    recording_id = path_id(request, "id", "recording")
    asked = request.headers.get("Range")
    recording, outcome = await service.open_for(
        principal(request), recording_id, side, (asked or "")[:64] or None
    )
    if recording is None:
        raise json_error(web.HTTPNotFound, "no such recording")
    if outcome == "refused":
        raise json_error(web.HTTPForbidden, "this recording is not yours to hear")
    if outcome == "gone":
        raise json_error(
            web.HTTPGone, f"the recording is {recording.state.value}", state=recording.state.value
        )
    path = recording.path(side)
    size = await file_size(service, path)
    if size is None:
        raise json_error(web.HTTPGone, "the recording's file is missing")
    try:
        wanted = parse_range(asked, size)
    except RangeNotSatisfiable:
        raise web.HTTPRequestRangeNotSatisfiable(
            headers={"Content-Range": f"bytes */{size}"},
            text='{"error": "the range is outside the file"}',
            content_type="application/json",
        ) from None
    start, length = (0, size) if wanted is None else (wanted.start, wanted.length)
    headers = {
        "Content-Type": "audio/wav",
        "Accept-Ranges": "bytes",
        "Content-Length": str(length),
        "Content-Disposition": f'inline; filename="recording-{recording.id}-{side}.wav"',
        **_NO_STORE,
    }
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
    response = web.StreamResponse(status=status, headers=headers)
    await response.prepare(request)
    position, end = start, start + length
    while position < end:
        chunk = await read_part(service, path, position, min(_CHUNK, end - position))
        if not chunk:
            break
        position += len(chunk)
        await response.write(chunk)
    await response.write_eof()
    return response


def add_recording_routes(app: web.Application, service: RecordingService) -> None:
    app[RECORDINGS] = service
    app.router.add_get("/api/recordings", list_recordings)
    app.router.add_get("/api/recordings/{id}", get_recording)
    app.router.add_get("/api/recordings/{id}/audio", audio)
    app.router.add_post("/api/recordings/{id}/playback-url", playback_url)
