"""Alerts in the database: the ``AlertSink`` every raiser uses, the supervisors' list and
acknowledgement, and the webhook outbox.

Raising is one ``INSERT … ON CONFLICT (key) DO NOTHING``: whichever bridge, restart or retry
comes first stores the alert, the others learn it exists (``False``). With a webhook configured
the same insert queues the alert for delivery (``next_try_at``), so none can be stored and then
forgotten. Outbox items are claimed with a lease (``next_try_at`` moved ahead; ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL), so two bridges do not post the same alert at the same time, and a
bridge that dies mid-post leaves the item to be retried when its lease ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.alert_models import alerts_table as alerts
from ivr.db.engine import writer
from ivr.domain.alert_push import OutboxItem, alert_payload
from ivr.domain.alerts import Alert, AlertLevel, AlertNotFound

log = logging.getLogger(__name__)


class SqlAlerts:
    """``AlertSink`` and ``AlertOutbox`` on SQLite or PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        push: bool = False,
        on_raised: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock
        self.push = push  # queue new alerts for the webhook
        self.on_raised = on_raised  # e.g. wake the webhook pusher
        self._pg = engine.dialect.name == "postgresql"

    # --- AlertSink -----------------------------------------------------------------------

    async def raise_alert(self, alert: Alert) -> bool:
        insert = pg_insert if self._pg else sqlite_insert
        statement = (
            insert(alerts)
            .values(
                key=alert.key,
                level=alert.level.value,
                kind=alert.kind,
                message=alert.message,
                order_id=alert.order_id,
                order_no=alert.order_no,
                deadline=alert.deadline,
                due_at=alert.due_at,
                raised_at=alert.raised_at,
                details=dict(alert.details),
                next_try_at=alert.raised_at if self.push else None,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(alerts.c.id)
        )
        async with self._writer.begin() as conn:
            new = (await conn.execute(statement)).first() is not None
        if new:
            log.warning("ALERT %s %s: %s", alert.level.value, alert.key, alert.message)
            if self.on_raised is not None:
                self.on_raised()
        return new

    # --- supervisors ---------------------------------------------------------------------

    async def list(
        self,
        acknowledged: bool | None = False,
        level: AlertLevel | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first. ``acknowledged``: False open only, True acknowledged only, None all."""
        query = select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.id.desc())
        if acknowledged is not None:
            ack = alerts.c.acknowledged_at
            query = query.where(ack.is_not(None) if acknowledged else ack.is_(None))
        if level is not None:
            query = query.where(alerts.c.level == level.value)
        if since is not None:
            query = query.where(alerts.c.raised_at >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [alert_payload(r) for r in rows]

    async def get(self, alert_id: int) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).first()
        if row is None:
            raise AlertNotFound(alert_id)
        return alert_payload(row)

    async def acknowledge(self, alert_id: int, by: str) -> dict[str, Any]:
        """Idempotent: the first acknowledgement (who and when) is kept."""
        async with self._writer.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=self._clock(), acknowledged_by=by[:64])
            )
        return await self.get(alert_id)

    # --- AlertOutbox ---------------------------------------------------------------------

    async def claim(self, lease_s: float, limit: int) -> list[OutboxItem]:
        now = self._clock()
        query = (
            select(alerts)
            .where(alerts.c.delivered_at.is_(None), alerts.c.next_try_at <= now)
            .order_by(alerts.c.next_try_at, alerts.c.id)
            .limit(limit)
        )
        if self._pg:
            query = query.with_for_update(skip_locked=True)
        async with self._writer.begin() as conn:
            rows = (await conn.execute(query)).all()
            for row in rows:
                await conn.execute(
                    update(alerts)
                    .where(alerts.c.id == row.id)
                    .values(next_try_at=now + timedelta(seconds=lease_s), attempts=row.attempts + 1)
                )
        return [OutboxItem(r.id, r.key, r.attempts + 1, alert_payload(r)) for r in rows]

    async def delivered(self, alert_id: int) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.delivered_at.is_(None))
                .values(delivered_at=self._clock(), next_try_at=None, last_error=None)
            )

    async def failed(self, alert_id: int, retry_in: timedelta, error: str) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.delivered_at.is_(None))
                .values(next_try_at=self._clock() + retry_in, last_error=error[:500])
            )

    async def next_try(self) -> datetime | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    select(func.min(alerts.c.next_try_at)).where(alerts.c.delivered_at.is_(None))
                )
            ).scalar_one()

    async def outbox_state(self) -> list[dict[str, Any]]:
        """Every queued or delivered alert's delivery state (for tests and operators)."""
        query = select(
            alerts.c.key, alerts.c.attempts, alerts.c.delivered_at, alerts.c.next_try_at
        ).where(alerts.c.next_try_at.is_not(None) | alerts.c.delivered_at.is_not(None))
        async with self._engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(query.order_by(alerts.c.id)))]
