"""Follow-ups in the database: the supervisor's list, resolving one with a note, and re-queueing
a callback that was flagged for a human.

Each decision runs in one write transaction that first locks the follow-up (``FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` makes the writer single), so two supervisors clicking
at once, or a retried request, decide once; the task is only moved back to ``pending`` from
``needs_human`` (a guarded UPDATE), so the dialer never sees a task twice. The rules are in
``ivr.domain.follow_ups``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.callback_store import on_the_list
from ivr.db.store import SqlStore
from ivr.db.workorder_models import follow_ups_table as follow_ups
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.callbacks import CallbackPolicy, TaskState
from ivr.domain.follow_ups import FollowUpFacts, FollowUpNotFound, Resolution, must_apply


def _query() -> Select[Any]:
    return (
        select(
            follow_ups,
            orders.c.order_no,
            orders.c.kind,
            orders.c.owner_job_number,
            on_the_list(orders.c.customer_phone).label("do_not_call"),
            tasks.c.id.label("task_id"),
            tasks.c.state.label("task_state"),
            tasks.c.attempts_made,
            tasks.c.next_attempt_at,
            tasks.c.result.label("task_result"),
        )
        .join(orders, orders.c.id == follow_ups.c.order_id)
        .outerjoin(tasks, tasks.c.order_id == follow_ups.c.order_id)
    )


def _view(row: Any) -> dict[str, Any]:
    callback = None
    if row.task_id is not None:
        callback = {
            "state": row.task_state,
            "attempts_made": row.attempts_made,
            "next_attempt_at": row.next_attempt_at,
            "result": row.task_result,
        }
    return {
        "id": row.id,
        "order_no": row.order_no,
        "order_kind": row.kind,
        "owner_job_number": row.owner_job_number,
        "reason": row.reason,
        "detail": row.detail,
        "created_at": row.created_at,
        "open": row.resolved_at is None,
        "flagged": row.task_state == TaskState.NEEDS_HUMAN.value,
        "resolved_at": row.resolved_at,
        "resolution": row.resolution,
        "resolved_by": row.resolved_by,
        "note": row.resolution_note,
        "callback": callback,
    }


class SqlFollowUps(SqlStore):
    def __init__(
        self, engine: AsyncEngine, policy: CallbackPolicy, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(engine, clock)
        self._policy = policy

    async def list(
        self, open_: bool | None = True, flagged: bool | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Oldest first: the follow-up waiting longest is the one to deal with next."""
        query = _query().order_by(follow_ups.c.created_at, follow_ups.c.id).limit(limit)
        if open_ is not None:
            done = follow_ups.c.resolved_at
            query = query.where(done.is_(None) if open_ else done.is_not(None))
        if flagged is True:
            query = query.where(tasks.c.state == TaskState.NEEDS_HUMAN.value)
        elif flagged is False:
            query = query.where(
                (tasks.c.state.is_(None)) | (tasks.c.state != TaskState.NEEDS_HUMAN.value)
            )
        async with self._engine.connect() as conn:
            return [_view(r) for r in (await conn.execute(query)).all()]

    async def get(self, follow_up_id: int) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            return _view(await self._row(conn, follow_up_id, lock=False))

    async def resolve(self, follow_up_id: int, actor: str, note: str) -> dict[str, Any]:
        return await self._decide(follow_up_id, Resolution.RESOLVED, actor, note)

    async def requeue(self, follow_up_id: int, actor: str, note: str | None) -> dict[str, Any]:
        """Give the flagged callback back to the dialer: one more attempt at the next moment the
        calling window allows (its attempt number is past the retry maximum, so a failure flags
        it for a human again at once)."""
        return await self._decide(follow_up_id, Resolution.REQUEUED, actor, note)

    async def _decide(
        self, follow_up_id: int, wanted: Resolution, actor: str, note: str | None
    ) -> dict[str, Any]:
        now = self._clock()
        async with self._writer.begin() as conn:
            row = await self._row(conn, follow_up_id, lock=True)
            facts = FollowUpFacts(
                reason=row.reason,
                resolution=Resolution(row.resolution) if row.resolution else None,
                task_state=TaskState(row.task_state) if row.task_state else None,
                do_not_call=row.do_not_call,
            )
            if must_apply(facts, wanted):
                await conn.execute(
                    update(follow_ups)
                    .where(follow_ups.c.id == follow_up_id, follow_ups.c.resolved_at.is_(None))
                    .values(
                        resolved_at=now,
                        resolution=wanted.value,
                        resolved_by=actor,
                        resolution_note=note,
                    )
                )
                if wanted is Resolution.REQUEUED:
                    await conn.execute(
                        update(tasks)
                        .where(
                            tasks.c.id == row.task_id,
                            tasks.c.state == TaskState.NEEDS_HUMAN.value,
                        )
                        .values(
                            state=TaskState.PENDING.value,
                            next_attempt_at=self._policy.first_attempt_at(now),
                            outcome=None,  # owed again until this attempt ends
                            updated_at=now,
                        )
                    )
        return await self.get(follow_up_id)

    async def _row(self, conn: AsyncConnection, follow_up_id: int, lock: bool) -> Any:
        query = _query().where(follow_ups.c.id == follow_up_id)
        if lock and self._pg:
            query = query.with_for_update(of=follow_ups)  # tasks: the nullable side
        row = (await conn.execute(query)).first()
        if row is None:
            raise FollowUpNotFound(follow_up_id)
        return row
