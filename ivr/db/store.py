"""The base of the SQL stores: what each keeps of the engine and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import writer
from ivr.domain.servers import DEFAULT_SERVER_NAME


class SqlStore:
    """Reads go through ``_engine``, writes through ``_writer`` (``BEGIN IMMEDIATE`` on SQLite);
    ``_pg`` says whether row locks (``FOR UPDATE``, advisory locks) exist; ``_server`` names
    this bridge's Asterisk (``asterisk.server_name``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        server: str = DEFAULT_SERVER_NAME,
    ) -> None:
        self._engine = engine
        self._server = server  # the Asterisk this bridge serves: on the rows it writes
        self._writer = writer(engine)
        self._clock = clock
        self._pg = engine.dialect.name == "postgresql"
