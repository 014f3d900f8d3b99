"""One place that knows how to open the call database, for the app, migrations and tests."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Execution option for transactions that will write. On SQLite they start with BEGIN IMMEDIATE:
# a deferred transaction that reads and then writes cannot wait for the lock (SQLite returns
# "database is locked" at once, busy_timeout or not), which concurrent calls would hit.
WRITE = "ivr_write"

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never block the writer
    "PRAGMA busy_timeout=5000",  # wait up to 5 s for the write lock instead of failing
    "PRAGMA foreign_keys=ON",  # off by default in SQLite; we rely on ON DELETE CASCADE
    "PRAGMA synchronous=NORMAL",  # durable enough under WAL, far fewer fsyncs
)

_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def normalize_url(url: str | URL) -> URL:
    """Give a bare ``sqlite://``/``postgresql://`` URL the async driver the bridge uses."""
    parsed = make_url(url)
    if parsed.drivername in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=f"{parsed.drivername}+{_ASYNC_DRIVERS[parsed.drivername]}")
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or ``None`` for in-memory databases and other URLs."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


def create_engine(url: str | URL, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url``, tuned for many short concurrent transactions."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(
            pool_pre_ping=True,  # survive a PostgreSQL restart between calls
            pool_size=10,
            max_overflow=20,
            pool_timeout=30,
            pool_recycle=1800,
        )
        if parsed.get_driver_name() == "asyncpg":
            kwargs["connect_args"] = {"server_settings": {"application_name": "ivr95598"}}
    # hide_parameters: a failed INSERT's error text would otherwise carry its bound values
    # (a customer's phone, name and address) into the log
    return create_async_engine(parsed, echo=echo, hide_parameters=True, **kwargs)


def _sqlite_engine(url: URL, echo: bool) -> AsyncEngine:
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _not_world_readable(path)
    engine = create_async_engine(url, echo=echo, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _not_world_readable(path: Path) -> None:
    """The database holds customers' phone numbers, names and addresses: a new file is made
    0600, an existing one loses its bits for others (its group may stay, for a site that reads
    it through one). SQLite gives its -wal and -shm files the main file's mode."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            path.chmod(mode & ~0o007)
    else:
        os.close(fd)  # an empty file is an empty SQLite database


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, emit BEGIN (see _on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool), but its transactions take the write lock up front."""
    return engine.execution_options(**{WRITE: True})
