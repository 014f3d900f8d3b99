"""Counts of finished callback attempts, dispatch calls and alerts, for ``/metrics``.

Plain grouped counts over the shared tables (constant SQL, no parameters): a finished attempt,
call or alert is never deleted, so each count only grows, as a Prometheus counter must.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.ports import StoredOutcomeCounts

_CALLBACKS = text(
    "SELECT result, count(*) FROM callback_attempts WHERE result IS NOT NULL GROUP BY result"
)
_DISPATCH = text(
    "SELECT result, count(*) FROM dispatch_calls WHERE result IS NOT NULL GROUP BY result"
)
_ALERTS = text("SELECT level, kind, count(*) FROM alerts GROUP BY level, kind")
_INFORMED = text("SELECT count(*) FROM calls WHERE informed")


class SqlOutcomeCounts:
    """The ``StoredOutcomes`` port over SQLite or PostgreSQL (three short reads)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def outcome_counts(self) -> StoredOutcomeCounts:
        async with self._engine.connect() as conn:
            callbacks = (await conn.execute(_CALLBACKS)).all()
            dispatch = (await conn.execute(_DISPATCH)).all()
            alerts = (await conn.execute(_ALERTS)).all()
            informed = (await conn.execute(_INFORMED)).scalar_one()
        return StoredOutcomeCounts(
            callback_results={(str(r),): int(n) for r, n in callbacks},
            dispatch_results={(str(r),): int(n) for r, n in dispatch},
            alerts={(str(level), str(kind)): int(n) for level, kind, n in alerts},
            callers_informed=int(informed),
        )
