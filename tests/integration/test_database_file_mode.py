"""The SQLite file holds customers' phone numbers, names and addresses: nobody but the bridge's
user (and, on a site that chose it, its group) may read it (issue 16, item 11)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from ivr.db.engine import create_engine, writer
from ivr.db.migrate import upgrade

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_file_and_its_journal_are_the_owners_alone(tmp_path: Path) -> None:
    db = tmp_path / "state" / "ivr.db"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        async with writer(engine).begin() as conn:  # a write: WAL and shared-memory files exist
            await conn.execute(text("CREATE TABLE probe (x INTEGER)"))
            await conn.execute(text("INSERT INTO probe VALUES (1)"))
        journal = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(p.exists() for p in journal), sorted(tmp_path.rglob("*"))
        assert {p.name: _mode(p) for p in [db, *journal]} == {
            "ivr.db": 0o600,
            "ivr.db-wal": 0o600,
            "ivr.db-shm": 0o600,
        }
    finally:
        await engine.dispose()


async def test_an_existing_world_readable_file_loses_the_bits_for_others(tmp_path: Path) -> None:
    db = tmp_path / "ivr.db"
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url)
    db.chmod(0o644)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
    assert _mode(db) == 0o640  # the group it had stays; others lose everything
