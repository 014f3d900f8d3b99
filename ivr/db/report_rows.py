"""The rows a monthly report is computed from (``ivr.domain.reports`` does the arithmetic).

Four reads, each bounded by the month: queue visits that joined in it (the tracking store's own
query), work orders recorded in it with their deadlines and callback tasks, the missed
deadlines (of any order) due before the month-end snapshot, and the agents' state changes in it
(with each agent's last one before it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.agent_states import SqlAgentStates
from ivr.db.inspections import month_facts
from ivr.db.models import calls_table as calls
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.db.workorder_models import attempts_table as attempts
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.reports import CallbackFact, DeadlineFact, MonthRows, OrderFact


class SqlReportRows:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._visits = SqlVisitRepository(engine)
        self._agents = SqlAgentDirectory(engine)
        self._states = SqlAgentStates(engine)

    async def month_rows(self, start: datetime, end: datetime, cut: datetime) -> MonthRows:
        """Rows for the month [start, end); ``cut`` is the overdue snapshot instant."""
        return MonthRows(
            visits=await self._visits.between(start, end),
            orders=await self._orders(start, end),
            agents=await self._agents.all(),
            missed_before_cut=await self._missed_before(cut),
            callers_informed=await self._informed(start, end),
            state_changes=await self._states.for_period(start, end),
            inspections=await month_facts(self._engine, start, end),
        )

    async def _informed(self, start: datetime, end: datetime) -> int:
        """Calls of the month whose caller hung up after an outage notice."""
        query = select(func.count()).where(
            calls.c.informed.is_(True), calls.c.started_at >= start, calls.c.started_at < end
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def _orders(self, start: datetime, end: datetime) -> list[OrderFact]:
        recorded = (orders.c.created_at >= start) & (orders.c.created_at < end)
        # when the completing call of each callback task ended (or was answered, if its
        # hang-up is not recorded yet)
        completed = (
            select(
                attempts.c.task_id,
                func.max(func.coalesce(attempts.c.ended_at, attempts.c.answered_at)).label("at"),
            )
            .where(attempts.c.result == "completed")
            .group_by(attempts.c.task_id)
            .subquery()
        )
        async with self._engine.connect() as conn:
            order_rows = (
                await conn.execute(
                    select(
                        orders.c.id,
                        orders.c.order_no,
                        orders.c.kind,
                        orders.c.owner_job_number,
                        orders.c.status,
                        orders.c.created_at,
                        tasks.c.state,
                        tasks.c.due_by,
                        tasks.c.satisfied,
                        tasks.c.outcome,
                        completed.c.at,
                    )
                    .select_from(
                        orders.outerjoin(tasks, tasks.c.order_id == orders.c.id).outerjoin(
                            completed, completed.c.task_id == tasks.c.id
                        )
                    )
                    .where(recorded)
                    .order_by(orders.c.created_at, orders.c.id)
                )
            ).all()
            deadline_rows = (
                await conn.execute(
                    select(
                        deadlines.c.order_id,
                        deadlines.c.name,
                        deadlines.c.due_at,
                        deadlines.c.met_at,
                    )
                    .join(orders, orders.c.id == deadlines.c.order_id)
                    .where(recorded)
                    .order_by(deadlines.c.order_id, deadlines.c.due_at, deadlines.c.name)
                )
            ).all()
        by_order: dict[int, list[DeadlineFact]] = {}
        for d in deadline_rows:
            by_order.setdefault(d.order_id, []).append(DeadlineFact(d.name, d.due_at, d.met_at))
        return [
            OrderFact(
                order_no=o.order_no,
                kind=o.kind,
                owner_job_number=o.owner_job_number,
                status=o.status,
                created_at=o.created_at,
                deadlines=tuple(by_order.get(o.id, ())),
                callback=None
                if o.state is None
                else CallbackFact(o.state, o.due_by, o.at, o.satisfied, o.outcome),
            )
            for o in order_rows
        ]

    async def _missed_before(self, cut: datetime) -> list[tuple[str, DeadlineFact]]:
        """Deadlines due before ``cut`` that were met late or not at all (indexed on
        ``(met_at, due_at)``); the domain decides which were still open at ``cut``."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        orders.c.order_no, deadlines.c.name, deadlines.c.due_at, deadlines.c.met_at
                    )
                    .join(orders, orders.c.id == deadlines.c.order_id)
                    .where(
                        deadlines.c.due_at < cut,
                        or_(deadlines.c.met_at.is_(None), deadlines.c.met_at > cut),
                    )
                )
            ).all()
        return [(r.order_no, DeadlineFact(r.name, r.due_at, r.met_at)) for r in rows]
