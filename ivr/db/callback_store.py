"""Callback tasks and attempts in the database: the dialer's claims and everything that
finishes an attempt (AMI results, the conversation, lease expiry).

Claims are made by any number of bridges, on one or several Asterisk servers, against one
database. One claim round is serialised (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite) so the centre's count of live attempts (every bridge's, counted in the
database), the server's own cap and the shared rate slot are exact; tasks are taken ``FOR
UPDATE SKIP LOCKED``.
Attempt ``n`` of a task is unique in the schema, and each attempt's result is applied to its task
once (``UPDATE … WHERE result IS NULL``), whichever bridge sees it first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db import leases
from ivr.db.leases import LIVE, claim_round
from ivr.db.store import SqlStore
from ivr.db.workorder_models import attempts_table as attempts
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import do_not_call_table as do_not_call
from ivr.db.workorder_models import follow_ups_table as follow_ups
from ivr.db.workorder_models import history_table as history
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.attempt_ids import CALLBACK_ATTEMPT
from ivr.domain.callbacks import (
    AttemptResult,
    CallbackContext,
    CallbackOutcome,
    CallbackPolicy,
    Claim,
    Conversation,
    TaskState,
    outcome_of,
)
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.servers import ONE_SERVER, Placement
from ivr.domain.workorders import OrderKind, OrderStatus

log = logging.getLogger(__name__)

CLAIM_LOCK = 95598_0004  # pg_advisory_xact_lock key of a claim round (call-backs share it)


class SqlCallbacks(SqlStore):
    def __init__(
        self,
        engine: AsyncEngine,
        policy: CallbackPolicy,
        clock: Callable[[], datetime],
        placement: Placement = ONE_SERVER,
    ) -> None:
        super().__init__(engine, clock, placement.server)
        self._policy = policy
        self._placement = placement

    # --- the dialer ----------------------------------------------------------------------

    async def claim(
        self, owner: str, max_live: int, min_gap_s: float, lease_s: float, limit: int
    ) -> list[Claim]:
        """Take due tasks, as many as the global live-call limit allows, each with a rate slot."""
        now = self._clock()
        claims: list[Claim] = []
        async with claim_round(self._writer, self._pg, CLAIM_LOCK) as conn:
            # virtual-hold call-backs are customer calls too: the same global limit
            live = await leases.live_customer_calls(conn)
            room = await leases.customer_room(
                conn, self._pg, self._placement, min(max_live - live, limit)
            )
            if room <= 0:
                return []
            query = (
                select(
                    tasks.c.id,
                    tasks.c.attempts_made,
                    orders.c.customer_phone,
                    on_the_list(orders.c.customer_phone).label("do_not_call"),
                )
                .join(orders, orders.c.id == tasks.c.order_id)
                .where(tasks.c.state == TaskState.PENDING.value, tasks.c.next_attempt_at <= now)
                .order_by(tasks.c.next_attempt_at, tasks.c.id)
                .limit(room)
            )
            if self._pg:
                query = query.with_for_update(of=tasks, skip_locked=True)
            due = (await conn.execute(query)).all()
            if not due:
                return []
            slot = await leases.first_slot(conn, self._pg, now, max_live, min_gap_s)
            window = self._policy.window
            for task in due:
                if task.do_not_call:  # the number joined the list after the order closed
                    await cancel_for_do_not_call(conn, tasks.c.id == task.id, now)
                    continue
                if not window.contains(slot):
                    # due before closing time but reached after it (a backlog, an AMI outage):
                    # calling hours are checked again here, and the task waits for the morning
                    # without spending an attempt
                    await conn.execute(
                        update(tasks)
                        .where(tasks.c.id == task.id)
                        .values(next_attempt_at=window.next_open(slot), updated_at=now)
                    )
                    continue
                try:
                    phone = PhoneNumber(task.customer_phone)
                except InvalidPhone as exc:
                    await self._task_to_human(conn, task.id, "invalid_phone", str(exc), now)
                    continue
                action_id = CALLBACK_ATTEMPT.new()
                await conn.execute(
                    insert(attempts).values(
                        task_id=task.id,
                        attempt_no=task.attempts_made + 1,
                        action_id=action_id,
                        state="claimed",
                        claimed_by=owner,
                        server_name=self._server,  # placed through this bridge's Asterisk
                        lease_until=slot + timedelta(seconds=lease_s),
                        originate_at=slot,
                        claimed_at=now,
                    )
                )
                await conn.execute(
                    update(tasks)
                    .where(tasks.c.id == task.id)
                    .values(
                        state=TaskState.ACTIVE.value,
                        attempts_made=task.attempts_made + 1,
                        updated_at=now,
                    )
                )
                claims.append(Claim(action_id, phone, slot))
                slot += timedelta(seconds=min_gap_s)
            await leases.keep_next_slot(conn, slot)
        return claims

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool:
        """Claimed → originating, only if this bridge still holds the claim."""
        return await leases.start_originate(
            self._writer, attempts, action_id, owner, lease_s, self._clock()
        )

    async def originate_failed(self, action_id: str, result: AttemptResult, detail: str) -> None:
        """Asterisk (or the AMI action) says the call did not connect."""
        now = self._clock()
        async with self._writer.begin() as conn:
            attempt = await self._attempt(conn, action_id)
            if attempt is None or attempt.state == "finished":
                return
            await conn.execute(
                update(attempts)
                .where(attempts.c.id == attempt.id)
                .values(state="finished", ended_at=now)
            )
            await self._apply(conn, attempt, Conversation(result, detail=detail), now)

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool:
        """Originating → answered (from AMI's OriginateResponse or the conversation's start,
        whichever comes first: either may be missing); the lease now covers the call. False if
        the attempt is no longer live."""
        now = self._clock()
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(attempts)
                .where(attempts.c.action_id == action_id, attempts.c.state.in_(LIVE))
                .values(
                    state="answered",
                    unique_id=func.coalesce(attempts.c.unique_id, unique_id or None),
                    answered_at=func.coalesce(attempts.c.answered_at, now),
                    lease_until=now + timedelta(seconds=max_call_s),
                )
            )
        return done.rowcount == 1

    async def channel_ended(self, unique_id: str, grace_s: float) -> None:
        """The answered leg hung up: the slot is free once the conversation's result is in."""
        now = self._clock()
        async with self._writer.begin() as conn:
            row = (
                await conn.execute(
                    select(attempts).where(
                        attempts.c.unique_id == unique_id, attempts.c.state == "answered"
                    )
                )
            ).first()
            if row is None:
                return
            if row.result is not None:
                values: dict[str, Any] = {"state": "finished", "ended_at": now}
            else:  # the flow may still be writing; the lease finishes it otherwise
                values = {"ended_at": now, "lease_until": now + timedelta(seconds=grace_s)}
            await conn.execute(update(attempts).where(attempts.c.id == row.id).values(values))

    async def legs_gone(
        self, present_uids: set[str], answered_before: datetime, grace_s: float
    ) -> int:
        """``channel_ended`` for every attempt answered before ``answered_before`` (when the
        channel list was asked for) whose leg Asterisk no longer has: its Hangup event came
        while no bridge was listening. How many."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(attempts.c.unique_id).where(
                    attempts.c.server_name == self._server,  # the legs this Asterisk has
                    attempts.c.state == "answered",
                    attempts.c.unique_id.is_not(None),
                    attempts.c.answered_at < answered_before,
                )
            )
            gone = [r.unique_id for r in rows if r.unique_id not in present_uids]
        for unique_id in gone:
            await self.channel_ended(unique_id, grace_s)
        return len(gone)

    async def recover(self) -> int:
        """Finish what a dead bridge (or a lost AMI event) left behind once its lease is over."""
        now = self._clock()
        count = 0
        async with self._writer.begin() as conn:
            expired = await leases.expired_leases(conn, attempts, self._pg, now)
            for attempt in expired:
                count += 1
                if attempt.state == "claimed":  # never dialled: give the task back
                    gone = await conn.execute(
                        delete(attempts).where(
                            attempts.c.id == attempt.id, attempts.c.state == "claimed"
                        )
                    )
                    if gone.rowcount != 1:
                        continue
                    await conn.execute(
                        update(tasks)
                        .where(tasks.c.id == attempt.task_id)
                        .values(
                            state=TaskState.PENDING.value,
                            attempts_made=tasks.c.attempts_made - 1,
                            updated_at=now,
                        )
                    )
                    continue
                await conn.execute(
                    update(attempts)
                    .where(attempts.c.id == attempt.id)
                    .values(state="finished", ended_at=func.coalesce(attempts.c.ended_at, now))
                )
                if attempt.result is None:
                    detail = (
                        "no originate response"
                        if attempt.state == "originating"
                        else ("answered but the script never finished")
                    )
                    await self._apply(
                        conn, attempt, Conversation(AttemptResult.FAILED, detail=detail), now
                    )
        if count:
            log.warning("recovered %d callback attempts whose lease expired", count)
        return count

    # --- the conversation ----------------------------------------------------------------

    async def context(self, action_id: str) -> CallbackContext | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        orders.c.order_no,
                        orders.c.kind,
                        orders.c.customer_surname,
                        orders.c.customer_title,
                        orders.c.owner_job_number,
                    )
                    .join(tasks, tasks.c.order_id == orders.c.id)
                    .join(attempts, attempts.c.task_id == tasks.c.id)
                    .where(attempts.c.action_id == action_id)
                )
            ).first()
        if row is None:
            return None
        return CallbackContext(
            row.order_no,
            OrderKind(row.kind),
            row.customer_surname,
            row.customer_title,
            row.owner_job_number,
        )

    async def conversation_done(self, action_id: str, conversation: Conversation) -> None:
        now = self._clock()
        async with self._writer.begin() as conn:
            attempt = await self._attempt(conn, action_id)
            if attempt is None:
                return
            finished = attempt.ended_at is not None or attempt.state == "finished"
            await conn.execute(
                update(attempts)
                .where(attempts.c.id == attempt.id)
                .values(
                    state="finished" if finished else attempt.state,
                    answered_at=func.coalesce(attempts.c.answered_at, now),
                )
            )
            await self._apply(conn, attempt, conversation, now)

    # --- internals -----------------------------------------------------------------------

    async def _attempt(self, conn: AsyncConnection, action_id: str) -> Any:
        query = select(attempts).where(attempts.c.action_id == action_id)
        if self._pg:
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    async def _apply(
        self, conn: AsyncConnection, attempt: Any, outcome: Conversation, now: datetime
    ) -> None:
        """Write the attempt's result and move its task (and order) on: exactly once."""
        first = await conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt.id, attempts.c.result.is_(None))
            .values(result=outcome.result.value, detail=outcome.detail)
        )
        if first.rowcount != 1:
            return
        task = (await conn.execute(select(tasks).where(tasks.c.id == attempt.task_id))).one()
        state, next_at = self._policy.after_attempt(outcome.result, attempt.attempt_no, now)
        ended = outcome_of(state, outcome.result.value, outcome.satisfied)
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task.id)
            .values(
                state=state.value,
                next_attempt_at=next_at,
                result=outcome.result.value,
                outcome=ended.value if ended else None,
                right_person=outcome.right_person,
                power_restored=outcome.power_restored,
                satisfied=outcome.satisfied,
                suggestion_path=outcome.suggestion_path,
                updated_at=now,
            )
        )
        log.info(
            "callback attempt %s of order #%d: %s → task %s",
            attempt.attempt_no,
            task.order_id,
            outcome.result.value,
            state.value,
        )
        if state is TaskState.DONE:
            await self._callback_done(conn, task.order_id, now)
            if outcome.satisfied is False:
                await self._follow_up(conn, task.order_id, "dissatisfied", outcome.detail, now)
            if outcome.power_restored is False:
                await self._follow_up(conn, task.order_id, "power_not_restored", None, now)
        elif state is TaskState.NEEDS_HUMAN:
            await self._follow_up(
                conn, task.order_id, f"callback_{outcome.result.value}", outcome.detail, now
            )

    async def _task_to_human(
        self, conn: AsyncConnection, task_id: int, reason: str, detail: str, now: datetime
    ) -> None:
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(
                state=TaskState.NEEDS_HUMAN.value,
                result=reason,
                outcome=CallbackOutcome.UNREACHABLE.value,
                updated_at=now,
            )
        )
        order_id = (
            await conn.execute(select(tasks.c.order_id).where(tasks.c.id == task_id))
        ).scalar_one()
        await self._follow_up(conn, order_id, reason, detail, now)
        log.warning("callback task %d: %s", task_id, mask_number(detail))

    async def _callback_done(self, conn: AsyncConnection, order_id: int, now: datetime) -> None:
        status = (
            await conn.execute(select(orders.c.status).where(orders.c.id == order_id))
        ).scalar_one()
        if status != OrderStatus.CLOSED.value:
            return
        await conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(status=OrderStatus.CALLBACK_DONE.value, updated_at=now)
        )
        await conn.execute(
            insert(history).values(
                order_id=order_id,
                at=now,
                from_status=OrderStatus.CLOSED.value,
                to_status=OrderStatus.CALLBACK_DONE.value,
                actor="callback",
            )
        )
        await conn.execute(
            update(deadlines)
            .where(
                deadlines.c.order_id == order_id,
                deadlines.c.met_by == OrderStatus.CALLBACK_DONE.value,
                deadlines.c.met_at.is_(None),
            )
            .values(met_at=now)
        )

    async def _follow_up(
        self, conn: AsyncConnection, order_id: int, reason: str, detail: str | None, now: datetime
    ) -> None:
        await conn.execute(
            insert(follow_ups).values(
                order_id=order_id, reason=reason, detail=detail, created_at=now
            )
        )


def on_the_list(phone: Any) -> Any:
    """SQL: the number is on the do-not-call list now (a removed entry is not)."""
    return (
        select(do_not_call.c.phone)
        .where(do_not_call.c.phone == phone, do_not_call.c.removed_at.is_(None))
        .exists()
    )


async def cancel_for_do_not_call(conn: AsyncConnection, which: Any, now: datetime) -> int:
    """Cancel the callback tasks ``which`` selects that are still waiting for an attempt: the
    customer asked not to be called (an attempt already on the line finishes). How many."""
    done = await conn.execute(
        update(tasks)
        .where(which, tasks.c.state == TaskState.PENDING.value)
        .values(
            state=TaskState.CANCELLED.value,
            result="do_not_call",
            outcome=CallbackOutcome.DO_NOT_CALL.value,
            next_attempt_at=None,
            updated_at=now,
        )
    )
    return done.rowcount
