"""Recordings and their playback audit on SQLAlchemy (see ``ivr.domain.recordings``).

A recording's work orders are found, not stored: an inbound call's orders name its call id;
a 回访 attempt and a dispatch call each belong to one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ivr.db.dispatch_models import calls_table as dispatch_calls
from ivr.db.dispatch_models import jobs_table as dispatch_jobs
from ivr.db.models import calls_table as calls
from ivr.db.recording_models import playbacks_table as playbacks
from ivr.db.recording_models import recordings_table as recordings
from ivr.db.store import SqlStore, chunked
from ivr.db.workorder_models import attempts_table as attempts
from ivr.db.workorder_models import call_orders_table as call_orders
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.recording_findings import Finding, FindingKind
from ivr.domain.recordings import (
    Recording,
    RecordingFile,
    RecordingKind,
    RecordingState,
)

MAX_LIST = 500


class SqlRecordings(SqlStore):
    async def started(
        self,
        call_id: str,
        kind: RecordingKind,
        job_number: str | None,
        agent_path: str,
        customer_path: str,
        failure: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """A recording began (or, with ``failure``, could not begin) ``at`` (a spooled event:
        when Asterisk said so; else now). One row per call id:
        a second start of the same call (a transfer to another agent: the dialplan appends to
        the same files) reopens the row, so it is sealed again, checksum included, after the
        call's last leg ends; ``False`` then."""
        row = {
            "call_id": call_id,
            "kind": kind.value,
            "state": (RecordingState.FAILED if failure else RecordingState.RECORDING).value,
            "agent_job_number": job_number,
            "agent_path": agent_path,
            "customer_path": customer_path,
            "started_at": at or self._clock(),
            "failure": failure,
            "server_name": self._server,
        }
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(recordings), [row])
        except IntegrityError:
            if failure is None:
                await self._reopen(call_id)
            return False
        return True

    async def _reopen(self, call_id: str) -> None:
        live = (RecordingState.RECORDING.value, RecordingState.COMPLETE.value)
        async with self._writer.begin() as conn:
            await conn.execute(
                update(recordings)
                .where(recordings.c.call_id == call_id, recordings.c.state.in_(live))
                .values(state=RecordingState.RECORDING.value, ended_at=None)
            )

    async def ended(self, call_id: str, at: datetime | None = None) -> Recording | None:
        """The call is over (``at``, else now): note when (first report wins); the row as it
        now is."""
        async with self._writer.begin() as conn:
            await conn.execute(
                update(recordings)
                .where(recordings.c.call_id == call_id, recordings.c.ended_at.is_(None))
                .values(ended_at=at or self._clock())
            )
            row = (
                await conn.execute(select(recordings).where(recordings.c.call_id == call_id))
            ).first()
        return None if row is None else _recording(row)

    async def owner_from_call(self, call_id: str) -> str | None:
        """The member interface that answered an inbound call, as the call record has it."""
        query = select(calls.c.agent_interface).where(calls.c.call_id == call_id)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def finished(
        self,
        recording_id: int,
        agent: RecordingFile,
        customer: RecordingFile,
        findings: Sequence[Finding],
        job_number: str | None,
    ) -> bool:
        values: dict[str, Any] = {
            "state": RecordingState.COMPLETE.value,
            "duration_ms": max(agent.duration_ms, customer.duration_ms),
            "bytes": agent.bytes + customer.bytes,
            "agent_sha256": agent.sha256,
            "customer_sha256": customer.sha256,
            "findings": [f.as_dict() for f in findings],
        }
        if job_number is not None:
            values["agent_job_number"] = job_number
        return await self._move(recording_id, RecordingState.RECORDING, values)

    async def failed(self, recording_id: int, reason: str) -> bool:
        values = {"state": RecordingState.FAILED.value, "failure": reason[:500]}
        return await self._move(recording_id, RecordingState.RECORDING, values)

    async def deleted(self, recording_id: int) -> bool:
        values = {"state": RecordingState.DELETED.value, "deleted_at": self._clock()}
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(recordings)
                .where(
                    recordings.c.id == recording_id,
                    recordings.c.state != RecordingState.DELETED.value,
                )
                .values(**values)
            )
        return bool(result.rowcount)

    async def _move(
        self, recording_id: int, from_state: RecordingState, values: dict[str, Any]
    ) -> bool:
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(recordings)
                .where(recordings.c.id == recording_id, recordings.c.state == from_state.value)
                .values(**values)
            )
        return bool(result.rowcount)

    async def unfinished(self, ended_before: datetime, started_before: datetime) -> list[Recording]:
        """Still ``recording``: ended before ``ended_before`` (their files should be closed),
        or started before ``started_before`` with no end ever reported."""
        query = select(recordings).where(
            recordings.c.state == RecordingState.RECORDING.value,
            (recordings.c.ended_at < ended_before)
            | (recordings.c.ended_at.is_(None) & (recordings.c.started_at < started_before)),
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(recordings.c.id).limit(MAX_LIST))).all()
        return [_recording(r) for r in rows]

    async def expired(self, cutoff: datetime, limit: int = MAX_LIST) -> list[Recording]:
        """Recordings past retention whose files may still exist (complete or failed)."""
        query = select(recordings).where(
            recordings.c.state.in_([RecordingState.COMPLETE.value, RecordingState.FAILED.value]),
            recordings.c.started_at < cutoff,
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(recordings.c.id).limit(limit))).all()
        return [_recording(r) for r in rows]

    async def get(self, recording_id: int) -> Recording | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.id == recording_id))
            ).first()
            if row is None:
                return None
            found = _recording(row)
            links = await _orders(conn, [found])
        return _with_orders(found, links)

    async def by_call(self, call_id: str) -> Recording | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.call_id == call_id))
            ).first()
            if row is None:
                return None
            found = _recording(row)
            links = await _orders(conn, [found])
        return _with_orders(found, links)

    async def known(self, call_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for batch in chunked(call_ids):
                rows = await conn.execute(
                    select(recordings.c.call_id).where(recordings.c.call_id.in_(batch))
                )
                found.update(r.call_id for r in rows)
        return found

    async def first_started(self) -> datetime | None:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(func.min(recordings.c.started_at)))).scalar()

    async def listing(
        self,
        job_number: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[Recording]:
        """Newest first; ``job_number``: only that agent's calls."""
        query = select(recordings)
        if job_number is not None:
            query = query.where(recordings.c.agent_job_number == job_number)
        if since is not None:
            query = query.where(recordings.c.started_at >= since)
        if until is not None:
            query = query.where(recordings.c.started_at < until)
        query = query.order_by(recordings.c.started_at.desc(), recordings.c.id.desc())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(min(limit, MAX_LIST)))).all()
            found = [_recording(r) for r in rows]
            links = await _orders(conn, found)
        return [_with_orders(r, links) for r in found]

    async def audit(
        self,
        recording_id: int,
        principal: str,
        role: str,
        job_number: str | None,
        side: str,
        byte_range: str | None,
        outcome: str,
    ) -> None:
        row = {
            "recording_id": recording_id,
            "at": self._clock(),
            "principal": principal[:64],
            "role": role,
            "job_number": job_number,
            "side": side,
            "byte_range": byte_range,
            "outcome": outcome,
        }
        async with self._writer.begin() as conn:
            await conn.execute(insert(playbacks), [row])

    async def playbacks(self, recording_id: int) -> list[dict[str, Any]]:
        query = (
            select(playbacks)
            .where(playbacks.c.recording_id == recording_id)
            .order_by(playbacks.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "at": r.at.isoformat(),
                "principal": r.principal,
                "role": r.role,
                "job_number": r.job_number,
                "side": r.side,
                "range": r.byte_range,
                "outcome": r.outcome,
            }
            for r in rows
        ]


