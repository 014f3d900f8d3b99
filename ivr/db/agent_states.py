"""Agents' state changes and call transfers, on SQLAlchemy."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.agent_state_models import state_changes_table as changes
from ivr.db.agent_state_models import transfers_table as transfers
from ivr.db.engine import writer
from ivr.domain.agent_state import AgentState, StateChange
from ivr.domain.transfers import CallTransfer, TargetKind, TransferTarget


class SqlAgentStates:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    async def record(self, change: StateChange) -> bool:
        """Store a change; False when that very change is already there (another bridge)."""
        try:
            async with self._writer.begin() as conn:
                await conn.execute(
                    insert(changes).values(
                        job_number=change.job_number,
                        state=change.state.value,
                        reason=change.reason[:64],
                        at=change.at,
                        actor=change.actor[:64],
                    )
                )
        except IntegrityError:
            return False
        return True

    async def latest(self, job_number: str) -> StateChange | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(changes)
                    .where(changes.c.job_number == job_number)
                    .order_by(changes.c.at.desc(), changes.c.id.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else _change(row)

    async def for_period(self, start: datetime, end: datetime) -> list[StateChange]:
        """Every change in [start, end) and each agent's last change before ``start``."""
        async with self._engine.connect() as conn:
            inside = (
                await conn.execute(
                    select(changes)
                    .where(changes.c.at >= start, changes.c.at < end)
                    .order_by(changes.c.at, changes.c.id)
                )
            ).all()
            last_before = (
                select(changes.c.job_number, func.max(changes.c.at).label("at"))
                .where(changes.c.at < start)
                .group_by(changes.c.job_number)
                .subquery()
            )
            before = (
                await conn.execute(
                    select(changes)
                    .join(
                        last_before,
                        (last_before.c.job_number == changes.c.job_number)
                        & (last_before.c.at == changes.c.at),
                    )
                    .order_by(changes.c.job_number, changes.c.id)
                )
            ).all()
        # two changes at the very same instant before the period: the later row wins
        first: dict[str, StateChange] = {}
        for row in before:
            first[row.job_number] = _change(row)
        return [*first.values(), *(_change(r) for r in inside)]


def _change(row: object) -> StateChange:
    return StateChange(
        job_number=row.job_number,  # type: ignore[attr-defined]
        state=AgentState(row.state),  # type: ignore[attr-defined]
        at=row.at,  # type: ignore[attr-defined]
        reason=row.reason,  # type: ignore[attr-defined]
        actor=row.actor,  # type: ignore[attr-defined]
    )


class SqlCallTransfers:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    async def record(self, transfer: CallTransfer) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(
                insert(transfers).values(
                    unique_id=transfer.unique_id,
                    call_id=transfer.call_id,
                    at=transfer.at,
                    from_job_number=transfer.from_job_number,
                    from_queue=transfer.from_queue,
                    target_kind=transfer.target.kind.value,
                    target=transfer.target.target,
                    actor=transfer.actor[:64],
                )
            )

    async def of_call(self, call_id: str) -> list[CallTransfer]:
        """The transfers of a call (by the bridge's call id), oldest first."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(transfers)
                    .where(transfers.c.call_id == call_id)
                    .order_by(transfers.c.at, transfers.c.id)
                )
            ).all()
        return [
            CallTransfer(
                r.unique_id,
                r.call_id,
                r.at,
                r.from_job_number,
                r.from_queue,
                TransferTarget(TargetKind(r.target_kind), r.target),
                r.actor,
            )
            for r in rows
        ]
