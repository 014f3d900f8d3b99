"""Supervisors' monitor phones and the listen / whisper / barge audit on SQLAlchemy (see
``ivr.domain.monitoring``)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ivr.db.monitor_models import phones_table as phones
from ivr.db.monitor_models import sessions_table as sessions
from ivr.db.store import SqlStore
from ivr.domain.monitoring import MonitorMode, MonitorPhone, MonitorSession

MAX_LIST = 500


class SqlMonitoring(SqlStore):
    async def set_phone(self, principal: str, seat: str, by: str) -> bool:
        """Assign ``seat`` to ``principal`` (replacing any); False if there is no such seat."""
        now = self._clock()
        try:
            async with self._writer.begin() as conn:
                changed = await conn.execute(
                    update(phones)
                    .where(phones.c.principal == principal)
                    .values(seat=seat, set_at=now, set_by=by[:64])
                )
                if not changed.rowcount:
                    await conn.execute(
                        insert(phones),
                        [{"principal": principal, "seat": seat, "set_at": now, "set_by": by[:64]}],
                    )
        except IntegrityError:  # the seat does not exist (foreign key)
            return False
        return True

    async def remove_phone(self, principal: str) -> bool:
        async with self._writer.begin() as conn:
            result = await conn.execute(delete(phones).where(phones.c.principal == principal))
        return bool(result.rowcount)

    async def phone_of(self, principal: str) -> MonitorPhone | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(phones).where(phones.c.principal == principal))
            ).first()
        return (
            None if row is None else MonitorPhone(row.principal, row.seat, row.set_at, row.set_by)
        )

    async def phones(self) -> list[MonitorPhone]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(phones).order_by(phones.c.principal))).all()
        return [MonitorPhone(r.principal, r.seat, r.set_at, r.set_by) for r in rows]

    async def audit(self, session: MonitorSession) -> MonitorSession:
        row = {
            "at": session.at,
            "principal": session.principal[:64],
            "role": session.role,
            "call_id": session.call_id[:64],
            "agent_job_number": session.agent_job_number,
            "seat": session.seat,
            "mode": session.mode.value,
            "outcome": session.outcome,
            "detail": session.detail,
        }
        async with self._writer.begin() as conn:
            result = await conn.execute(insert(sessions).returning(sessions.c.id), [row])
            new_id = result.scalar_one()
        return replace(session, id=int(new_id))

    async def sessions(self, call_id: str | None, limit: int) -> list[MonitorSession]:
        """Newest first; ``call_id``: only that call's."""
        query = select(sessions).order_by(sessions.c.at.desc(), sessions.c.id.desc())
        if call_id is not None:
            query = query.where(sessions.c.call_id == call_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(min(limit, MAX_LIST)))).all()
        return [
            MonitorSession(
                at=r.at,
                principal=r.principal,
                role=r.role,
                call_id=r.call_id,
                mode=MonitorMode(r.mode),
                outcome=r.outcome,
                agent_job_number=r.agent_job_number,
                seat=r.seat,
                detail=r.detail,
                id=r.id,
            )
            for r in rows
        ]
