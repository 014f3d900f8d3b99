"""The ``LivePictureStore`` port: one row per bridge, its picture as JSON, its heartbeat.

On PostgreSQL the heartbeat is the database's clock (bridges on several hosts compare one
clock) and each write announces itself on the ``ivr_live`` channel in the same transaction
(``pg_notify`` is delivered at commit, so a listener that hears it reads the new row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.live_models import live_pictures_table as t
from ivr.db.store import SqlStore
from ivr.domain.live_picture import LIVE_CHANNEL, BadPicture, BridgePicture

log = logging.getLogger(__name__)


class SqlLivePictures(SqlStore):
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], expire_s: float) -> None:
        super().__init__(engine, clock)
        self._expire = timedelta(seconds=expire_s)
        self._unreadable: set[str] = set()  # bridges whose row was logged as unreadable

    def _now(self) -> Any:
        """Now, on the database's clock where there is one to share."""
        return func.now() if self._pg else self._clock()

    async def publish(self, picture: BridgePicture) -> None:
        insert = pg_insert(t) if self._pg else sqlite_insert(t)
        values = {
            "bridge": picture.bridge,
            "server": picture.server,
            "heartbeat_at": self._now(),
            "picture": picture.to_json(),
        }
        upsert = insert.values(values).on_conflict_do_update(
            index_elements=[t.c.bridge],
            set_={k: insert.excluded[k] for k in ("server", "heartbeat_at", "picture")},
        )
        async with self._writer.begin() as conn:
            await conn.execute(upsert)
            await conn.execute(delete(t).where(t.c.heartbeat_at < self._now() - self._expire))
            if self._pg:
                await conn.execute(select(func.pg_notify(LIVE_CHANNEL, picture.bridge)))

    async def others(self, bridge: str) -> list[BridgePicture]:
        cutoff = self._now() - self._expire
        query = select(t.c.bridge, t.c.picture).where(
            t.c.bridge != bridge, t.c.heartbeat_at >= cutoff
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        pictures = []
        for row in rows:
            try:
                pictures.append(BridgePicture.from_json(row.picture))
            except BadPicture as exc:
                if row.bridge not in self._unreadable:  # once per bridge, not every read
                    self._unreadable.add(row.bridge)
                    log.warning("live picture of bridge %s left out: %s", row.bridge, exc)
        return pictures

    async def withdraw(self, bridge: str) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(delete(t).where(t.c.bridge == bridge))
            if self._pg:
                await conn.execute(select(func.pg_notify(LIVE_CHANNEL, bridge)))
