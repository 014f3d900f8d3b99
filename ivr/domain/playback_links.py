"""Signed playback links: how an ``<audio>`` element, which cannot send a bearer token, plays
a recording without a public URL.

An authenticated viewer asks for a link (``POST /api/recordings/{id}/playback-url``); the
link carries the viewer (token name, role, 工号), an expiry a few minutes ahead and an
HMAC-SHA256 over the recording id, the viewer and the expiry, keyed with the centre's
playback secret. The audio route takes the link instead of a bearer token: a link for another
recording, another viewer, a later expiry or a changed role is refused, an expired one too,
and the viewer it names is still checked against who may hear the recording and audited.
The link is only as good as the token it was made for: on every use the token it names must
still be live with the same role and 工号 (:class:`ViewerGone` otherwise), so revoking a
token, letting it expire or changing its role ends its links at once.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from ivr.domain.access import Principal, Role

MAX_LINK_S = 600  # a link lives a few minutes, at most ten


@dataclass(frozen=True, slots=True)
class PlaybackLink:
    """The query of a signed audio URL (``viewer``, ``role``, ``job``, ``exp``, ``sig``)."""

    recording_id: int
    viewer: str
    role: Role
    job_number: str | None
    expires: int  # Unix seconds
    signature: str

    def query(self) -> dict[str, str]:
        return {
            "viewer": self.viewer,
            "role": self.role.value,
            "job": self.job_number or "",
            "exp": str(self.expires),
            "sig": self.signature,
        }


class BadLink(ValueError):
    """A signed link that is malformed, tampered with, for another recording, or expired."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired  # genuine but over: the page asks for a new one, not a guess


class ViewerGone(BadLink):
    """A genuine link whose viewer's token was revoked or has expired since it was made."""


def _mac(secret: bytes, recording_id: int, viewer: str, role: str, job: str, expires: int) -> str:
    message = "\n".join((str(recording_id), viewer, role, job, str(expires))).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(
    secret: bytes, recording_id: int, who: Principal, now: datetime, lifetime_s: int
) -> PlaybackLink:
    """A link for ``who`` to play one recording until ``now + lifetime_s``."""
    if not 1 <= lifetime_s <= MAX_LINK_S:
        raise ValueError(f"a playback link lives 1-{MAX_LINK_S} s")
    expires = int(now.timestamp()) + lifetime_s
    job = who.job_number or ""
    return PlaybackLink(
        recording_id,
        who.name,
        who.role,
        who.job_number,
        expires,
        _mac(secret, recording_id, who.name, who.role.value, job, expires),
    )


def verify(secret: bytes, recording_id: int, query: dict[str, str], now: datetime) -> Principal:
    """The viewer a link names, if it was signed by us for this recording and has not
    expired; :class:`BadLink` otherwise."""
    try:
        viewer, role_text = query["viewer"], query["role"]
        job, expires, given = query.get("job", ""), int(query["exp"]), query["sig"]
        role = Role(role_text)
    except (KeyError, ValueError):
        raise BadLink("not a playback link") from None
    wanted = _mac(secret, recording_id, viewer, role_text, job, expires)
    if not hmac.compare_digest(wanted, given):
        raise BadLink("the link's signature does not match")
    left = expires - now.timestamp()
    if left <= 0:
        raise BadLink("the link has expired", expired=True)
    if left > MAX_LINK_S + 5:
        raise BadLink("the link claims to live longer than a link may")
    return Principal(viewer, role, job or None)