async def _orders(conn: AsyncConnection, found: list[Recording]) -> dict[str, tuple[str, ...]]:
    """Each call id's work orders, in one query per kind.

    An inbound call's orders come from the call ↔ order link (``call_orders``), the same link
    the workspace and ``GET /api/calls/{id}/work-orders`` read; a 回访 or dispatch leg's from
    the attempt that placed it.
    """
    by_kind: dict[RecordingKind, list[str]] = {}
    for r in found:
        by_kind.setdefault(r.kind, []).append(r.call_id)
    queries = []
    if ids := by_kind.get(RecordingKind.INBOUND):
        queries.append(
            select(call_orders.c.call_id, orders.c.order_no)
            .join(orders, orders.c.id == call_orders.c.order_id)
            .where(call_orders.c.call_id.in_(ids))
        )
    if ids := by_kind.get(RecordingKind.CALLBACK):
        queries.append(
            select(attempts.c.action_id, orders.c.order_no)
            .join(tasks, tasks.c.id == attempts.c.task_id)
            .join(orders, orders.c.id == tasks.c.order_id)
            .where(attempts.c.action_id.in_(ids))
        )
    if ids := by_kind.get(RecordingKind.DISPATCH):
        queries.append(
            select(dispatch_calls.c.action_id, orders.c.order_no)
            .join(dispatch_jobs, dispatch_jobs.c.id == dispatch_calls.c.job_id)
            .join(orders, orders.c.id == dispatch_jobs.c.order_id)
            .where(dispatch_calls.c.action_id.in_(ids))
        )
    links: dict[str, list[str]] = {}
    for q in queries:
        for call_id, order_no in (await conn.execute(q)).all():
            links.setdefault(call_id, []).append(order_no)
    return {k: tuple(sorted(v)) for k, v in links.items()}


def _with_orders(r: Recording, links: dict[str, tuple[str, ...]]) -> Recording:
    return replace(r, orders=links.get(r.call_id, ()))


def _recording(row: Any) -> Recording:
    return Recording(
        id=row.id,
        call_id=row.call_id,
        kind=RecordingKind(row.kind),
        state=RecordingState(row.state),
        agent_job_number=row.agent_job_number,
        agent_path=row.agent_path,
        customer_path=row.customer_path,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_ms=row.duration_ms,
        agent_sha256=row.agent_sha256,
        customer_sha256=row.customer_sha256,
        bytes=row.bytes,
        failure=row.failure,
        deleted_at=row.deleted_at,
        findings=tuple(
            Finding(FindingKind(f["kind"]), int(f["at_ms"]), int(f["length_ms"]))
            for f in row.findings or ()
        ),
    )
