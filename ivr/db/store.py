"""The base of the SQL stores: what each keeps of the engine and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import writer


class SqlStore:
    """Reads go through ``_engine``, writes through ``_writer`` (``BEGIN IMMEDIATE`` on SQLite);
    ``_pg`` says whether row locks (``FOR UPDATE``, advisory locks) exist."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock
        self._pg = engine.dialect.name == "postgresql"
