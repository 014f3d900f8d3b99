"""Work orders in the database: idempotent create and close, status changes with history,
deadlines met as the order moves on, overdue queries, and the callback task made on close.

Every change runs in one write transaction that first locks the order's row (``FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes the writer single), so a transition is checked
against the status actually stored, and two requests cannot both close an order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.callback_store import on_the_list
from ivr.db.engine import writer
from ivr.db.outage_links import link_new_repair
from ivr.db.workorder_models import (
    attempts_table as attempts,
)
from ivr.db.workorder_models import (
    call_orders_table as call_orders,
)
from ivr.db.workorder_models import (
    deadlines_table as deadlines,
)
from ivr.db.workorder_models import (
    follow_ups_table as follow_ups,
)
from ivr.db.workorder_models import (
    history_table as history,
)
from ivr.db.workorder_models import (
    orders_table as orders,
)
from ivr.db.workorder_models import (
    tasks_table as tasks,
)
from ivr.domain.callbacks import CallbackOutcome, CallbackPolicy, TaskState
from ivr.domain.workdays import IsWorkday
from ivr.domain.workorders import (
    MET_BY_ACCEPTANCE_ONLY,
    CustomerClass,
    Deadline,
    KeyReused,
    NewOrder,
    OrderConflict,
    OrderKind,
    OrderNotFound,
    OrderStatus,
    OrderView,
    check_manual_move,
    check_transition,
    deadlines_for,
    is_overdue,
    is_past_target,
    reached,
    validate_kind_class,
)


class SqlWorkOrders:
    def __init__(
        self,
        engine: AsyncEngine,
        is_workday: IsWorkday,
        policy: CallbackPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._is_workday = is_workday
        self._policy = policy
        self._clock = clock
        self._pg = engine.dialect.name == "postgresql"

    # --- create / update / close ---------------------------------------------------------

    async def create(
        self,
        new: NewOrder,
        actor: str,
        create_key: str | None,
        request_hash: str | None = None,
    ) -> tuple[OrderView, bool]:
        """The order, and True if this call created it (False: the key was seen before).
        ``request_hash`` (of the request the key came with) is stored with the key; the key
        again with another hash raises :class:`KeyReused`."""
        validate_kind_class(new.kind, new.customer_class)
        if create_key is not None:
            found = await self._by_create_key(create_key, request_hash)
            if found is not None:
                return found, False
        now = self._clock()
        order_no = uuid.uuid4().hex[:20].upper()
        row = {
            "order_no": order_no,
            "create_key": create_key,
            "create_request_hash": request_hash if create_key is not None else None,
            "kind": new.kind.value,
            "customer_class": new.customer_class.value if new.customer_class else None,
            "status": OrderStatus.CREATED.value,
            "call_id": new.call_id,
            "owner_job_number": new.owner_job_number,
            "customer_surname": new.customer_surname,
            "customer_title": new.customer_title,
            "customer_phone": new.customer_phone.digits,
            "do_not_call": False,  # set below from the list, inside the transaction
            "summary": new.summary,
            "address": new.address,
            "fault": new.fault,
            "created_at": now,
            "updated_at": now,
        }
        limits = deadlines_for(new.kind, new.customer_class, now, self._is_workday)
        try:
            async with self._writer.begin() as conn:
                row["do_not_call"] = await self._listed(conn, new.customer_phone.digits)
                order_id = (
                    await conn.execute(insert(orders).values(row).returning(orders.c.id))
                ).scalar_one()
                if limits:
                    await conn.execute(
                        insert(deadlines),
                        [
                            {
                                "order_id": order_id,
                                "name": d.name,
                                "met_by": d.met_by.value,
                                "due_at": d.due_at,
                                "provisional": d.provisional,
                                "target_at": d.target_at,
                            }
                            for d in limits
                        ],
                    )
                await self._log(conn, order_id, None, OrderStatus.CREATED, actor, None, now)
                if new.kind is OrderKind.REPAIR:  # one outage, one dispatch
                    await link_new_repair(
                        conn, order_id, new.call_id, new.customer_phone.digits, now
                    )
                if new.call_id is not None:  # the call ↔ order link, both ways in the API
                    await conn.execute(
                        insert(call_orders).values(
                            call_id=new.call_id, order_id=order_id, linked_at=now, linked_by=actor
                        )
                    )
        except IntegrityError:
            # a concurrent retry with the same key won the race; or the call id does not exist
            if create_key is not None and (
                found := await self._by_create_key(create_key, request_hash)
            ):
                return found, False
            raise OrderConflict("call_id does not name a recorded call") from None
        view = await self.get(order_no)
        return view, True

    async def update(
        self,
        order_no: str,
        actor: str,
        status: OrderStatus | None = None,
        summary: str | None = None,
        note: str | None = None,
    ) -> OrderView:
        """Move the order on and/or edit it. Closing goes through :meth:`close`; whether its
        customer is called back is the do-not-call list's business, not the order's."""
        if status is OrderStatus.CLOSED:
            raise OrderConflict("close an order with POST …/close and its result")
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, order_no)
            values: dict[str, Any] = {"updated_at": now}
            if summary is not None:
                values["summary"] = summary
            if status is not None and status.value != current.status:
                check_transition(OrderStatus(current.status), status)
                check_manual_move(OrderKind(current.kind), OrderStatus(current.status), status)
                if status is OrderStatus.ARCHIVED:
                    await self._refuse_if_callback_owed(conn, current)
                values["status"] = status.value
                await self._log(
                    conn, current.id, OrderStatus(current.status), status, actor, note, now
                )
                await self._meet_deadlines(conn, current.id, status, now)
            elif note is not None:  # a note alone: a history line at the current status
                same = OrderStatus(current.status)
                await self._log(conn, current.id, same, same, actor, note, now)
            await conn.execute(update(orders).where(orders.c.id == current.id).values(values))
        return await self.get(order_no)

    async def close(
        self,
        order_no: str,
        result: str,
        actor: str,
        close_key: str | None,
        request_hash: str | None = None,
    ) -> OrderView:
        """Close with the result; schedule its callback if the policy asks for one.

        A retry carrying the same ``close_key`` returns the closed order unchanged; the unique
        callback task per order means a close can never schedule two callbacks.
        """
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, order_no)
            if reached(OrderStatus(current.status), OrderStatus.CLOSED):
                if close_key is not None and close_key == current.close_key:
                    # the same request again: answer as the first time (not another one)
                    _same_request(close_key, current.close_request_hash, request_hash)
                else:
                    raise OrderConflict(f"order {order_no} is already {current.status}")
            else:
                await self.close_in(
                    conn,
                    current,
                    result,
                    actor,
                    now,
                    close_key=close_key,
                    close_request_hash=request_hash if close_key is not None else None,
                )
        return await self.get(order_no)

    async def reassign(self, order_no: str, owner: str, reason: str, actor: str) -> OrderView:
        """Give the order to another agent (首问负责制: only a supervisor does this, with a
        reason); a history line at the current status says from whom, to whom and why."""
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, order_no)
            status = OrderStatus(current.status)
            if status is OrderStatus.ARCHIVED:
                raise OrderConflict(f"order {order_no} is archived")
            if current.owner_job_number == owner:
                raise OrderConflict(f"order {order_no} is owned by {owner} already")
            note = f"reassigned {current.owner_job_number} → {owner}: {reason}"
            await self._log(conn, current.id, status, status, actor, note, now)
            await conn.execute(
                update(orders)
                .where(orders.c.id == current.id)
                .values(owner_job_number=owner, updated_at=now)
            )
        return await self.get(order_no)

    async def close_in(
        self,
        conn: AsyncConnection,
        current: Any,
        result: str,
        actor: str,
        now: datetime,
        *,
        close_key: str | None = None,
        close_request_hash: str | None = None,
        callback: bool = True,
        note: str | None = None,
    ) -> None:
        """Close a locked order row inside the caller's transaction (an outage closes its
        linked orders this way); ``callback=False`` when the customer's 回访 is owed by
        another order of the same outage."""
        check_transition(OrderStatus(current.status), OrderStatus.CLOSED)
        await conn.execute(
            update(orders)
            .where(orders.c.id == current.id)
            .values(
                status=OrderStatus.CLOSED.value,
                result=result,
                close_key=close_key,
                close_request_hash=close_request_hash,
                closed_at=now,
                updated_at=now,
            )
        )
        await self._log(
            conn, current.id, OrderStatus(current.status), OrderStatus.CLOSED, actor, note, now
        )
        await self._meet_deadlines(conn, current.id, OrderStatus.CLOSED, now)
        if callback:
            await self._schedule_callback(conn, current, now)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, order_no: str) -> OrderView:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(orders).where(orders.c.order_no == order_no))).first()
            if row is None:
                raise OrderNotFound(order_no)
            return await self._view(conn, row)

    async def list(
        self,
        status: OrderStatus | None = None,
        kind: OrderKind | None = None,
        overdue: bool | None = None,
        owner: str | None = None,
        limit: int = 100,
    ) -> list[OrderView]:
        """Newest first. ``overdue``: has a deadline past due and not yet met."""
        query = select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc())
        if status is not None:
            query = query.where(orders.c.status == status.value)
        if kind is not None:
            query = query.where(orders.c.kind == kind.value)
        if owner is not None:
            query = query.where(orders.c.owner_job_number == owner)
        if overdue is not None:  # domain ``is_overdue`` as SQL: unmet, and due before now
            late = exists().where(
                and_(
                    deadlines.c.order_id == orders.c.id,
                    deadlines.c.met_at.is_(None),
                    deadlines.c.due_at < self._clock(),
                )
            )
            query = query.where(late if overdue else ~late)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
            return [await self._view(conn, r, full=False) for r in rows]

    async def callback_history(self, order_no: str) -> dict[str, Any] | None:
        view = await self.get(order_no)
        return view.callback

    # --- internals -----------------------------------------------------------------------

    async def _by_create_key(self, key: str, request_hash: str | None) -> OrderView | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(orders).where(orders.c.create_key == key))).first()
            if row is None:
                return None
            _same_request(key, row.create_request_hash, request_hash)
            return await self._view(conn, row)

    async def _lock(self, conn: AsyncConnection, order_no: str) -> Any:
        query = select(orders).where(orders.c.order_no == order_no)
        if self._pg:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise OrderNotFound(order_no)
        return row

    async def _log(
        self,
        conn: AsyncConnection,
        order_id: int,
        before: OrderStatus | None,
        after: OrderStatus,
        actor: str,
        note: str | None,
        now: datetime,
    ) -> None:
        await conn.execute(
            insert(history).values(
                order_id=order_id,
                at=now,
                from_status=before.value if before else None,
                to_status=after.value,
                actor=actor,
                note=note,
            )
        )

    async def _meet_deadlines(
        self, conn: AsyncConnection, order_id: int, status: OrderStatus, now: datetime
    ) -> None:
        met = [s.value for s in OrderStatus if reached(status, s)]
        await conn.execute(
            update(deadlines)
            .where(
                deadlines.c.order_id == order_id,
                deadlines.c.met_at.is_(None),
                deadlines.c.met_by.in_(met),
                deadlines.c.name.not_in(MET_BY_ACCEPTANCE_ONLY),
            )
            .values(met_at=now)
        )

    async def _schedule_callback(self, conn: AsyncConnection, order: Any, now: datetime) -> None:
        stored = (
            await conn.execute(select(deadlines).where(deadlines.c.order_id == order.id))
        ).all()
        due = self._policy.callback_due(
            OrderKind(order.kind),
            CustomerClass(order.customer_class) if order.customer_class else None,
            now,
            [
                Deadline(d.name, OrderStatus(d.met_by), d.due_at, d.provisional, d.target_at)
                for d in stored
            ],
        )
        if due is None:
            return
        listed = await self._listed(conn, order.customer_phone)
        state = TaskState.CANCELLED if listed else TaskState.PENDING
        await conn.execute(
            insert(tasks).values(
                order_id=order.id,
                state=state.value,
                due_by=due,
                next_attempt_at=None if listed else self._policy.first_attempt_at(now),
                attempts_made=0,
                result="do_not_call" if listed else None,
                outcome=CallbackOutcome.DO_NOT_CALL.value if listed else None,
                created_at=now,
                updated_at=now,
            )
        )

    async def _listed(self, conn: AsyncConnection, phone: str) -> bool:
        """The number is on the do-not-call list now."""
        return bool((await conn.execute(select(on_the_list(phone)))).scalar())

    async def _refuse_if_callback_owed(self, conn: AsyncConnection, order: Any) -> None:
        """Archiving meets every deadline, the callback's too: never while the callback is
        still owed (the standard: every repair, complaint and report gets its 回访). A callback
        flagged for a person is owed until a supervisor settles its follow-up; one cancelled
        because the number is on the do-not-call list is not owed."""
        state = (
            await conn.execute(select(tasks.c.state).where(tasks.c.order_id == order.id))
        ).scalar_one_or_none()
        owed = state in (TaskState.PENDING.value, TaskState.ACTIVE.value)
        if state == TaskState.NEEDS_HUMAN.value:
            open_follow_up = select(follow_ups.c.id).where(
                follow_ups.c.order_id == order.id, follow_ups.c.resolved_at.is_(None)
            )
            owed = (await conn.execute(open_follow_up.limit(1))).first() is not None
        if owed:
            raise OrderConflict(
                f"order {order.order_no} still owes its callback ({state}): it is archived "
                "once the callback is done or settled, or the number is on the do-not-call list"
            )

    async def _view(self, conn: AsyncConnection, row: Any, full: bool = True) -> OrderView:
        view = OrderView(
            order_no=row.order_no,
            kind=row.kind,
            customer_class=row.customer_class,
            status=row.status,
            call_id=row.call_id,
            owner_job_number=row.owner_job_number,
            customer_surname=row.customer_surname,
            customer_title=row.customer_title,
            customer_phone=row.customer_phone,
            do_not_call=await self._listed(conn, row.customer_phone),
            summary=row.summary,
            result=row.result,
            created_at=row.created_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            address=row.address,
            fault=row.fault,
        )
        view.call_ids = list(
            (
                await conn.execute(
                    select(call_orders.c.call_id)
                    .where(call_orders.c.order_id == row.id)
                    .order_by(call_orders.c.linked_at, call_orders.c.id)
                )
            ).scalars()
        )
        now = self._clock()
        view.deadlines = [
            {
                "name": d.name,
                "due_at": d.due_at,
                "target_at": d.target_at,
                "met_at": d.met_at,
                "provisional": d.provisional,
                "overdue": is_overdue(d.due_at, d.met_at, now),
                "past_target": is_past_target(d.target_at, d.met_at, now),
            }
            for d in (
                await conn.execute(
                    select(deadlines)
                    .where(deadlines.c.order_id == row.id)
                    .order_by(deadlines.c.due_at)
                )
            ).all()
        ]
        if not full:
            return view
        view.history = [
            {"at": h.at, "from": h.from_status, "to": h.to_status, "actor": h.actor, "note": h.note}
            for h in (
                await conn.execute(
                    select(history).where(history.c.order_id == row.id).order_by(history.c.id)
                )
            ).all()
        ]
        task = (await conn.execute(select(tasks).where(tasks.c.order_id == row.id))).first()
        if task is not None:
            tries = (
                await conn.execute(
                    select(attempts)
                    .where(attempts.c.task_id == task.id)
                    .order_by(attempts.c.attempt_no)
                )
            ).all()
            view.callback = {
                "state": task.state,
                "due_by": task.due_by,
                "next_attempt_at": task.next_attempt_at,
                "attempts_made": task.attempts_made,
                "result": task.result,
                "right_person": task.right_person,
                "power_restored": task.power_restored,
                "satisfied": task.satisfied,
                "outcome": task.outcome,
                "suggestion_recorded": task.suggestion_path is not None,
                "attempts": [
                    {
                        "attempt_no": a.attempt_no,
                        "state": a.state,
                        "originated_at": a.originated_at,
                        "answered_at": a.answered_at,
                        "ended_at": a.ended_at,
                        "result": a.result,
                        "detail": a.detail,
                    }
                    for a in tries
                ],
            }
        follow = (
            await conn.execute(
                select(follow_ups).where(follow_ups.c.order_id == row.id).order_by(follow_ups.c.id)
            )
        ).all()
        if follow:
            view.history.extend(
                {
                    "at": f.created_at,
                    "follow_up": f.reason,
                    "detail": f.detail,
                    "follow_up_id": f.id,
                    "resolution": f.resolution,
                    "resolved_at": f.resolved_at,
                }
                for f in follow
            )
        return view


def _same_request(key: str, stored: str | None, sent: str | None) -> None:
    """A key seen before must come with the request it came with first (a key stored before
    hashes were kept, or a caller that sends none, is taken at its word)."""
    if stored is not None and sent is not None and stored != sent:
        raise KeyReused(key)
