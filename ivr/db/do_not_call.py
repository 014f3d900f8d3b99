"""The do-not-call list in the database (``ivr.domain.do_not_call`` says what it means).

Adding a number cancels its waiting 回访 in the same transaction; removing one keeps the row
with who removed it and why (the list's history is an auditor's question), and adding it again
makes it current with the new request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from ivr.db.callback_store import cancel_for_do_not_call
from ivr.db.store import SqlStore
from ivr.db.workorder_models import do_not_call_table as dnc
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorder_models import tasks_table as tasks
from ivr.domain.do_not_call import DoNotCallEntry, NotOnTheList
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderNotFound


def _entry(row: Any, cancelled: int = 0) -> DoNotCallEntry:
    return DoNotCallEntry(
        phone=row.phone,
        request=row.request,
        order_no=row.order_no,
        added_by=row.added_by,
        added_at=row.added_at,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
        removal_reason=row.removal_reason,
        cancelled_callbacks=cancelled,
    )


class SqlDoNotCall(SqlStore):
    async def add(
        self, phone: PhoneNumber, request: str, order_no: str | None, actor: str
    ) -> tuple[DoNotCallEntry, bool]:
        """The entry, and True if the number joined the list now (False: it was on it, and
        the entry is answered unchanged)."""
        now = self._clock()
        async with self._writer.begin() as conn:
            if order_no is not None:
                known = select(orders.c.id).where(orders.c.order_no == order_no)
                if (await conn.execute(known)).first() is None:
                    raise OrderNotFound(order_no)
            query = select(dnc).where(dnc.c.phone == phone.digits)
            if self._pg:
                query = query.with_for_update()
            row = (await conn.execute(query)).first()
            if row is not None and row.removed_at is None:
                return _entry(row), False
            values = {
                "request": request,
                "order_no": order_no,
                "added_by": actor,
                "added_at": now,
                "removed_at": None,
                "removed_by": None,
                "removal_reason": None,
            }
            if row is None:
                await conn.execute(insert(dnc).values(phone=phone.digits, **values))
            else:
                await conn.execute(update(dnc).where(dnc.c.phone == phone.digits).values(values))
            of_this_number = tasks.c.order_id.in_(
                select(orders.c.id).where(orders.c.customer_phone == phone.digits)
            )
            cancelled = await cancel_for_do_not_call(conn, of_this_number, now)
            row = (await conn.execute(select(dnc).where(dnc.c.phone == phone.digits))).one()
        return _entry(row, cancelled), True

    async def remove(self, phone: PhoneNumber, reason: str, actor: str) -> DoNotCallEntry:
        """Take the number off the list (the customer asked again to be called). Callbacks it
        cancelled stay cancelled; later orders of this number are called back."""
        now = self._clock()
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(dnc)
                .where(dnc.c.phone == phone.digits, dnc.c.removed_at.is_(None))
                .values(removed_at=now, removed_by=actor, removal_reason=reason)
            )
            if done.rowcount != 1:
                raise NotOnTheList(phone.digits)
            row = (await conn.execute(select(dnc).where(dnc.c.phone == phone.digits))).one()
        return _entry(row)

    async def list(self, current: bool | None = True, limit: int = 100) -> list[DoNotCallEntry]:
        """Newest first; ``current`` False lists removed entries, None both."""
        query = select(dnc).order_by(dnc.c.added_at.desc(), dnc.c.phone).limit(limit)
        if current is not None:
            query = query.where(
                dnc.c.removed_at.is_(None) if current else dnc.c.removed_at.is_not(None)
            )
        async with self._engine.connect() as conn:
            return [_entry(r) for r in (await conn.execute(query)).all()]
