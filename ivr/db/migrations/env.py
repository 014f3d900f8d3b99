"""Alembic environment for the call database.

Two ways in: ``ivr.db.migrate`` passes an open connection in ``config.attributes["connection"]``
(the bridge at start-up, the tests), or the ``alembic`` CLI with ``-c ivr/db/alembic.ini``, which
gets its URL from ``-x url=…``, ``sqlalchemy.url`` or the bridge's settings.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from ivr.db.engine import create_engine
from ivr.db.migrate import migration_transaction
from ivr.db.schema import metadata

config = context.config
target_metadata = metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
        **kwargs,
    )


def _url() -> str:
    x_args = context.get_x_argument(as_dictionary=True)
    if "url" in x_args:
        if not x_args["url"]:
            # An empty -x url= (an unset shell variable) must not fall through to production.
            raise SystemExit("alembic: -x url= is empty")
        return x_args["url"]
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from ivr.config import load_settings

    return load_settings().database.url


def run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_with_new_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with migration_transaction(engine) as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    _configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


_connection = config.attributes.get("connection")
if _connection is None and config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline(_url())
elif _connection is not None:
    run_on(_connection)
else:
    asyncio.run(run_with_new_engine(_url()))
