"""Database fixtures, as a pytest plugin: ``pytest_plugins = ["tests.integration.db_fixtures"]``.

Both backends are real: a migrated SQLite file per test, and a PostgreSQL server given by
``IVR_TEST_POSTGRES_URL`` (``scripts/test-postgres start`` runs a throwaway one) whose tables are
dropped and re-migrated for every test. Without that variable PostgreSQL tests skip, or fail
under ``CI=true`` so that CI cannot go green by silently testing only SQLite.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade

POSTGRES_URL_ENV = "IVR_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def sqlite_url_for(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file (in a directory the engine has to create)."""
    url = sqlite_url_for(tmp_path / "state" / "ivr.db")
    await upgrade(url)
    return url


@pytest.fixture
async def postgres_url() -> str:
    """The test PostgreSQL database, emptied and migrated for this test."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        message = f"{POSTGRES_URL_ENV} is not set (see scripts/test-postgres)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    database = make_url(url).database or ""
    if "test" not in database:
        # Every test drops all tables: refuse anything that does not look like a test database.
        pytest.fail(f"{POSTGRES_URL_ENV} database {database!r} has no 'test' in its name")
    await drop_all_tables(url)
    await upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once per backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


async def drop_all_tables(url: str) -> None:
    """Drop every table in the default schema, ``alembic_version`` included."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_drop_all)
    finally:
        await engine.dispose()


def _drop_all(connection: Connection) -> None:
    metadata = MetaData()
    metadata.reflect(connection)
    metadata.drop_all(connection)
