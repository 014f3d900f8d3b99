"""One outage, one dispatch: a new repair order from a customer under an active outage is
linked to it inside the order's own create transaction, so the dispatcher never sees it
unlinked.

The outage's dispatch is the crew dispatch of one order: for a fault outage, the first repair
order linked to it (its job rings the crew as usual); a planned outage needs no crew call (the
work is under way). Every other linked order waits for that dispatch: it becomes ``dispatched``
(its 5-minute limit met) when the outage's dispatch is accepted, or at once if it already was
or the outage is planned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ivr.db.models import calls_table as calls
from ivr.db.outage_models import customer_phones_table as phones
from ivr.db.outage_models import customers_table as customers
from ivr.db.outage_models import outage_changes_table as changes
from ivr.db.outage_models import outage_orders_table as links
from ivr.db.outage_models import outages_table as outages
from ivr.db.workorder_models import deadlines_table as deadlines
from ivr.db.workorder_models import history_table as history
from ivr.db.workorder_models import orders_table as orders
from ivr.domain.outages import OutageKind, OutageState
from ivr.domain.workorders import MET_BY_ACCEPTANCE_ONLY, OrderStatus, reached

ACTOR = "outage"


def not_linked_elsewhere() -> Any:
    """SQL: this order is not waiting for another order's dispatch (the dispatcher's filter)."""
    return ~exists().where(
        and_(
            links.c.order_id == orders.c.id,
            links.c.outage_id == outages.c.id,
            (outages.c.dispatch_order_id.is_(None)) | (outages.c.dispatch_order_id != orders.c.id),
        )
    )


async def outage_for(
    conn: AsyncConnection, call_id: str | None, phone: str, now: datetime
) -> Any | None:
    """The active outage this customer is under: the one their call heard, else the one
    covering their area or feeder (ending last, if several)."""
    open_now = and_(outages.c.state == OutageState.OPEN.value, outages.c.starts_at <= now)
    if call_id is not None:
        heard = (
            await conn.execute(
                select(outages)
                .join(calls, calls.c.outage_id == outages.c.id)
                .where(calls.c.call_id == call_id, open_now)
            )
        ).first()
        if heard is not None:
            return heard
    places = (
        await conn.execute(
            select(customers.c.area, customers.c.feeder)
            .join(phones, phones.c.account_no == customers.c.account_no)
            .where(phones.c.phone == phone)
        )
    ).all()
    if not places:
        return None
    candidates = (await conn.execute(select(outages).where(open_now))).all()
    found = [
        o
        for o in candidates
        for p in places
        if p.area in o.areas or (p.feeder is not None and p.feeder in o.feeders)
    ]
    return max(found, key=lambda o: (o.expected_at, o.id), default=None)


async def link_new_repair(
    conn: AsyncConnection, order_id: int, call_id: str | None, phone: str, now: datetime
) -> int | None:
    """Link a just-created repair order to its outage, if any; returns the outage id."""
    outage = await outage_for(conn, call_id, phone, now)
    if outage is None:
        return None
    await conn.execute(insert(links).values(outage_id=outage.id, order_id=order_id, linked_at=now))
    detail: dict[str, Any] = {"order_id": order_id}
    if outage.kind == OutageKind.FAULT.value and outage.dispatch_order_id is None:
        claimed = await conn.execute(
            update(outages)
            .where(outages.c.id == outage.id, outages.c.dispatch_order_id.is_(None))
            .values(dispatch_order_id=order_id, updated_at=now)
        )
        if claimed.rowcount == 1:
            detail["dispatch"] = True  # this order's crew dispatch serves the whole outage
    elif outage.kind == OutageKind.PLANNED.value:
        await dispatched(conn, [order_id], f"planned outage {outage.id}: work under way", now)
    else:
        lead = (
            await conn.execute(
                select(orders.c.status).where(orders.c.id == outage.dispatch_order_id)
            )
        ).scalar_one_or_none()
        if lead is not None and reached(OrderStatus(lead), OrderStatus.DISPATCHED):
            await dispatched(conn, [order_id], f"outage {outage.id}: crew already dispatched", now)
    await conn.execute(
        insert(changes).values(
            outage_id=outage.id, at=now, actor=ACTOR, change="linked", detail=detail
        )
    )
    return int(outage.id)


async def lead_accepted(conn: AsyncConnection, order_id: int, now: datetime) -> None:
    """The crew accepted an outage's dispatch order: its other linked orders are dispatched."""
    outage_id = (
        await conn.execute(select(outages.c.id).where(outages.c.dispatch_order_id == order_id))
    ).scalar_one_or_none()
    if outage_id is None:
        return
    waiting = (
        await conn.execute(
            select(links.c.order_id).where(
                links.c.outage_id == outage_id, links.c.order_id != order_id
            )
        )
    ).scalars()
    await dispatched(conn, list(waiting), f"outage {outage_id}: crew dispatched", now)


async def dispatched(conn: AsyncConnection, order_ids: list[int], note: str, now: datetime) -> None:
    """Orders still ``created`` become ``dispatched``, their dispatch limit met now."""
    if not order_ids:
        return
    waiting = (
        (
            await conn.execute(
                select(orders.c.id).where(
                    orders.c.id.in_(order_ids), orders.c.status == OrderStatus.CREATED.value
                )
            )
        )
        .scalars()
        .all()
    )
    for order_id in waiting:
        await conn.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(status=OrderStatus.DISPATCHED.value, updated_at=now)
        )
        await conn.execute(
            insert(history).values(
                order_id=order_id,
                at=now,
                from_status=OrderStatus.CREATED.value,
                to_status=OrderStatus.DISPATCHED.value,
                actor=ACTOR,
                note=note[:500],
            )
        )
    await conn.execute(
        update(deadlines)
        .where(
            deadlines.c.order_id.in_(order_ids),
            deadlines.c.name.in_(MET_BY_ACCEPTANCE_ONLY),
            deadlines.c.met_at.is_(None),
        )
        .values(met_at=now)
    )
