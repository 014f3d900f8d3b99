"""The recordings store on a migrated SQLite database: one row per call id, a second answered
leg of the same call reopening it for a new seal, retention picking only what is past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.recordings import SqlRecordings
from ivr.domain.recordings import RecordingFile, RecordingKind, RecordingState

CALL = "a" * 32


async def test_a_second_leg_reopens_and_retention_is_by_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    await upgrade(url)
    engine = create_engine(url)
    now = [datetime(2026, 12, 5, 8, 0, tzinfo=UTC)]
    store = SqlRecordings(engine, lambda: now[0])
    try:
        assert await store.started(CALL, RecordingKind.INBOUND, "1001", "/a", "/c")
        ended = await store.ended(CALL)
        assert ended is not None and ended.ended_at == now[0]
        measured = RecordingFile(1000, 5000, "0" * 64)
        assert await store.finished(ended.id, measured, measured, [], None)
        assert (await store.by_call(CALL)).state is RecordingState.COMPLETE  # type: ignore[union-attr]

        # a transfer: the same call answered again, the dialplan appends to the same files
        assert not await store.started(CALL, RecordingKind.INBOUND, "1002", "/a", "/c")
        again = await store.by_call(CALL)
        assert again is not None and again.state is RecordingState.RECORDING
        assert again.ended_at is None and again.agent_job_number == "1001"  # who answered first
        # a failed start of a duplicate changes nothing
        assert not await store.started(CALL, RecordingKind.INBOUND, None, "/a", "/c", "refused")
        assert (await store.by_call(CALL)).state is RecordingState.RECORDING  # type: ignore[union-attr]
        await store.ended(CALL)
        assert await store.finished(again.id, measured, measured, [], None)

        now[0] += timedelta(days=10)
        assert [r.call_id for r in await store.expired(now[0] - timedelta(days=11))] == []
        assert [r.call_id for r in await store.expired(now[0] - timedelta(days=9))] == [CALL]
        assert await store.deleted(again.id) and not await store.deleted(again.id)
        assert await store.expired(now[0]) == []  # deleted once, never again
    finally:
        await engine.dispose()
