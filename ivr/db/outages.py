"""The customer register and the outage register in the database.

Customers are upserted by 户号 (their phones replaced whole), so importing the marketing
system's export again updates rather than duplicates. Every change of an outage writes a row
of ``outage_changes`` in the same transaction; closing an outage closes its linked repair
orders with its resolution and owes one 回访 per customer (per phone number), not per order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.models import calls_table as calls
from ivr.db.outage_models import customer_phones_table as phones
from ivr.db.outage_models import customers_table as customers
from ivr.db.outage_models import outage_changes_table as changes
from ivr.db.outage_models import outage_orders_table as links
from ivr.db.outage_models import outages_table as outages
from ivr.db.store import SqlStore, chunked
from ivr.db.workorder_models import orders_table as orders
from ivr.db.workorders import SqlWorkOrders
from ivr.domain.outage_files import PlannedOutage
from ivr.domain.outages import (
    Customer,
    CustomerNotFound,
    Outage,
    OutageChange,
    OutageConflict,
    OutageKind,
    OutageNotFound,
    OutageState,
    check_window,
)
from ivr.domain.workorders import OrderStatus, reached


class SqlCustomers(SqlStore):
    async def upsert(self, batch: Sequence[Customer]) -> int:
        """Insert or replace these customers (one transaction); returns how many."""
        now = self._clock()
        async with self._writer.begin() as conn:
            for chunk in chunked(batch):
                accounts = [c.account_no for c in chunk]
                await conn.execute(delete(phones).where(phones.c.account_no.in_(accounts)))
                await conn.execute(delete(customers).where(customers.c.account_no.in_(accounts)))
                await conn.execute(
                    insert(customers),
                    [
                        {
                            "account_no": c.account_no,
                            "name": c.name,
                            "address": c.address,
                            "area": c.area,
                            "feeder": c.feeder,
                            "updated_at": now,
                        }
                        for c in chunk
                    ],
                )
                rows = [{"account_no": c.account_no, "phone": p} for c in chunk for p in c.phones]
                if rows:
                    await conn.execute(insert(phones), rows)
        return len(batch)

    async def get(self, account_no: str) -> Customer:
        async with self._engine.connect() as conn:
            found = await self._load(
                conn, select(customers).where(customers.c.account_no == account_no)
            )
        if not found:
            raise CustomerNotFound(account_no)
        return found[0]

    async def by_phone(self, phone: str) -> list[Customer]:
        async with self._engine.connect() as conn:
            accounts = select(phones.c.account_no).where(phones.c.phone == phone)
            return await self._load(
                conn, select(customers).where(customers.c.account_no.in_(accounts))
            )

    async def list(
        self, area: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[Customer]:
        """By 户号; ``after`` pages on from the last one seen."""
        query = select(customers).order_by(customers.c.account_no).limit(limit)
        if area is not None:
            query = query.where(customers.c.area == area)
        if after is not None:
            query = query.where(customers.c.account_no > after)
        async with self._engine.connect() as conn:
            return await self._load(conn, query)

    async def delete(self, account_no: str) -> None:
        async with self._writer.begin() as conn:
            gone = await conn.execute(delete(customers).where(customers.c.account_no == account_no))
            await conn.execute(delete(phones).where(phones.c.account_no == account_no))
        if gone.rowcount != 1:
            raise CustomerNotFound(account_no)

    async def signature(self, areas: Iterable[str], feeders: Iterable[str]) -> tuple[int, Any]:
        """(how many, last change) of these places' customers: one aggregate read that tells
        the notice index whether it must reload them."""
        areas, feeders = list(areas), list(feeders)
        if not areas and not feeders:
            return 0, None
        where = customers.c.area.in_(areas) | customers.c.feeder.in_(feeders)
        query = select(func.count(), func.max(customers.c.updated_at)).where(where)
        async with self._engine.connect() as conn:
            count, last = (await conn.execute(query)).one()
        return int(count), last

    async def in_places(self, areas: Iterable[str], feeders: Iterable[str]) -> list[Customer]:
        """Every customer of these areas or feeders (the outage index's load)."""
        areas, feeders = list(areas), list(feeders)
        if not areas and not feeders:
            return []
        where = customers.c.area.in_(areas) | customers.c.feeder.in_(feeders)
        async with self._engine.connect() as conn:
            return await self._load(conn, select(customers).where(where))

    async def _load(self, conn: AsyncConnection, query: Any) -> list[Customer]:
        rows = (await conn.execute(query)).all()
        if not rows:
            return []
        numbers: dict[str, list[str]] = {}
        accounts = [r.account_no for r in rows]
        for chunk in chunked(accounts):
            found = await conn.execute(
                select(phones.c.account_no, phones.c.phone)
                .where(phones.c.account_no.in_(chunk))
                .order_by(phones.c.id)
            )
            for account, phone in found:
                numbers.setdefault(account, []).append(phone)
        return [
            Customer(
                r.account_no,
                r.name,
                tuple(numbers.get(r.account_no, ())),
                r.address,
                r.area,
                r.feeder,
            )
            for r in rows
        ]


class SqlOutages(SqlStore):
    def __init__(
        self,
        engine: AsyncEngine,
        work_orders: SqlWorkOrders | None,
        clock: Callable[[], datetime],
    ) -> None:
        """``work_orders`` closes linked orders; None where nothing closes an outage (import)."""
        super().__init__(engine, clock)
        self._orders = work_orders

    async def create(
        self,
        kind: OutageKind,
        areas: Sequence[str],
        feeders: Sequence[str],
        starts_at: datetime,
        expected_at: datetime,
        cause: str,
        actor: str,
        ref: str | None = None,
    ) -> Outage:
        check_window(starts_at, expected_at)
        now = self._clock()
        async with self._writer.begin() as conn:
            outage_id = await self._insert(
                conn, kind, areas, feeders, starts_at, expected_at, cause, actor, ref, now
            )
            return await self._get(conn, outage_id)

    async def import_schedule(
        self, planned: Sequence[PlannedOutage], actor: str
    ) -> tuple[int, int, int]:
        """(created, updated, unchanged): a schedule row is known by its ``ref``; a closed or
        cancelled one is left as it is."""
        now = self._clock()
        created = updated = unchanged = 0
        async with self._writer.begin() as conn:
            for row in planned:
                found = (
                    await conn.execute(select(outages).where(outages.c.ref == row.ref))
                ).first()
                if found is None:
                    await self._insert(
                        conn,
                        OutageKind.PLANNED,
                        row.areas,
                        row.feeders,
                        row.starts_at,
                        row.expected_at,
                        row.cause,
                        actor,
                        row.ref,
                        now,
                    )
                    created += 1
                    continue
                values = {
                    "areas": list(row.areas),
                    "feeders": list(row.feeders),
                    "starts_at": row.starts_at,
                    "expected_at": row.expected_at,
                    "cause": row.cause,
                }
                if found.state != OutageState.OPEN.value or _same(found, values):
                    unchanged += 1
                    continue
                await self._change(conn, found, values, actor, now)
                updated += 1
        return created, updated, unchanged

    async def update(self, outage_id: int, values: dict[str, Any], actor: str) -> Outage:
        """Change areas, feeders, start, expected restoration or cause of an open outage."""
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, outage_id)
            if current.state != OutageState.OPEN.value:
                raise OutageConflict(f"outage {outage_id} is {current.state}")
            check_window(
                values.get("starts_at", current.starts_at),
                values.get("expected_at", current.expected_at),
            )
            values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
            if not (values.get("areas", current.areas) or values.get("feeders", current.feeders)):
                raise OutageConflict("an outage keeps at least one area or feeder")
            if not _same(current, values):
                await self._change(conn, current, values, actor, now)
            return await self._get(conn, outage_id)

    async def close(self, outage_id: int, resolution: str, actor: str) -> tuple[Outage, int, int]:
        """Restored: the outage and its open linked orders are closed with ``resolution``.
        Returns (outage, orders closed, callbacks owed): one 回访 per customer phone."""
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, outage_id)
            if current.state != OutageState.OPEN.value:
                raise OutageConflict(f"outage {outage_id} is already {current.state}")
            await conn.execute(
                update(outages)
                .where(outages.c.id == outage_id)
                .values(
                    state=OutageState.CLOSED.value,
                    resolution=resolution,
                    closed_at=now,
                    updated_at=now,
                )
            )
            closed, owed = await self._close_orders(conn, outage_id, resolution, actor, now)
            await self._log(
                conn,
                outage_id,
                actor,
                "closed",
                {"resolution": resolution, "orders_closed": closed, "callbacks": owed},
                now,
            )
            return await self._get(conn, outage_id), closed, owed

    async def cancel(self, outage_id: int, reason: str, actor: str) -> Outage:
        """A planned outage that did not happen (no orders are closed by it)."""
        now = self._clock()
        async with self._writer.begin() as conn:
            current = await self._lock(conn, outage_id)
            if current.state != OutageState.OPEN.value:
                raise OutageConflict(f"outage {outage_id} is already {current.state}")
            await conn.execute(
                update(outages)
                .where(outages.c.id == outage_id)
                .values(state=OutageState.CANCELLED.value, closed_at=now, updated_at=now)
            )
            await self._log(conn, outage_id, actor, "cancelled", {"reason": reason}, now)
            return await self._get(conn, outage_id)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, outage_id: int) -> Outage:
        async with self._engine.connect() as conn:
            return await self._get(conn, outage_id)

    async def list(self, state: OutageState | None = None, limit: int = 100) -> list[Outage]:
        query = select(outages).order_by(outages.c.starts_at.desc(), outages.c.id.desc())
        if state is not None:
            query = query.where(outages.c.state == state.value)
        async with self._engine.connect() as conn:
            return [_outage(r) for r in (await conn.execute(query.limit(limit))).all()]

    async def open_outages(self) -> list[Outage]:
        """Open outages, started or not (the index decides which are active now)."""
        return await self.list(OutageState.OPEN, limit=10_000)

    async def history(self, outage_id: int) -> list[OutageChange]:
        async with self._engine.connect() as conn:
            await self._get(conn, outage_id)
            rows = await conn.execute(
                select(changes)
                .where(changes.c.outage_id == outage_id)
                .order_by(changes.c.at, changes.c.id)
            )
            return [OutageChange(r.at, r.actor, r.change, dict(r.detail)) for r in rows]

    async def linked_orders(self, outage_id: int) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            await self._get(conn, outage_id)
            rows = await conn.execute(
                select(orders.c.order_no, orders.c.status, orders.c.id, links.c.linked_at)
                .join(links, links.c.order_id == orders.c.id)
                .where(links.c.outage_id == outage_id)
                .order_by(links.c.linked_at, orders.c.id)
            )
            lead = (
                await conn.execute(
                    select(outages.c.dispatch_order_id).where(outages.c.id == outage_id)
                )
            ).scalar_one()
            return [
                {
                    "order_no": r.order_no,
                    "status": r.status,
                    "linked_at": r.linked_at,
                    "dispatch": r.id == lead,
                }
                for r in rows
            ]

    async def informed_counts(
        self, since: datetime | None = None, outage_ids: Sequence[int] | None = None
    ) -> dict[int, int]:
        """Callers who hung up after each outage's notice (since ``since``, and only of
        ``outage_ids``, if given)."""
        query = (
            select(calls.c.outage_id, func.count())
            .where(calls.c.informed.is_(True), calls.c.outage_id.is_not(None))
            .group_by(calls.c.outage_id)
        )
        if since is not None:
            query = query.where(calls.c.started_at >= since)
        if outage_ids is not None:
            if not outage_ids:
                return {}
            query = query.where(calls.c.outage_id.in_(list(outage_ids)))
        async with self._engine.connect() as conn:
            return {int(o): int(n) for o, n in (await conn.execute(query)).all()}

    async def informed_since(self, since: datetime) -> int:
        return sum((await self.informed_counts(since)).values())

    # --- internals -----------------------------------------------------------------------

    async def _insert(
        self,
        conn: AsyncConnection,
        kind: OutageKind,
        areas: Sequence[str],
        feeders: Sequence[str],
        starts_at: datetime,
        expected_at: datetime,
        cause: str,
        actor: str,
        ref: str | None,
        now: datetime,
    ) -> int:
        if not areas and not feeders:
            raise OutageConflict("an outage names at least one area or feeder")
        values = {
            "ref": ref,
            "kind": kind.value,
            "areas": list(areas),
            "feeders": list(feeders),
            "starts_at": starts_at,
            "expected_at": expected_at,
            "cause": cause,
            "state": OutageState.OPEN.value,
            "created_at": now,
            "created_by": actor[:64],
            "updated_at": now,
        }
        outage_id = int(
            (
                await conn.execute(insert(outages).values(values).returning(outages.c.id))
            ).scalar_one()
        )
        detail = {k: _plain(v) for k, v in values.items() if k not in ("created_at", "updated_at")}
        await self._log(conn, outage_id, actor, "created", detail, now)
        return outage_id

    async def _change(
        self, conn: AsyncConnection, current: Any, values: dict[str, Any], actor: str, now: datetime
    ) -> None:
        before = {k: _plain(getattr(current, k)) for k in values}
        after = {k: _plain(v) for k, v in values.items()}
        await conn.execute(
            update(outages).where(outages.c.id == current.id).values(**values, updated_at=now)
        )
        await self._log(conn, current.id, actor, "updated", {"before": before, "after": after}, now)

    async def _close_orders(
        self, conn: AsyncConnection, outage_id: int, resolution: str, actor: str, now: datetime
    ) -> tuple[int, int]:
        if self._orders is None:
            raise RuntimeError("this outage store was made without the work orders it closes")
        query = (
            select(orders)
            .join(links, links.c.order_id == orders.c.id)
            .where(links.c.outage_id == outage_id)
            .order_by(orders.c.created_at, orders.c.id)
        )
        if self._pg:
            query = query.with_for_update(of=orders)
        closed = owed = 0
        called: set[str] = set()
        for row in (await conn.execute(query)).all():
            if reached(OrderStatus(row.status), OrderStatus.CLOSED):
                called.add(row.customer_phone)  # closed before: its own 回访 covers them
                continue
            first = row.customer_phone not in called
            called.add(row.customer_phone)
            note = f"outage {outage_id} restored"
            if not first:
                note += "; 回访 with the customer's other order"
            await self._orders.close_in(
                conn, row, resolution, f"outage:{actor}"[:64], now, callback=first, note=note
            )
            closed += 1
            owed += first
        return closed, owed

    async def _lock(self, conn: AsyncConnection, outage_id: int) -> Any:
        query = select(outages).where(outages.c.id == outage_id)
        if self._pg:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            raise OutageNotFound(str(outage_id))
        return row

    async def _get(self, conn: AsyncConnection, outage_id: int) -> Outage:
        row = (await conn.execute(select(outages).where(outages.c.id == outage_id))).first()
        if row is None:
            raise OutageNotFound(str(outage_id))
        return _outage(row)

    async def _log(
        self,
        conn: AsyncConnection,
        outage_id: int,
        actor: str,
        change: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        await conn.execute(
            insert(changes).values(
                outage_id=outage_id, at=now, actor=actor[:64], change=change, detail=detail
            )
        )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, OutageKind | OutageState):
        return value.value
    return value


def _same(row: Any, values: dict[str, Any]) -> bool:
    return all(_plain(getattr(row, k)) == _plain(v) for k, v in values.items())


def _outage(row: Any) -> Outage:
    return Outage(
        id=int(row.id),
        kind=OutageKind(row.kind),
        areas=tuple(row.areas or ()),
        feeders=tuple(row.feeders or ()),
        starts_at=row.starts_at,
        expected_at=row.expected_at,
        cause=row.cause,
        state=OutageState(row.state),
        resolution=row.resolution,
        closed_at=row.closed_at,
        dispatch_order_id=row.dispatch_order_id,
    )
