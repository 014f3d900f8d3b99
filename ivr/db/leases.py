"""What every store of leased outbound calls (callback attempts, dispatch calls) does alike.

A claim round is serialised across bridges: on PostgreSQL by a transaction-scoped advisory lock
(one key per kind of call), on SQLite by the writer's ``BEGIN IMMEDIATE``. A claim is dialled
only by the bridge that still holds it (``start_originate``), and a lease that ran out is taken
by exactly one recovering bridge (``SKIP LOCKED``); what recovery then does is each store's own.

Each bridge places calls only through its own Asterisk (``asterisk.server_name``, stored on
every attempt), so a claim is placed where the claiming bridge runs. A server's own cap
(``asterisk.max_outbound``) counts the live rows of every table in ``OUTBOUND_TABLES`` placed
through it, under one more advisory lock per server that every kind's claim round takes last.
A new kind of leased call (with ``state``, ``lease_until`` and ``server_name`` columns) joins
by adding its table to ``OUTBOUND_TABLES``.

Customer calls (回访 attempts and virtual-hold call-backs) also share one global live-call limit
and one row of originate slots (``dialer_state``): ``customer_room``, ``first_slot`` and
``keep_next_slot`` are that shared walk, so both kinds pace each other exactly alike.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.dispatch_models import calls_table as dispatch_calls
from ivr.db.virtual_hold_models import kept_places_table as kept_places
from ivr.db.workorder_models import attempts_table as callback_attempts
from ivr.db.workorder_models import dialer_state_table as dialer_state
from ivr.domain.servers import Placement

LIVE = ("claimed", "originating", "answered")  # the states that hold a lease
# every table of leased outbound calls: what a server's own cap counts
OUTBOUND_TABLES: list[Table] = [callback_attempts, dispatch_calls, kept_places]
_SERVER_LOCK_BASE = 95598_1000_000_000  # + crc32(server name): one advisory lock per server


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


async def server_room(conn: AsyncConnection, pg: bool, placement: Placement) -> int | None:
    """How many more outbound calls may start through this bridge's server now (its own cap
    less what is live there, over every kind of call); None if the server has no cap.

    Takes the server's advisory lock for the rest of the transaction: a callback round and a
    dispatch round on two bridges of one server count one after the other."""
    if placement.max_outbound <= 0:
        return None
    if pg:
        key = _SERVER_LOCK_BASE + zlib.crc32(placement.server.encode())
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    live = 0
    for table in OUTBOUND_TABLES:
        live += (
            await conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.state.in_(LIVE), table.c.server_name == placement.server)
            )
        ).scalar_one()
    return max(placement.max_outbound - live, 0)


async def live_customer_calls(conn: AsyncConnection) -> int:
    """Live outbound customer calls of every bridge: 回访 attempts and call-backs (dispatch
    calls ring crews, not customers, and do not count)."""
    live = 0
    for table in (callback_attempts, kept_places):
        live += (
            await conn.execute(
                select(func.count()).select_from(table).where(table.c.state.in_(LIVE))
            )
        ).scalar_one()
    return int(live)


async def customer_room(conn: AsyncConnection, pg: bool, placement: Placement, room: int) -> int:
    """``room`` (what the global limit leaves) cut to this server's own cap; 0 if none left.

    The server's cap is looked at (and its lock taken) only when the global limit leaves room."""
    if room <= 0:
        return 0
    here = await server_room(conn, pg, placement)
    if here is not None:  # this server's trunk has its own cap
        room = min(room, here)
    return max(room, 0)


async def first_slot(
    conn: AsyncConnection, pg: bool, now: datetime, max_live: int, min_gap_s: float
) -> datetime:
    """The first originate slot this round may use (the shared ``dialer_state`` row, locked
    for the transaction on PostgreSQL).

    Never further ahead than a full round of slots: a bridge whose clock ran fast must not
    hold the others back."""
    query = select(dialer_state.c.next_slot_at).where(dialer_state.c.id == 1)
    if pg:
        query = query.with_for_update()
    stored: datetime = (await conn.execute(query)).scalar_one()
    return max(now, min(stored, now + timedelta(seconds=max_live * min_gap_s)))


async def keep_next_slot(conn: AsyncConnection, slot: datetime) -> None:
    """Store the slot after this round's last claim, where the next round (of either kind of
    customer call, on any bridge) starts."""
    await conn.execute(update(dialer_state).where(dialer_state.c.id == 1).values(next_slot_at=slot))
