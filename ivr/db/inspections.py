"""Quality inspections (质检) on SQLAlchemy, and the facts sampling and the monthly report
read about recordings (see ``ivr.domain.inspection``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.inspection_models import inspections_table as inspections
from ivr.db.recording_models import recordings_table as recordings
from ivr.db.store import SqlStore
from ivr.db.workorder_models import call_orders_table as call_orders
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.inspection import (
    AlreadyInspected,
    Candidate,
    Inspection,
    InspectionFact,
    Scored,
)
from ivr.domain.recordings import RecordingKind

MAX_LIST = 500


class SqlInspections(SqlStore):
    async def add(
        self,
        recording_id: int,
        agent_job_number: str | None,
        inspector: str,
        scored: Scored,
        comment: str | None,
        findings_used: list[str],
        reasons: list[str],
        standard: dict[str, object],
    ) -> int:
        row = {
            "recording_id": recording_id,
            "agent_job_number": agent_job_number,
            "inspector": inspector[:64],
            "inspected_at": self._clock(),
            "scores": scored.scores,
            "score": scored.score,
            "failed": scored.failed,
            "failed_items": list(scored.failed_items),
            "comment": comment,
            "findings_used": findings_used,
            "reasons": reasons,
            "standard": standard,
        }
        try:
            async with self._writer.begin() as conn:
                result = await conn.execute(insert(inspections).returning(inspections.c.id), [row])
                return int(result.scalar_one())
        except IntegrityError:
            raise AlreadyInspected from None

    async def get(self, inspection_id: int) -> Inspection | None:
        found = await self._select(inspections.c.id == inspection_id, 1)
        return found[0] if found else None

    async def of_recordings(self, recording_ids: list[int]) -> dict[int, int]:
        """Which of these recordings are inspected: recording id → inspection id."""
        if not recording_ids:
            return {}
        query = select(inspections.c.recording_id, inspections.c.id).where(
            inspections.c.recording_id.in_(recording_ids)
        )
        async with self._engine.connect() as conn:
            return {r: i for r, i in (await conn.execute(query)).all()}

    async def listing(
        self,
        job_number: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[Inspection]:
        """Newest first, by when inspected; ``job_number``: that agent's calls only."""
        where = []
        if job_number is not None:
            where.append(inspections.c.agent_job_number == job_number)
        if since is not None:
            where.append(inspections.c.inspected_at >= since)
        if until is not None:
            where.append(inspections.c.inspected_at < until)
        return await self._select(where, min(limit, MAX_LIST))

    async def _select(self, where: Any, limit: int) -> list[Inspection]:
        conditions = where if isinstance(where, list) else [where]
        query = (
            select(inspections, recordings.c.call_id)
            .join(recordings, recordings.c.id == inspections.c.recording_id)
            .where(*conditions)
            .order_by(inspections.c.inspected_at.desc(), inspections.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_inspection(r) for r in rows]

    async def candidates(self, start: datetime, end: datetime) -> list[Candidate]:
        """Complete recordings of agents' calls that started in [start, end), each marked if
        linked to a complaint order or to an order whose 回访 found the customer
        dissatisfied."""
        linked = select(call_orders.c.order_id).where(call_orders.c.call_id == recordings.c.call_id)
        complaint = exists(
            select(orders.c.id).where(orders.c.id.in_(linked), orders.c.kind == "complaint")
        )
        dissatisfied = exists(
            select(tasks.c.id).where(
                tasks.c.order_id.in_(linked),
                (tasks.c.outcome == "dissatisfied") | tasks.c.satisfied.is_(False),
            )
        )
        query = select(
            recordings.c.id,
            recordings.c.agent_job_number,
            complaint.label("complaint"),
            dissatisfied.label("dissatisfied"),
        ).where(
            recordings.c.state == "complete",
            recordings.c.kind.in_([k.value for k in RecordingKind if k.answered_by_agent]),
            recordings.c.agent_job_number.is_not(None),
            recordings.c.started_at >= start,
            recordings.c.started_at < end,
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            Candidate(r.id, r.agent_job_number, bool(r.complaint), bool(r.dissatisfied))
            for r in rows
        ]


async def month_facts(engine: AsyncEngine, start: datetime, end: datetime) -> list[InspectionFact]:
    """The inspections of the calls recorded in [start, end) (the month of the call, not of
    the inspection), for the monthly assessment."""
    query = (
        select(inspections.c.agent_job_number, inspections.c.score, inspections.c.failed)
        .join(recordings, recordings.c.id == inspections.c.recording_id)
        .where(
            inspections.c.agent_job_number.is_not(None),
            recordings.c.started_at >= start,
            recordings.c.started_at < end,
        )
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [InspectionFact(r.agent_job_number, float(r.score), bool(r.failed)) for r in rows]


def _inspection(row: Any) -> Inspection:
    return Inspection(
        id=row.id,
        recording_id=row.recording_id,
        call_id=row.call_id,
        agent_job_number=row.agent_job_number,
        inspector=row.inspector,
        inspected_at=row.inspected_at,
        scores=dict(row.scores),
        score=float(row.score),
        failed_items=tuple(row.failed_items),
        comment=row.comment,
        findings_used=tuple(row.findings_used),
        reasons=tuple(row.reasons),
        standard=dict(row.standard),
    )
