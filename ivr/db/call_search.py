"""``CallSearch`` on SQLAlchemy: the calls table, filtered and paged by (start, id), with each
call's queue stays from call tracking (``queue_visits``, joined by Asterisk's unique id)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.models import calls_table as calls
from ivr.db.models import steps_table as steps
from ivr.db.models import visits_table as visits
from ivr.domain.call_search import CallFilter, CallPage, FoundCall, Position, QueueStay
from ivr.domain.calls import CallOutcome, CallStep, StepKind
from ivr.domain.queue_calls import VisitOutcome


class SqlCallSearch:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find(self, criteria: CallFilter) -> CallPage:
        query = (
            select(calls)
            .where(*_conditions(criteria))
            .order_by(calls.c.started_at.desc(), calls.c.call_id.desc())
            .limit(criteria.limit + 1)  # one more: is there a next page?
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            more = len(rows) > criteria.limit
            rows = rows[: criteria.limit]
            stays = await _stays(conn, [r.unique_id for r in rows])
        found = [_call(r, stays.get(r.unique_id, ())) for r in rows]
        last = found[-1] if more and found else None
        return CallPage(found, Position(last.started_at, last.call_id) if last else None)

    async def get(self, call_id: str, agent_job_number: str | None = None) -> FoundCall | None:
        query = select(calls).where(calls.c.call_id == call_id)
        if agent_job_number is not None:
            query = query.where(_answered_by(agent_job_number))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            stays = await _stays(conn, [row.unique_id])
            step_rows = (
                await conn.execute(
                    select(steps).where(steps.c.call_id == call_id).order_by(steps.c.seq)
                )
            ).all()
        found_steps = tuple(
            CallStep(s.at, StepKind(s.kind), s.node, s.key, s.detail) for s in step_rows
        )
        call = _call(row, stays.get(row.unique_id, ()))
        return replace(call, steps=found_steps)


def _conditions(c: CallFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if c.phone is not None:
        where.append(calls.c.caller_number == c.phone)
    if c.started_from is not None:
        where.append(calls.c.started_at >= c.started_from)
    if c.started_to is not None:
        where.append(calls.c.started_at < c.started_to)
    if c.choice is not None:
        where.append(calls.c.choice == c.choice)
    if c.outcome is not None:
        where.append(calls.c.outcome == c.outcome)
    if c.queue_outcome is not None:
        where.append(
            exists().where(
                visits.c.unique_id == calls.c.unique_id,
                visits.c.outcome == c.queue_outcome.value,
            )
        )
    if c.server is not None:
        where.append(calls.c.server_name == c.server)
    if c.agent_job_number is not None:
        where.append(_answered_by(c.agent_job_number))
    if c.after is not None:
        at, call_id = c.after.started_at, c.after.call_id
        where.append(
            or_(
                calls.c.started_at < at,
                and_(calls.c.started_at == at, calls.c.call_id < call_id),
            )
        )
    return where


def _answered_by(job_number: str) -> ColumnElement[bool]:
    """An agent's own calls: those a queue stay says the agent answered."""
    return exists().where(
        visits.c.unique_id == calls.c.unique_id, visits.c.agent_job_number == job_number
    )


async def _stays(conn: Any, unique_ids: Sequence[str]) -> dict[str, tuple[QueueStay, ...]]:
    if not unique_ids:
        return {}
    rows = await conn.execute(
        select(visits)
        .where(visits.c.unique_id.in_(set(unique_ids)))
        .order_by(visits.c.joined_us, visits.c.id)
    )
    found: dict[str, list[QueueStay]] = defaultdict(list)
    for v in rows:
        found[v.unique_id].append(
            QueueStay(
                queue=v.queue,
                outcome=VisitOutcome(v.outcome),
                joined_at=v.joined_at,
                queue_wait_ms=v.queue_wait_ms,
                talk_ms=v.talk_ms,
                agent_job_number=v.agent_job_number,
            )
        )
    return {k: tuple(v) for k, v in found.items()}


def _call(row: Row[Any], stays: tuple[QueueStay, ...]) -> FoundCall:
    return FoundCall(
        call_id=row.call_id,
        caller_number=row.caller_number,
        dialed_number=row.dialed_number,
        channel_name=row.channel_name,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=CallOutcome(row.outcome),
        route=row.route,
        choice=row.choice,
        menu_path=list(row.menu_path or []),
        keys=row.keys,
        queue_status=row.queue_status,
        agent_interface=row.agent_interface,
        queue=stays,
        server_name=row.server_name,
        lost_reason=row.lost_reason,
    )
