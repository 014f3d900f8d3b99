"""The agent workspace's reads (``WorkspaceLookup``): the call behind a ring, the caller's orders
by phone, the orders linked to a call, and an agent's own orders with their next deadline.

Reads only: orders are written by ``ivr.db.workorders`` (which also writes the call ↔ order
link in the same transaction as the order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.models import calls_table as calls
from ivr.db.models import steps_table as steps
from ivr.db.models import visits_table as visits
from ivr.db.workorder_models import call_orders_table as call_orders
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import history_table as history
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.calls import StepKind
from ivr.domain.deadline_watch import WarningPolicy, WatchedDeadline
from ivr.domain.workorders import OrderStatus
from ivr.domain.workspace import (
    CallbackSummary,
    CallContext,
    MyOrder,
    PriorOrder,
    next_deadline,
)

OPEN_STATUSES = (OrderStatus.CREATED, OrderStatus.DISPATCHED, OrderStatus.IN_PROGRESS)
MY_ORDERS_LIMIT = 200


class SqlWorkspaceLookup:
    def __init__(
        self, engine: AsyncEngine, policy: WarningPolicy, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._clock = clock

    async def call_context(self, unique_id: str) -> CallContext | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(calls)
                    .where(calls.c.unique_id == unique_id)
                    .order_by(calls.c.started_at.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                return None
            said = (
                await conn.execute(
                    select(steps.c.detail)
                    .where(steps.c.call_id == row.call_id, steps.c.kind == StepKind.SPEECH)
                    .order_by(steps.c.seq)
                )
            ).scalars()
            return CallContext(
                call_id=row.call_id,
                unique_id=row.unique_id,
                started_at=row.started_at,
                choice=row.choice,
                menu_path=tuple(row.menu_path or ()),
                spoken=tuple(d for d in said if d),
            )

    async def caller_orders(
        self, phone_digits: str, since: datetime, limit: int = 20
    ) -> list[PriorOrder]:
        """Newest first from the database; the domain orders them for the pop."""
        is_open = orders.c.status.in_([s.value for s in OPEN_STATUSES])
        query = (
            select(orders)
            .where(
                orders.c.customer_phone == phone_digits,
                or_(orders.c.created_at >= since, is_open),
            )
            .order_by(orders.c.created_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            due = await self._next_due(conn, [r.id for r in rows])
        return [
            PriorOrder(r.order_no, r.kind, r.status, r.created_at, r.summary, due.get(r.id))
            for r in rows
        ]

    async def call_orders(self, call_id: str) -> list[dict[str, Any]] | None:
        async with self._engine.connect() as conn:
            known = (
                await conn.execute(select(calls.c.call_id).where(calls.c.call_id == call_id))
            ).first()
            if known is None:
                return None
            rows = (
                await conn.execute(
                    select(
                        orders.c.order_no,
                        orders.c.kind,
                        orders.c.status,
                        orders.c.owner_job_number,
                        orders.c.created_at,
                        call_orders.c.linked_at,
                        call_orders.c.linked_by,
                    )
                    .join(orders, orders.c.id == call_orders.c.order_id)
                    .where(call_orders.c.call_id == call_id)
                    .order_by(call_orders.c.linked_at, call_orders.c.id)
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    async def call_agents(self, call_id: str) -> set[str]:
        async with self._engine.connect() as conn:
            answered = (
                await conn.execute(
                    select(visits.c.agent_job_number)
                    .join(calls, calls.c.unique_id == visits.c.unique_id)
                    .where(calls.c.call_id == call_id, visits.c.agent_job_number.is_not(None))
                )
            ).scalars()
            owners = (
                await conn.execute(
                    select(orders.c.owner_job_number)
                    .join(call_orders, call_orders.c.order_id == orders.c.id)
                    .where(call_orders.c.call_id == call_id)
                )
            ).scalars()
            return {j for j in [*answered, *owners] if j}

    async def my_orders(self, job_number: str, closed_since: datetime) -> list[MyOrder]:
        is_open = orders.c.status.in_([s.value for s in OPEN_STATUSES])
        query = (
            select(orders)
            .where(
                orders.c.owner_job_number == job_number,
                or_(
                    is_open,
                    and_(orders.c.closed_at.is_not(None), orders.c.closed_at >= closed_since),
                ),
            )
            .order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(MY_ORDERS_LIMIT)
        )
        now = self._clock()
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            ids = [r.id for r in rows]
            watched = await self._deadlines(conn, rows)
            links: defaultdict[int, list[str]] = defaultdict(list)
            notes: defaultdict[int, list[str]] = defaultdict(list)
            callbacks: dict[int, CallbackSummary] = {}
            if ids:
                for link in await conn.execute(
                    select(call_orders.c.order_id, call_orders.c.call_id)
                    .where(call_orders.c.order_id.in_(ids))
                    .order_by(call_orders.c.linked_at, call_orders.c.id)
                ):
                    links[link.order_id].append(link.call_id)
                for h in await conn.execute(
                    select(history.c.order_id, history.c.note)
                    .where(history.c.order_id.in_(ids), history.c.note.is_not(None))
                    .order_by(history.c.id)
                ):
                    notes[h.order_id].append(h.note)
                for t in await conn.execute(select(tasks).where(tasks.c.order_id.in_(ids))):
                    callbacks[t.order_id] = CallbackSummary(
                        state=t.state,
                        due_by=t.due_by,
                        result=t.result,
                        satisfied=t.satisfied,
                        power_restored=t.power_restored,
                        suggestion_recorded=t.suggestion_path is not None,
                    )
        return [
            MyOrder(
                order_no=r.order_no,
                kind=r.kind,
                status=r.status,
                created_at=r.created_at,
                summary=r.summary,
                result=r.result,
                customer_phone=r.customer_phone,
                call_ids=tuple(links[r.id]),
                next_deadline=next_deadline(watched[r.id], now, self._policy),
                notes=tuple(notes[r.id]),
                callback=callbacks.get(r.id),
            )
            for r in rows
        ]

    async def _next_due(self, conn: Any, order_ids: Sequence[int]) -> dict[int, datetime]:
        if not order_ids:
            return {}
        rows = await conn.execute(
            select(deadlines.c.order_id, func.min(deadlines.c.due_at))
            .where(deadlines.c.order_id.in_(order_ids), deadlines.c.met_at.is_(None))
            .group_by(deadlines.c.order_id)
        )
        found: dict[int, datetime] = {}
        for order_id, due_at in rows:
            # SQLite's MIN() returns the stored text, not the column's type: read it back aware
            found[order_id] = _aware(due_at)
        return found

    async def _deadlines(
        self, conn: Any, rows: Sequence[Any]
    ) -> defaultdict[int, list[WatchedDeadline]]:
        out: defaultdict[int, list[WatchedDeadline]] = defaultdict(list)
        by_id = {r.id: r for r in rows}
        if not by_id:
            return out
        for d in await conn.execute(select(deadlines).where(deadlines.c.order_id.in_(by_id))):
            order = by_id[d.order_id]
            out[d.order_id].append(
                WatchedDeadline(
                    order_id=order.id,
                    order_no=order.order_no,
                    order_kind=order.kind,
                    created_at=order.created_at,
                    name=d.name,
                    due_at=d.due_at,
                    provisional=d.provisional,
                    target_at=d.target_at,
                    met_at=d.met_at,
                )
            )
        return out


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
