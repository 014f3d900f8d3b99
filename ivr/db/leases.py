"""What every store of leased outbound calls (callback attempts, dispatch calls) does alike.

A claim round is serialised across bridges: on PostgreSQL by a transaction-scoped advisory lock
(one key per kind of call), on SQLite by the writer's ``BEGIN IMMEDIATE``. A claim is dialled
only by the bridge that still holds it (``start_originate``), and a lease that ran out is taken
by exactly one recovering bridge (``SKIP LOCKED``); what recovery then does is each store's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LIVE = ("claimed", "originating", "answered")  # the states that hold a lease


@asynccontextmanager
async def claim_round(
    writer: AsyncEngine, pg: bool, lock_key: int
) -> AsyncIterator[AsyncConnection]:
    """One write transaction that no other bridge's claim round of ``lock_key`` overlaps."""
    async with writer.begin() as conn:
        if pg:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
        yield conn


async def start_originate(
    writer: AsyncEngine, table: Table, action_id: str, owner: str, lease_s: float, now: datetime
) -> bool:
    """Claimed → originating, only if ``owner`` still holds the claim; the lease now covers the
    originate. False if the claim was taken back (expired and recovered) meanwhile."""
    async with writer.begin() as conn:
        done = await conn.execute(
            update(table)
            .where(
                table.c.action_id == action_id,
                table.c.state == "claimed",
                table.c.claimed_by == owner,
            )
            .values(
                state="originating",
                originated_at=now,
                lease_until=now + timedelta(seconds=lease_s),
            )
        )
    return done.rowcount == 1


async def expired_leases(
    conn: AsyncConnection, table: Table, pg: bool, now: datetime
) -> Sequence[Any]:
    """The live rows of ``table`` whose lease is over, locked for this transaction; two bridges
    recovering at once each take different rows."""
    query = select(table).where(table.c.state.in_(LIVE), table.c.lease_until < now)
    if pg:
        query = query.with_for_update(skip_locked=True)
    return (await conn.execute(query)).all()
