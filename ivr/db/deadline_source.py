"""The deadlines the time-limit watch looks at, read from ``work_order_deadlines``.

Only what can still need an alert is read: deadlines with no breach alert that are open, or that
were met late recently. Whether a warning or breach exists comes from the ``alerts`` table
itself (``EXISTS`` on ``(order_id, deadline)``, indexed), so the watch keeps no state of its own
and any number of watches agree. An alert a recompute superseded (``superseded_at``: the due time
moved and no longer justifies it) does not count: the watch judges the new due time afresh, and
raises under the deadline's new ``revision`` key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.alert_models import alerts_table as alerts
from ivr.db.engine import writer
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import orders_table as orders
from ivr.domain.alerts import AlertLevel
from ivr.domain.deadline_watch import KIND, SETTLED_BY, OpenDeadline, WatchedDeadline, Window


def _raised(level: AlertLevel) -> Any:
    """An alert of ``level`` stands for the deadline, whoever raised it: the watch, or the
    dispatcher's warning for a repair's ``dispatch`` limit (same key, so one of the two)."""
    return exists().where(
        and_(
            alerts.c.order_id == deadlines.c.order_id,
            alerts.c.deadline == deadlines.c.name,
            alerts.c.level == level.value,
            alerts.c.superseded_at.is_(None),
        )
    )


_COLUMNS = (
    deadlines.c.order_id,
    orders.c.order_no,
    orders.c.kind,
    orders.c.created_at,
    orders.c.status,
    orders.c.owner_job_number,
    deadlines.c.name,
    deadlines.c.due_at,
    deadlines.c.provisional,
    deadlines.c.target_at,
    deadlines.c.met_at,
    deadlines.c.revision,
    _raised(AlertLevel.WARNING).label("warned"),
    _raised(AlertLevel.BREACH).label("breached"),
)


def _watched(row: Any) -> WatchedDeadline:
    return WatchedDeadline(
        order_id=row.order_id,
        order_no=row.order_no,
        order_kind=row.kind,
        created_at=row.created_at,
        name=row.name,
        due_at=row.due_at,
        provisional=bool(row.provisional),
        target_at=row.target_at,
        met_at=row.met_at,
        warned=bool(row.warned),
        breached=bool(row.breached),
        revision=row.revision,
    )


class SqlDeadlineSource:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    async def watched(self, met_late_since: datetime, until: Window) -> list[WatchedDeadline]:
        late = and_(deadlines.c.met_at > deadlines.c.due_at, deadlines.c.met_at >= met_late_since)
        soon = and_(
            deadlines.c.met_at.is_(None),
            or_(deadlines.c.due_at <= until.due_by, deadlines.c.target_at <= until.target_by),
        )
        query = (
            select(*_COLUMNS)
            .join(orders, orders.c.id == deadlines.c.order_id)
            .where(or_(soon, late), ~_raised(AlertLevel.BREACH))
        )
        async with self._engine.connect() as conn:
            return [_watched(r) for r in (await conn.execute(query)).all()]

    async def settle_warnings(self, now: datetime) -> int:
        """Acknowledge open warnings whose deadline has been met (as ``SETTLED_BY``): they
        need nobody any more. Breaches stay until a person acknowledges them."""
        met = exists().where(
            and_(
                deadlines.c.order_id == alerts.c.order_id,
                deadlines.c.name == alerts.c.deadline,
                deadlines.c.met_at.is_not(None),
            )
        )
        stale = select(alerts.c.id).where(
            alerts.c.kind == KIND,
            alerts.c.level == AlertLevel.WARNING.value,
            alerts.c.acknowledged_at.is_(None),
            met,
        )
        async with self._engine.connect() as conn:
            ids = list((await conn.execute(stale)).scalars())
        if not ids:
            return 0  # the usual case: no write transaction at all
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(ids), alerts.c.acknowledged_at.is_(None))
                .values(acknowledged_at=now, acknowledged_by=SETTLED_BY)
            )
        return int(done.rowcount or 0)

    async def open_deadlines(self, order_no: str | None = None) -> list[OpenDeadline]:
        """Every unmet deadline (of one order if given), soonest due first."""
        query = (
            select(*_COLUMNS)
            .join(orders, orders.c.id == deadlines.c.order_id)
            .where(deadlines.c.met_at.is_(None))
            .order_by(deadlines.c.due_at, deadlines.c.id)
        )
        if order_no is not None:
            query = query.where(orders.c.order_no == order_no)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [OpenDeadline(_watched(r), r.status, r.owner_job_number) for r in rows]
