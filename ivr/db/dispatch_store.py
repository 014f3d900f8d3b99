"""Repair dispatch in the database: jobs, claims of calls to crews, and what finishes a call
(AMI results, the conversation, lease expiry), the dispatcher's counterpart of
``ivr.db.callback_store``.

One claim round is serialised (``pg_advisory_xact_lock`` on PostgreSQL, ``BEGIN IMMEDIATE`` on
SQLite): it opens a job for every new repair order, and for each job with no live call asks
the pure planner (``domain.dispatch.next_call``) whom to call. Call ``n`` of a job is unique in
the schema and a job with a live call is never claimed again, so two bridges never ring a crew
twice for one call; a claim not dialled within its lease is given back, never dialled late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db import leases
from ivr.db.dispatch_models import calls_table as calls
from ivr.db.dispatch_models import crews_table as crews
from ivr.db.dispatch_models import jobs_table as jobs
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.leases import LIVE, claim_round
from ivr.db.outage_links import lead_accepted, not_linked_elsewhere
from ivr.db.store import SqlStore
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import history_table as history
from ivr.db.workorder_models import orders_table as orders
from ivr.domain.attempt_ids import DISPATCH_CALL
from ivr.domain.dispatch import (
    Action,
    AtRisk,
    CallResult,
    DispatchClaim,
    DispatchContext,
    DispatchPolicy,
    JobState,
    PastCall,
    RosterNotFound,
    Target,
    at_risk,
    next_call,
)
from ivr.domain.privacy import mask_number
from ivr.domain.servers import ONE_SERVER, Placement
from ivr.domain.workorders import (
    MET_BY_ACCEPTANCE_ONLY,
    OrderConflict,
    OrderKind,
    OrderNotFound,
    OrderStatus,
)

log = logging.getLogger(__name__)

_CLAIM_LOCK = 95598_0008  # pg_advisory_xact_lock key of a dispatch claim round
WAIT_S = 1.0  # a job whose crews are all on other calls looks again this soon


class SqlDispatch(SqlStore):
    def __init__(
        self,
        engine: AsyncEngine,
        roster: SqlDutyRoster,
        policy: DispatchPolicy,
        clock: Callable[[], datetime],
        max_order_age: timedelta = timedelta(hours=1),
        placement: Placement = ONE_SERVER,
    ) -> None:
        super().__init__(engine, clock, placement.server)
        self._placement = placement
        self._roster = roster
        self.policy = policy
        self._max_age = max_order_age

    # --- the dispatcher ------------------------------------------------------------------

    async def claim(self, owner: str, lease_s: float, limit: int) -> list[DispatchClaim]:
        """Open jobs for new repair orders and claim the next call of every job that needs one."""
        now = self._clock()
        claims: list[DispatchClaim] = []
        async with claim_round(self._writer, self._pg, _CLAIM_LOCK) as conn:
            await self._open_jobs(conn, now)
            await self._stop_jobs_moved_on(conn, now)
            await self._replan_exhausted(conn, now)
            live = exists().where(and_(calls.c.job_id == jobs.c.id, calls.c.state.in_(LIVE)))
            query = (
                select(jobs.c.id, jobs.c.order_id, orders.c.order_no, orders.c.created_at)
                .join(orders, orders.c.id == jobs.c.order_id)
                .where(jobs.c.state == JobState.ACTIVE.value, jobs.c.next_call_at <= now, ~live)
                .order_by(orders.c.created_at, jobs.c.id)
                .limit(limit)
            )
            if self._pg:
                query = query.with_for_update(of=jobs, skip_locked=True)
            due = (await conn.execute(query)).all()
            if not due:
                return []
            room = await leases.server_room(conn, self._pg, self._placement)
            on_duty = await self._roster.on_duty(now, conn)
            busy = set(
                (
                    await conn.execute(
                        select(calls.c.crew_id).where(
                            calls.c.state.in_(LIVE), calls.c.crew_id.is_not(None)
                        )
                    )
                ).scalars()
            )
            for job in due:
                past = await _past_calls(conn, job.id)
                decision = next_call(
                    self.policy, job.created_at, now, on_duty, past, frozenset(busy)
                )
                if decision.action is Action.CALL and room is not None and room <= 0:
                    # this server's trunk is full: the job looks again soon (any bridge)
                    await self._job(conn, job.id, next_call_at=now + timedelta(seconds=WAIT_S))
                elif decision.action is Action.CALL:
                    if room is not None:
                        room -= 1
                    assert decision.phone is not None and decision.ring is not None
                    assert decision.target is not None
                    action_id = DISPATCH_CALL.new()
                    ring_s = int(decision.ring.total_seconds())
                    crew_id = decision.crew.id if decision.crew else None
                    await conn.execute(
                        insert(calls).values(
                            job_id=job.id,
                            call_no=len(past) + 1,
                            target=decision.target.value,
                            crew_id=crew_id,
                            phone=decision.phone.digits,
                            action_id=action_id,
                            state="claimed",
                            ring_timeout_s=ring_s,
                            claimed_by=owner,
                            server_name=self._server,  # placed through this bridge's Asterisk
                            lease_until=now + timedelta(seconds=lease_s),
                            claimed_at=now,
                            plays=0,
                        )
                    )
                    if crew_id is not None:
                        busy.add(crew_id)
                    claims.append(
                        DispatchClaim(
                            action_id, decision.phone, ring_s, job.order_no, decision.target
                        )
                    )
                elif decision.action is Action.WAIT:
                    await self._job(conn, job.id, next_call_at=now + timedelta(seconds=WAIT_S))
                elif decision.action is Action.EXHAUSTED:
                    await self._job(
                        conn, job.id, state=JobState.EXHAUSTED.value, detail=decision.reason
                    )
                    log.warning("dispatch of order %s: %s", job.order_no, decision.reason)
        return claims

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool:
        """Claimed → originating, only if this bridge still holds the claim."""
        return await leases.start_originate(
            self._writer, calls, action_id, owner, lease_s, self._clock()
        )

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> None:
        now = self._clock()
        async with self._writer.begin() as conn:
            await conn.execute(
                update(calls)
                .where(calls.c.action_id == action_id, calls.c.state.in_(LIVE))
                .values(
                    state="answered",
                    unique_id=unique_id,
                    answered_at=func.coalesce(calls.c.answered_at, now),
                    lease_until=now + timedelta(seconds=max_call_s),
                )
            )

    async def finish(
        self, action_id: str, result: CallResult, detail: str | None, plays: int | None = None
    ) -> bool:
        """The call is over with ``result`` (no answer, busy, no key, hung up…): exactly once.
        The job calls on at once. False if a result was already stored."""
        now = self._clock()
        values: dict[str, Any] = {
            "state": "finished",
            "result": result.value,
            "detail": detail,
            "ended_at": func.coalesce(calls.c.ended_at, now),
        }
        if plays is not None:
            values["plays"] = plays
        async with self._writer.begin() as conn:
            row = await self._call(conn, action_id)
            if row is None:
                return False
            done = await conn.execute(
                update(calls).where(calls.c.id == row.id, calls.c.result.is_(None)).values(values)
            )
            if done.rowcount != 1:
                return False
            await self._job(conn, row.job_id, next_call_at=now)
        log.info("dispatch call %s (%s): %s", action_id, mask_number(row.phone), result.value)
        return True

    async def accept(self, action_id: str, plays: int) -> datetime | None:
        """The crew pressed 1: store the acceptance and dispatch the order, at ``now``.
        Returns the acceptance time, or None if this call already had a result."""
        now = self._clock()
        async with self._writer.begin() as conn:
            row = await self._call(conn, action_id)
            if row is None:
                return None
            done = await conn.execute(
                update(calls)
                .where(calls.c.id == row.id, calls.c.result.is_(None))
                .values(result=CallResult.ACCEPTED.value, accepted_at=now, plays=plays)
            )
            if done.rowcount != 1:
                return None
            await self._job(conn, row.job_id, state=JobState.ACCEPTED.value, accepted_at=now)
            order_id = (
                await conn.execute(select(jobs.c.order_id).where(jobs.c.id == row.job_id))
            ).scalar_one()
            who = await self._who(conn, row)
            await self._dispatched(
                conn, order_id, f"dispatch:{who}", f"接令 (call {row.call_no})", now
            )
        log.info("dispatch call %s accepted", action_id)
        return now

    async def record_acceptance(
        self, order_no: str, actor: str, reason: str, crew_id: int | None
    ) -> datetime:
        """A dispatcher records an acceptance the phone did not carry (the crew took the order
        by radio, in person, on another line), with the reason: the order is dispatched and its
        dispatch limit met now, and no more crews are called. Only for a repair order that
        is still waiting for its crew."""
        now = self._clock()
        async with self._writer.begin() as conn:
            query = select(orders.c.id, orders.c.kind, orders.c.status).where(
                orders.c.order_no == order_no
            )
            order = (await conn.execute(query.with_for_update() if self._pg else query)).first()
            if order is None:
                raise OrderNotFound(order_no)
            if order.kind != OrderKind.REPAIR.value:
                raise OrderConflict("only a repair order is dispatched to a crew")
            if order.status != OrderStatus.CREATED.value:
                raise OrderConflict(f"order {order_no} is already {order.status}")
            crew = ""
            if crew_id is not None:
                name = (
                    await conn.execute(select(crews.c.name).where(crews.c.id == crew_id))
                ).scalar_one_or_none()
                if name is None:
                    raise RosterNotFound(f"no crew {crew_id}")
                crew = f"crew {name}: "
            await conn.execute(
                update(jobs)
                .where(jobs.c.order_id == order.id, jobs.c.state != JobState.ACCEPTED.value)
                .values(
                    state=JobState.ACCEPTED.value,
                    accepted_at=now,
                    detail=f"acceptance recorded by {actor}"[:200],
                )
            )
            await self._dispatched(conn, order.id, actor, f"接令 recorded: {crew}{reason}", now)
        log.info("dispatch acceptance of %s recorded by %s", order_no, actor)
        return now

    async def _dispatched(
        self, conn: AsyncConnection, order_id: int, actor: str, note: str, now: datetime
    ) -> None:
        """An acceptance: the dispatch limit is met now, and an order still waiting for its
        crew becomes ``dispatched`` (one that moved on meanwhile keeps its status)."""
        lock = select(orders.c.status).where(orders.c.id == order_id)
        status = (await conn.execute(lock.with_for_update() if self._pg else lock)).scalar_one()
        if status == OrderStatus.CREATED.value:
            await conn.execute(
                update(orders)
                .where(orders.c.id == order_id)
                .values(status=OrderStatus.DISPATCHED.value, updated_at=now)
            )
            await conn.execute(
                insert(history).values(
                    order_id=order_id,
                    at=now,
                    from_status=status,
                    to_status=OrderStatus.DISPATCHED.value,
                    actor=actor[:64],
                    note=note[:500],
                )
            )
        await conn.execute(
            update(deadlines)
            .where(
                deadlines.c.order_id == order_id,
                deadlines.c.name.in_(MET_BY_ACCEPTANCE_ONLY),
                deadlines.c.met_at.is_(None),
            )
            .values(met_at=now)
        )
        await lead_accepted(conn, order_id, now)

    async def conversation_over(self, action_id: str, plays: int) -> None:
        """The accepted call's leg is done (the goodbye was said)."""
        now = self._clock()
        async with self._writer.begin() as conn:
            await conn.execute(
                update(calls)
                .where(calls.c.action_id == action_id)
                .values(
                    state="finished", plays=plays, ended_at=func.coalesce(calls.c.ended_at, now)
                )
            )

    async def channel_ended(self, unique_id: str, grace_s: float) -> None:
        """The answered leg hung up: finished once the conversation reported; the lease
        finishes it otherwise (the flow may still be writing)."""
        now = self._clock()
        async with self._writer.begin() as conn:
            row = (
                await conn.execute(
                    select(calls).where(calls.c.unique_id == unique_id, calls.c.state == "answered")
                )
            ).first()
            if row is None:
                return
            values: dict[str, Any] = {"ended_at": func.coalesce(calls.c.ended_at, now)}
            if row.result is not None:
                values["state"] = "finished"
            else:
                values["lease_until"] = now + timedelta(seconds=grace_s)
            await conn.execute(update(calls).where(calls.c.id == row.id).values(values))

    async def recover(self) -> int:
        """Finish what a dead bridge (or a lost AMI event) left behind once its lease is over."""
        now = self._clock()
        count = 0
        async with self._writer.begin() as conn:
            for row in await leases.expired_leases(conn, calls, self._pg, now):
                count += 1
                if row.state == "claimed":  # never dialled: the job plans again
                    await conn.execute(delete(calls).where(calls.c.id == row.id))
                else:
                    await conn.execute(
                        update(calls)
                        .where(calls.c.id == row.id)
                        .values(
                            state="finished",
                            ended_at=func.coalesce(calls.c.ended_at, now),
                            result=func.coalesce(calls.c.result, CallResult.FAILED.value),
                            detail=func.coalesce(calls.c.detail, "lease expired"),
                        )
                    )
                await self._job(conn, row.job_id, next_call_at=now)
        if count:
            log.warning("recovered %d dispatch calls whose lease expired", count)
        return count

    async def at_risk(self) -> list[AtRisk]:
        """Jobs not accepted whose limit is at risk and not yet alerted."""
        now = self._clock()
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(
                        jobs.c.id,
                        jobs.c.order_id,
                        jobs.c.state,
                        orders.c.order_no,
                        orders.c.created_at,
                    )
                    .join(orders, orders.c.id == jobs.c.order_id)
                    .where(
                        jobs.c.state.in_((JobState.ACTIVE.value, JobState.EXHAUSTED.value)),
                        jobs.c.at_risk_at.is_(None),
                    )
                )
            ).all()
        found = []
        for r in rows:
            reason = at_risk(self.policy, r.created_at, now, r.state == JobState.EXHAUSTED.value)
            if reason:
                found.append(
                    AtRisk(r.id, r.order_id, r.order_no, r.created_at + self.policy.limit, reason)
                )
        return found

    async def alerted(self, job_id: int) -> None:
        async with self._writer.begin() as conn:
            await self._job(conn, job_id, at_risk_at=self._clock())

    # --- the conversation ----------------------------------------------------------------

    async def context(self, action_id: str) -> DispatchContext | None:
        """What the crew on this call is told; None for an unknown or finished call."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        orders.c.order_no,
                        orders.c.owner_job_number,
                        orders.c.address,
                        orders.c.fault,
                        orders.c.customer_phone,
                        orders.c.summary,
                    )
                    .join(jobs, jobs.c.order_id == orders.c.id)
                    .join(calls, calls.c.job_id == jobs.c.id)
                    .where(calls.c.action_id == action_id, calls.c.result.is_(None))
                )
            ).first()
        if row is None:
            return None
        return DispatchContext(
            row.order_no,
            row.owner_job_number,
            row.address,
            row.fault,
            row.customer_phone,
            row.summary,
        )

    # --- reads ---------------------------------------------------------------------------

    async def for_order(self, order_no: str) -> dict[str, Any] | None:
        """The order's dispatch job and every call, for the API; None if it has none."""
        async with self._engine.connect() as conn:
            job = (
                await conn.execute(
                    select(jobs, orders.c.created_at.label("recorded_at"))
                    .join(orders, orders.c.id == jobs.c.order_id)
                    .where(orders.c.order_no == order_no)
                )
            ).first()
            if job is None:
                return None
            rows = (
                await conn.execute(
                    select(calls, crews.c.name.label("crew_name"))
                    .outerjoin(crews, crews.c.id == calls.c.crew_id)
                    .where(calls.c.job_id == job.id)
                    .order_by(calls.c.call_no)
                )
            ).all()
        return {
            "state": job.state,
            "recorded_at": job.recorded_at,
            "accepted_at": job.accepted_at,
            "dispatch_ms": (
                round((job.accepted_at - job.recorded_at).total_seconds() * 1000)
                if job.accepted_at
                else None
            ),
            "at_risk_at": job.at_risk_at,
            "detail": job.detail,
            "calls": [
                {
                    "call_no": r.call_no,
                    "target": r.target,
                    "crew_id": r.crew_id,
                    "crew_name": r.crew_name,
                    "phone": r.phone,
                    "action_id": r.action_id,
                    "state": r.state,
                    "ring_timeout_s": r.ring_timeout_s,
                    "claimed_by": r.claimed_by,
                    "claimed_at": r.claimed_at,
                    "originated_at": r.originated_at,
                    "answered_at": r.answered_at,
                    "accepted_at": r.accepted_at,
                    "ended_at": r.ended_at,
                    "plays": r.plays,
                    "result": r.result,
                    "detail": r.detail,
                }
                for r in rows
            ],
        }

    # --- internals -----------------------------------------------------------------------

    async def _open_jobs(self, conn: AsyncConnection, now: datetime) -> None:
        """A job for every repair order recorded (status created) in the last ``max_age``."""
        has_job = exists().where(jobs.c.order_id == orders.c.id)
        new = (
            await conn.execute(
                select(orders.c.id).where(
                    orders.c.kind == OrderKind.REPAIR.value,
                    orders.c.status == OrderStatus.CREATED.value,
                    orders.c.created_at >= now - self._max_age,
                    ~has_job,
                    not_linked_elsewhere(),  # its outage's dispatch serves it
                )
            )
        ).scalars()
        for order_id in new:
            await conn.execute(
                insert(jobs).values(
                    order_id=order_id,
                    state=JobState.ACTIVE.value,
                    next_call_at=now,
                    started_at=now,
                )
            )

    async def _replan_exhausted(self, conn: AsyncConnection, now: datetime) -> None:
        """Plan again, each round, the jobs that found nobody to call while their limit still
        runs: the roster may have changed since (a shift added, a crew back on duty). A job
        with someone to call now is active again; the others stay exhausted."""
        live = exists().where(and_(calls.c.job_id == jobs.c.id, calls.c.state.in_(LIVE)))
        query = (
            select(jobs.c.id, orders.c.order_no, orders.c.created_at)
            .join(orders, orders.c.id == jobs.c.order_id)
            .where(
                jobs.c.state == JobState.EXHAUSTED.value,
                orders.c.status == OrderStatus.CREATED.value,
                orders.c.created_at > now - self.policy.limit,
                ~live,
            )
        )
        waiting = (await conn.execute(query)).all()
        if not waiting:
            return
        on_duty = await self._roster.on_duty(now, conn)
        for job in waiting:
            past = await _past_calls(conn, job.id)
            decision = next_call(self.policy, job.created_at, now, on_duty, past)
            if decision.action in (Action.CALL, Action.WAIT):
                await self._job(
                    conn,
                    job.id,
                    state=JobState.ACTIVE.value,
                    next_call_at=now,
                    detail="planned again: the duty roster changed",
                )
                left_s = int((job.created_at + self.policy.limit - now).total_seconds())
                log.warning(
                    "dispatch of order %s planned again (the duty roster changed, %d s of the"
                    " limit left)",
                    job.order_no,
                    left_s,
                )

    async def _stop_jobs_moved_on(self, conn: AsyncConnection, now: datetime) -> None:
        """A person dispatched or closed the order meanwhile: stop calling (live calls end)."""
        moved = (
            select(orders.c.id)
            .where(orders.c.status != OrderStatus.CREATED.value)
            .scalar_subquery()
        )
        await conn.execute(
            update(jobs)
            .where(jobs.c.state == JobState.ACTIVE.value, jobs.c.order_id.in_(moved))
            .values(state=JobState.STOPPED.value, detail="the order moved on without dispatch")
        )

    async def _call(self, conn: AsyncConnection, action_id: str) -> Any:
        query = select(calls).where(calls.c.action_id == action_id)
        if self._pg:
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    async def _job(self, conn: AsyncConnection, job_id: int, **values: Any) -> None:
        await conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    async def _who(self, conn: AsyncConnection, call: Any) -> str:
        if call.crew_id is None:
            return "escalation"
        name = (
            await conn.execute(select(crews.c.name).where(crews.c.id == call.crew_id))
        ).scalar_one_or_none()
        return f"crew {name or call.crew_id}"


async def _past_calls(conn: AsyncConnection, job_id: int) -> list[PastCall]:
    """The job's calls so far, in order, as the planner reads them."""
    rows = (
        await conn.execute(
            select(calls.c.target, calls.c.crew_id, calls.c.result)
            .where(calls.c.job_id == job_id)
            .order_by(calls.c.call_no)
        )
    ).all()
    return [
        PastCall(Target(p.target), p.crew_id, CallResult(p.result) if p.result else None)
        for p in rows
    ]
