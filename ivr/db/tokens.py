"""API tokens in the database: created once and shown once, stored as SHA-256 only."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import writer
from ivr.db.models import tokens_table as tokens
from ivr.domain.access import Principal, Role

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_JOB_NUMBER = re.compile(r"^[0-9]{1,16}$")


class TokenError(ValueError):
    """A token could not be created as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    role: Role
    job_number: str | None
    created_at: datetime
    revoked_at: datetime | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SqlTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    async def create(self, name: str, role: Role, job_number: str | None = None) -> str:
        """A new token for ``name``; the plaintext is returned here and never again."""
        if not _NAME.match(name):
            raise TokenError("a token name is 1-64 letters, digits, '_', '.' or '-'")
        if job_number is not None and not _JOB_NUMBER.match(job_number):
            raise TokenError("a job number (工号) is 1-16 digits")
        if role is Role.AGENT and job_number is None:
            raise TokenError("an agent's token needs the agent's job number")
        token = secrets.token_urlsafe(32)
        row = {
            "name": name,
            "role": role,
            "token_sha256": _digest(token),
            "job_number": job_number,
            "created_at": datetime.now(UTC),
        }
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(tokens), [row])
        except IntegrityError:
            raise TokenError(f"a token named {name!r} exists already") from None
        return token

    async def authenticate(self, token: str) -> Principal | None:
        """The principal a live token belongs to, or ``None``."""
        if not token or len(token) > 256:
            return None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(tokens.c.name, tokens.c.role, tokens.c.job_number).where(
                        tokens.c.token_sha256 == _digest(token), tokens.c.revoked_at.is_(None)
                    )
                )
            ).first()
        return None if row is None else Principal(row.name, Role(row.role), row.job_number)

    async def revoke(self, name: str) -> bool:
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(tokens)
                .where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return result.rowcount > 0

    async def list(self) -> list[TokenInfo]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(tokens).order_by(tokens.c.name))).all()
        return [
            TokenInfo(r.name, Role(r.role), r.job_number, r.created_at, r.revoked_at) for r in rows
        ]
