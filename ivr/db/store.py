"""The base of the SQL stores: what each keeps of the engine and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import writer
from ivr.domain.servers import DEFAULT_SERVER_NAME

T = TypeVar("T")

CHUNK = 500
"""Values per ``IN (...)`` list or rows per statement: well inside every backend's parameter
limit."""


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``, for statements that take a list.

    >>> [list(c) for c in chunked([1, 2, 3, 4, 5], 2)]
    [[1, 2], [3, 4], [5]]
    """
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
