"""Provisional deadlines recomputed in the database once the calendar knows their year.

Each order is one write transaction that locks the order's row and its deadlines (``FOR
UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes the writer single) and then re-reads
them: a second bridge recomputing at the same moment waits, finds nothing provisional left and
writes nothing, so each change is recorded once. The update is also conditional on the revision
read, a second guard against a lost update. Per change it:

* stores the new due time (and target), ``provisional`` as the calendar now says, ``revision``+1;
* writes a line to the order's history (old and new due time, actor ``calendar``);
* moves the callback task's ``due_by`` with a moved ``callback`` deadline (complaints, reports);
* supersedes the deadline's alerts the new due time does not justify (a warning not yet at risk,
  a breach not yet overdue): acknowledged as ``calendar:recomputed`` unless a person already
  had, and no longer counted by the watch, which raises again under the new revision's key
  when the new due time calls for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.alert_models import alerts_table as alerts
from ivr.db.store import SqlStore
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import history_table as history
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.alerts import AlertLevel
from ivr.domain.deadline_watch import KIND, WarningPolicy, WatchedDeadline, justified
from ivr.domain.recompute import (
    ACTOR,
    SUPERSEDED_BY,
    DeadlineChange,
    RecomputeResult,
    StoredDeadline,
    recompute,
)
from ivr.domain.workdays import IsWorkday
from ivr.domain.workorders import CustomerClass, OrderKind


class SqlDeadlineRecompute(SqlStore):
    """``DeadlineRecompute`` on SQLite or PostgreSQL."""

    def __init__(
        self,
        engine: AsyncEngine,
        is_workday: IsWorkday,
        policy: WarningPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(engine, clock)
        self._is_workday = is_workday
        self._policy = policy

    async def recompute(self) -> RecomputeResult:
        """Every order with an open provisional deadline is computed once in a read, and only
        those whose due times change take the write lock: while a year is still unknown a
        bridge start reads, and writes (and blocks) nothing."""
        pending = (
            select(deadlines.c.order_id)
            .where(deadlines.c.met_at.is_(None), deadlines.c.provisional == true())
            .distinct()
        )
        query = (
            select(
                orders.c.id,
                orders.c.kind,
                orders.c.customer_class,
                orders.c.created_at,
                deadlines.c.name,
                deadlines.c.due_at,
                deadlines.c.target_at,
                deadlines.c.provisional,
                deadlines.c.met_at,
            )
            .join(orders, orders.c.id == deadlines.c.order_id)
            .where(deadlines.c.order_id.in_(pending))
            .order_by(orders.c.id)
        )
        by_order: dict[int, list[Any]] = {}
        async with self._engine.connect() as conn:
            for row in await conn.execute(query):
                by_order.setdefault(row.id, []).append(row)
        moving = [
            order_id
            for order_id, rows in by_order.items()
            if _changes(rows[0], rows, self._is_workday)
        ]
        orders_changed = changed = exact = superseded = 0
        for order_id in moving:
            done = await self._order(order_id)
            orders_changed += bool(done)
            changed += len(done)
            exact += sum(not c.provisional for c, _ in done)
            superseded += sum(n for _, n in done)
        return RecomputeResult(len(by_order), orders_changed, changed, exact, superseded)

    async def _order(self, order_id: int) -> list[tuple[DeadlineChange, int]]:
        """One order's changes, each with how many of its alerts were superseded."""
        now = self._clock()
        order_q = select(orders).where(orders.c.id == order_id)
        rows_q = select(deadlines).where(deadlines.c.order_id == order_id)
        if self._pg:
            order_q, rows_q = order_q.with_for_update(), rows_q.with_for_update()
        done: list[tuple[DeadlineChange, int]] = []
        async with self._writer.begin() as conn:
            order = (await conn.execute(order_q)).first()
            if order is None:
                return done  # deleted meanwhile
            rows = {r.name: r for r in (await conn.execute(rows_q)).all()}
            changes = _changes(order, rows.values(), self._is_workday)
            for change in changes:
                row = rows[change.name]
                if await self._store(conn, row, change):
                    await self._record(conn, order, change, now)
                    done.append((change, await self._supersede(conn, order, row, change, now)))
            if done:
                await conn.execute(
                    update(orders).where(orders.c.id == order_id).values(updated_at=now)
                )
        return done

    async def _store(self, conn: AsyncConnection, row: Any, change: DeadlineChange) -> bool:
        stored = await conn.execute(
            update(deadlines)
            .where(
                deadlines.c.id == row.id,
                deadlines.c.revision == row.revision,
                deadlines.c.met_at.is_(None),
                deadlines.c.provisional == true(),
            )
            .values(
                due_at=change.new_due,
                target_at=change.new_target,
                provisional=change.provisional,
                revision=row.revision + 1,
            )
        )
        return stored.rowcount == 1

    async def _record(
        self, conn: AsyncConnection, order: Any, change: DeadlineChange, now: datetime
    ) -> None:
        await conn.execute(
            insert(history).values(
                order_id=order.id,
                at=now,
                from_status=order.status,
                to_status=order.status,  # no transition: a due time moved
                actor=ACTOR,
                note=change.note(),
            )
        )
        if change.name == "callback":  # complaints and reports: the task is due by it
            await conn.execute(
                update(tasks)
                .where(tasks.c.order_id == order.id, tasks.c.due_by == change.old_due)
                .values(due_by=change.new_due, updated_at=now)
            )

    async def _supersede(
        self, conn: AsyncConnection, order: Any, row: Any, change: DeadlineChange, now: datetime
    ) -> int:
        new = WatchedDeadline(
            order_id=order.id,
            order_no=order.order_no,
            order_kind=order.kind,
            created_at=order.created_at,
            name=change.name,
            due_at=change.new_due,
            provisional=change.provisional,
            target_at=change.new_target,
            revision=row.revision + 1,
        )
        raised = (
            await conn.execute(
                select(alerts.c.id, alerts.c.level).where(
                    alerts.c.kind == KIND,
                    alerts.c.order_id == order.id,
                    alerts.c.deadline == change.name,
                    alerts.c.superseded_at.is_(None),
                )
            )
        ).all()
        stale = [a.id for a in raised if not justified(new, AlertLevel(a.level), now, self._policy)]
        if not stale:
            return 0
        await conn.execute(
            update(alerts)
            .where(alerts.c.id.in_(stale))
            .values(
                superseded_at=now,
                acknowledged_at=func.coalesce(
                    alerts.c.acknowledged_at, literal(now, alerts.c.acknowledged_at.type)
                ),
                acknowledged_by=func.coalesce(alerts.c.acknowledged_by, SUPERSEDED_BY),
            )
        )
        return len(stale)


def _changes(order: Any, rows: Iterable[Any], is_workday: IsWorkday) -> list[DeadlineChange]:
    """The domain's recompute for one order (``kind``, ``customer_class``, ``created_at``)
    and its deadline rows (``name``, ``due_at``, ``target_at``, ``provisional``, ``met_at``)."""
    return recompute(
        OrderKind(order.kind),
        CustomerClass(order.customer_class) if order.customer_class else None,
        order.created_at,
        [StoredDeadline(r.name, r.due_at, r.target_at, r.provisional, r.met_at) for r in rows],
        is_workday,
    )
