"""The duty roster in the database: crews and their shifts, and who is on duty at a moment.

Validation of values lives in the domain (``PhoneNumber``, ``check_shift``); this module stores
and reads. A crew is never deleted while shifts or dispatch calls refer to it: it is set
inactive, which takes it off every roster at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.dispatch_models import crews_table as crews
from ivr.db.dispatch_models import shifts_table as shifts
from ivr.db.engine import writer
from ivr.domain.dispatch import (
    Crew,
    CrewView,
    RosterConflict,
    RosterNotFound,
    Shift,
    ShiftView,
    check_shift,
    on_duty,
)
from ivr.domain.phone import PhoneNumber


class SqlDutyRoster:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    # --- crews ---------------------------------------------------------------------------

    async def add_crew(self, name: str, phone: PhoneNumber, active: bool = True) -> CrewView:
        now = self._clock()
        try:
            async with self._writer.begin() as conn:
                crew_id = (
                    await conn.execute(
                        insert(crews)
                        .values(
                            name=name,
                            phone=phone.digits,
                            active=active,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(crews.c.id)
                    )
                ).scalar_one()
        except IntegrityError:
            raise RosterConflict(f"a crew named {name!r} exists already") from None
        return await self.crew(crew_id)

    async def update_crew(
        self,
        crew_id: int,
        name: str | None = None,
        phone: PhoneNumber | None = None,
        active: bool | None = None,
    ) -> CrewView:
        values: dict[str, Any] = {"updated_at": self._clock()}
        if name is not None:
            values["name"] = name
        if phone is not None:
            values["phone"] = phone.digits
        if active is not None:
            values["active"] = active
        try:
            async with self._writer.begin() as conn:
                done = await conn.execute(update(crews).where(crews.c.id == crew_id).values(values))
        except IntegrityError:
            raise RosterConflict(f"a crew named {name!r} exists already") from None
        if done.rowcount != 1:
            raise RosterNotFound(f"no crew {crew_id}")
        return await self.crew(crew_id)

    async def crew(self, crew_id: int) -> CrewView:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(crews).where(crews.c.id == crew_id))).first()
        if row is None:
            raise RosterNotFound(f"no crew {crew_id}")
        return _crew_view(row)

    async def crews(self) -> list[CrewView]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(crews).order_by(crews.c.id))).all()
        return [_crew_view(r) for r in rows]

    # --- shifts --------------------------------------------------------------------------

    async def add_shift(
        self, crew_id: int, starts_at: datetime, ends_at: datetime, priority: int
    ) -> ShiftView:
        check_shift(starts_at, ends_at, priority)
        async with self._writer.begin() as conn:
            if (
                await conn.execute(select(crews.c.id).where(crews.c.id == crew_id))
            ).first() is None:
                raise RosterNotFound(f"no crew {crew_id}")
            shift_id = (
                await conn.execute(
                    insert(shifts)
                    .values(
                        crew_id=crew_id,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        priority=priority,
                        created_at=self._clock(),
                    )
                    .returning(shifts.c.id)
                )
            ).scalar_one()
        return await self.shift(shift_id)

    async def remove_shift(self, shift_id: int) -> None:
        async with self._writer.begin() as conn:
            done = await conn.execute(delete(shifts).where(shifts.c.id == shift_id))
        if done.rowcount != 1:
            raise RosterNotFound(f"no shift {shift_id}")

    async def shift(self, shift_id: int) -> ShiftView:
        async with self._engine.connect() as conn:
            rows = await self._shift_rows(conn, shifts.c.id == shift_id)
        if not rows:
            raise RosterNotFound(f"no shift {shift_id}")
        return rows[0]

    async def shifts(self, start: datetime, end: datetime) -> list[ShiftView]:
        """Shifts overlapping [start, end), by start."""
        async with self._engine.connect() as conn:
            return await self._shift_rows(conn, shifts.c.starts_at < end, shifts.c.ends_at > start)

    # --- who is on duty ------------------------------------------------------------------

    async def on_duty(self, moment: datetime, conn: AsyncConnection | None = None) -> list[Crew]:
        """Active crews on duty at ``moment``, in calling order (see ``domain.dispatch``)."""
        if conn is None:
            async with self._engine.connect() as own:
                return await self.on_duty(moment, own)
        rows = (
            await conn.execute(
                select(shifts, crews.c.name, crews.c.phone, crews.c.active)
                .join(crews, crews.c.id == shifts.c.crew_id)
                .where(shifts.c.starts_at <= moment, shifts.c.ends_at > moment)
            )
        ).all()
        found = {
            r.crew_id: Crew(r.crew_id, r.name, PhoneNumber(r.phone), r.active)
            for r in rows
            if _dialable(r.phone)
        }
        return on_duty(
            found.values(),
            [Shift(r.id, r.crew_id, r.starts_at, r.ends_at, r.priority) for r in rows],
            moment,
        )

    async def _shift_rows(self, conn: AsyncConnection, *where: Any) -> list[ShiftView]:
        rows = (
            await conn.execute(
                select(shifts, crews.c.name)
                .join(crews, crews.c.id == shifts.c.crew_id)
                .where(*where)
                .order_by(shifts.c.starts_at, shifts.c.priority, shifts.c.id)
            )
        ).all()
        return [
            ShiftView(r.id, r.crew_id, r.name, r.starts_at, r.ends_at, r.priority) for r in rows
        ]


def _dialable(digits: str) -> bool:
    """A stored number that no longer validates is skipped, never dialled."""
    try:
        PhoneNumber(digits)
    except ValueError:
        return False
    return True


def _crew_view(row: Any) -> CrewView:
    return CrewView(row.id, row.name, row.phone, row.active, row.created_at, row.updated_at)
