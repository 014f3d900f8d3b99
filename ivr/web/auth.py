"""Bearer-token authentication and role checks for every API route.

Every route needs a valid token unless it is marked :func:`public` (only ``/health``); which
roles may call it is declared on the handler with :func:`requires`. A route that declares
nothing is admin-only: forgetting the declaration fails closed.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from ivr.domain.access import Principal, Role
from ivr.domain.auth_throttle import AuthThrottle

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)
_ROLES_ATTR = "_ivr_roles"
_PUBLIC_ATTR = "_ivr_public"
_SIGNED_ATTR = "_ivr_signed"
LinkCheck = Callable[[web.Request], Awaitable[Principal | None]]


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None: ...


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    """Allow these roles (and admin) to call the handler."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _ROLES_ATTR, frozenset(roles))
        return handler

    return mark


def public(handler: Handler) -> Handler:
    """No token needed: only for what carries no personal data (health)."""
    setattr(handler, _PUBLIC_ATTR, True)
    return handler


def signed_link(check: LinkCheck) -> Callable[[Handler], Handler]:
    """The route also takes a signed link instead of a bearer token (an ``<audio>`` element
    cannot send a header): a request with ``sig`` in its query and no ``Authorization``
    header is the viewer ``check`` returns, or refused (401) if it returns None. The
    viewer's role is still checked against :func:`requires`."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _SIGNED_ATTR, check)
        return handler

    return mark


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def auth_middleware(
    store: Authenticator,
    throttle: AuthThrottle | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Every non-public route needs a live bearer token. A source (remote address) that keeps
    presenting bad ones is made to wait (429 with ``Retry-After``) before it may try again."""
    throttle = throttle or AuthThrottle()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        target = _target(handler)
        if getattr(target, _PUBLIC_ATTR, False):
            return await handler(request)
        source = request.remote or "unknown"
        if (wait := throttle.wait_s(source, clock())) > 0:
            raise _too_many(wait)
        link_check = getattr(target, _SIGNED_ATTR, None)
        header = request.headers.get("Authorization", "")
        if link_check is not None and not header and "sig" in request.query:
            found = await link_check(request)
            if found is None:
                throttle.failed(source, clock())
                raise _error(web.HTTPUnauthorized, "the playback link is expired or not valid")
            throttle.succeeded(source)
            return await _checked(request, handler, target, found)
        scheme, _, token = header.partition(" ")
        found = await store.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            if token.strip():  # a missing header is a mistake, a wrong token may be a guess
                throttle.failed(source, clock())
            raise _error(
                web.HTTPUnauthorized,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="ivr95598"'},
            )
        throttle.succeeded(source)
        if (missing := request.match_info.http_exception) is not None:
            raise _no_route(request, missing)  # known only to a caller with a token
        return await _checked(request, handler, target, found)

    return middleware


async def _checked(
    request: web.Request, handler: Handler, target: object, found: Principal
) -> web.StreamResponse:
    allowed = getattr(target, _ROLES_ATTR, frozenset())
    if not found.may(allowed):
        raise _error(web.HTTPForbidden, f"role {found.role.value!r} may not do this")
    request[PRINCIPAL] = found
    return await handler(request)


def _target(handler: Handler) -> object:
    """The route's own function (aiohttp may wrap it, e.g. in a partial for sub-apps)."""
    return getattr(handler, "__wrapped__", None) or getattr(handler, "func", None) or handler


def _error(
    kind: type[web.HTTPException], message: str, headers: dict[str, str] | None = None
) -> web.HTTPException:
    return kind(
        text=json.dumps({"error": message}, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )


def _no_route(request: web.Request, missing: web.HTTPException) -> web.HTTPException:
    """404 for a path the API does not have, 405 (with ``Allow``) for a method it does not take."""
    path = request.path[:200]
    if isinstance(missing, web.HTTPMethodNotAllowed):
        allowed = sorted(missing.allowed_methods)
        message = f"{request.method} is not allowed on {path}; allowed: {', '.join(allowed)}"
        return web.HTTPMethodNotAllowed(
            request.method,
            allowed,
            text=json.dumps({"error": message}, ensure_ascii=False),
            content_type="application/json",
        )
    return _error(web.HTTPNotFound, f"no such route: {path}")


def _too_many(wait_s: float) -> web.HTTPException:
    return _error(
        web.HTTPTooManyRequests,
        "too many bad tokens from this address: wait before trying again",
        headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
    )


def route_roles(handler: Handler) -> frozenset[Role] | None:
    """The roles a route declared (admin is always allowed besides); None for a public one."""
    target = _target(handler)
    if getattr(target, _PUBLIC_ATTR, False):
        return None
    return frozenset(getattr(target, _ROLES_ATTR, frozenset()))
