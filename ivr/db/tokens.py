"""API tokens in the database: created once and shown once, stored as SHA-256 only.

Each token expires (``expires_at``), can be rotated (a new secret for the same name and role,
the old one still accepted for a grace period so the systems holding it can be switched over),
and records when it was last used (at most one write a minute per token, so reads stay reads).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import writer
from ivr.db.models import tokens_table as tokens
from ivr.domain.access import Principal, Role

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_JOB_NUMBER = re.compile(r"^[0-9]{1,16}$")
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=3650)
MAX_GRACE = timedelta(days=30)
_LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token could not be created, rotated or revoked as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    role: Role
    job_number: str | None
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    rotated_at: datetime | None
    last_used_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _lifetime(value: timedelta) -> timedelta:
    if not timedelta(minutes=1) <= value <= MAX_LIFETIME:
        raise TokenError("a token lives from 1 minute to 3650 days")
    return value


class SqlTokenStore:
    def __init__(
        self, engine: AsyncEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    async def create(
        self,
        name: str,
        role: Role,
        job_number: str | None = None,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> str:
        """A new token for ``name``; the plaintext is returned here and never again."""
        if not _NAME.match(name):
            raise TokenError("a token name is 1-64 letters, digits, '_', '.' or '-'")
        if job_number is not None and not _JOB_NUMBER.match(job_number):
            raise TokenError("a job number (工号) is 1-16 digits")
        if role is Role.AGENT and job_number is None:
            raise TokenError("an agent's token needs the agent's job number")
        now = self._clock()
        token = secrets.token_urlsafe(32)
        row = {
            "name": name,
            "role": role,
            "token_sha256": _digest(token),
            "job_number": job_number,
            "created_at": now,
            "expires_at": now + _lifetime(lifetime),
        }
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(tokens), [row])
        except IntegrityError:
            raise TokenError(f"a token named {name!r} exists already") from None
        return token

    async def rotate(
        self, name: str, grace: timedelta = timedelta(0), lifetime: timedelta = DEFAULT_LIFETIME
    ) -> str:
        """A new secret for the live token ``name``; the old one works for ``grace`` more."""
        if not timedelta(0) <= grace <= MAX_GRACE:
            raise TokenError("the grace period is 0 to 30 days")
        now = self._clock()
        token = secrets.token_urlsafe(32)
        async with self._writer.begin() as conn:
            row = (
                await conn.execute(
                    select(tokens.c.token_sha256).where(
                        tokens.c.name == name,
                        tokens.c.revoked_at.is_(None),
                        or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
                    )
                )
            ).first()
            if row is None:
                raise TokenError(f"no live token named {name!r}")
            await conn.execute(
                update(tokens)
                .where(tokens.c.name == name)
                .values(
                    token_sha256=_digest(token),
                    previous_sha256=row.token_sha256 if grace else None,
                    previous_valid_until=now + grace if grace else None,
                    rotated_at=now,
                    expires_at=now + _lifetime(lifetime),
                )
            )
        return token

    async def authenticate(self, token: str) -> Principal | None:
        """The principal a live token belongs to, or ``None`` (unknown, revoked, expired, or
        the old secret of a rotated token after its grace period)."""
        if not token or len(token) > 256:
            return None
        digest, now = _digest(token), self._clock()
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        tokens.c.id,
                        tokens.c.name,
                        tokens.c.role,
                        tokens.c.job_number,
                        tokens.c.last_used_at,
                    ).where(
                        or_(
                            tokens.c.token_sha256 == digest,
                            (tokens.c.previous_sha256 == digest)
                            & (tokens.c.previous_valid_until > now),
                        ),
                        tokens.c.revoked_at.is_(None),
                        or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
                    )
                )
            ).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _LAST_USED_EVERY:
            async with self._writer.begin() as conn:
                await conn.execute(
                    update(tokens).where(tokens.c.id == row.id).values(last_used_at=now)
                )
        return Principal(row.name, Role(row.role), row.job_number)

    async def still_holds(self, who: Principal) -> bool:
        """Whether the token ``who`` names is still live with the same role and 工号: what a
        signed playback link, made for that token, is checked against on every use (one
        lookup by the unique name, no write), so revoking a token also ends its links."""
        now = self._clock()
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(tokens.c.role, tokens.c.job_number).where(
                        tokens.c.name == who.name,
                        tokens.c.revoked_at.is_(None),
                        or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
                    )
                )
            ).first()
        return row is not None and Role(row.role) is who.role and row.job_number == who.job_number

    async def revoke(self, name: str) -> bool:
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return result.rowcount > 0

    async def list(self) -> list[TokenInfo]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(tokens).order_by(tokens.c.name))).all()
        return [
            TokenInfo(
                r.name,
                Role(r.role),
                r.job_number,
                r.created_at,
                r.revoked_at,
                r.expires_at,
                r.rotated_at,
                r.last_used_at,
            )
            for r in rows
        ]
