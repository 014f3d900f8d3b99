"""The centre's shared secrets, as the migration stored them (``centre_secrets``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.models import centre_secrets_table as secrets


class SqlCentreSecrets:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def leg_secret(self) -> bytes:
        """The secret that keys outbound legs (``ivr.domain.leg_keys``)."""
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(secrets.c.value).where(secrets.c.name == "leg_key"))
            ).scalar_one()
        return bytes.fromhex(value)

    async def playback_secret(self) -> bytes:
        """The secret that signs playback links (``ivr.domain.playback_links``)."""
        return await self._secret("playback_key")

    async def _secret(self, name: str) -> bytes:
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(secrets.c.value).where(secrets.c.name == name))
            ).scalar_one()
        return bytes.fromhex(value)
