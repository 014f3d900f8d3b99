"""Seats on SQLAlchemy: name, digest hash, when and by whom (see ``ivr.domain.seats``)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ivr.db.seat_models import seats_table as seats
from ivr.db.store import SqlStore
from ivr.domain.seats import Seat


class SqlSeatStore(SqlStore):
    async def add(self, seat: Seat) -> bool:
        row = {
            "name": seat.name,
            "password_digest": seat.password_digest,
            "created_at": seat.created_at,
            "created_by": seat.created_by[:64],
        }
        try:
            async with self._writer.begin() as conn:
                await conn.execute(insert(seats), [row])
        except IntegrityError:
            return False
        return True

    async def remove(self, name: str) -> bool:
        async with self._writer.begin() as conn:
            result = await conn.execute(delete(seats).where(seats.c.name == name))
        return bool(result.rowcount)

    async def get(self, name: str) -> Seat | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(seats).where(seats.c.name == name))).first()
        return None if row is None else _seat(row)

    async def all(self) -> list[Seat]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(seats).order_by(seats.c.name))).all()
        return [_seat(r) for r in rows]


def _seat(row) -> Seat:  # type: ignore[no-untyped-def]
    return Seat(row.name, row.password_digest, row.created_at, row.created_by)
