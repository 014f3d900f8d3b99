"""Kept places (virtual hold) in the database: keeping one, the claim of the call-backs whose
turn it is, and everything that finishes an attempt (AMI results, the agent's answer, the
customer's hang-up, lease expiry).

The claim round shares the 回访 dialer's serialisation and limits (``ivr.db.callback_store``):
the same advisory lock, the same global count of live calls (回访 attempts plus call-backs)
against ``max_concurrent``, and the same originate slot row (``dialer_state``), so call-backs
stay within the dialer's caps whichever bridges place them. A claim is dialled only by the
bridge that still holds it, and a result is applied once, whichever bridge sees it first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db import leases
from ivr.db.callback_store import CLAIM_LOCK
from ivr.db.leases import claim_round
from ivr.db.store import SqlStore
from ivr.db.virtual_hold_models import kept_places_table as kept
from ivr.domain.attempt_ids import VHOLD_ATTEMPT
from ivr.domain.callbacks import AttemptResult
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.domain.privacy import mask_number
from ivr.domain.servers import ONE_SERVER, Placement
from ivr.domain.virtual_hold import (
    FINAL,
    CallBackClaim,
    CallBackRules,
    Candidate,
    KeptPlaceView,
    KeptState,
    QueueLine,
    counts_by_state,
    turns,
)

log = logging.getLogger(__name__)

_OPEN = tuple(s.value for s in KeptState if s not in FINAL)


class SqlKeptPlaces(SqlStore):
    def __init__(
        self,
        engine: AsyncEngine,
        rules: CallBackRules,
        clock: Callable[[], datetime],
        placement: Placement = ONE_SERVER,
    ) -> None:
        super().__init__(engine, clock, placement.server)
        self._rules = rules
        self._placement = placement

    # --- the inbound call ----------------------------------------------------------------

    async def keep(
        self, queue: str, phone: PhoneNumber, call_id: str | None, arrived_at: datetime
    ) -> int:
        """Keep a caller's place: their arrival in the line, due at once (the claim decides
        when it is their turn). Returns the place's id."""
        now = self._clock()
        async with self._writer.begin() as conn:
            row = await conn.execute(
                insert(kept)
                .values(
                    queue=queue,
                    phone=phone.digits,
                    call_id=call_id,
                    arrived_at=arrived_at,
                    state=KeptState.KEPT.value,
                    attempts_made=0,
                    next_attempt_at=arrived_at,
                    created_at=now,
                )
                .returning(kept.c.id)
            )
            return int(row.scalar_one())

    async def open_by_queue(self) -> dict[str, int]:
        """Kept places not yet connected or given up, per queue (they are in the line)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(kept.c.queue, func.count())
                .where(kept.c.state.in_(_OPEN))
                .group_by(kept.c.queue)
            )
            return {r[0]: int(r[1]) for r in rows}

    # --- the claim -----------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        lines: Mapping[str, QueueLine],
        max_live: int,
        min_gap_s: float,
        lease_s: float,
    ) -> list[CallBackClaim]:
        """Claim the call-backs whose turn it is (``ivr.domain.virtual_hold.turns``), within
        the dialer's global live-call limit, each with an originate slot."""
        now = self._clock()
        claims: list[CallBackClaim] = []
        async with claim_round(self._writer, self._pg, CLAIM_LOCK) as conn:
            live = await leases.live_customer_calls(conn)
            room = await leases.customer_room(conn, self._pg, self._placement, max_live - live)
            if room <= 0:
                return []
            flying: dict[str, list[datetime]] = defaultdict(list)
            for row in await conn.execute(
                select(kept.c.queue, kept.c.arrived_at).where(kept.c.state.in_(leases.LIVE))
            ):
                flying[row.queue].append(row.arrived_at)
            query = (
                select(kept.c.id, kept.c.queue, kept.c.arrived_at)
                .where(kept.c.state == KeptState.KEPT.value, kept.c.next_attempt_at <= now)
                .order_by(kept.c.arrived_at, kept.c.id)
                .limit(500)
            )
            if self._pg:
                query = query.with_for_update(skip_locked=True)
            due = [Candidate(r.id, r.queue, r.arrived_at) for r in await conn.execute(query)]
            chosen = turns(due, lines, flying, room)
            if not chosen:
                return []
            slot = await leases.first_slot(conn, self._pg, now, max_live, min_gap_s)
            window = self._rules.window
            for turn in chosen:
                place = (
                    await conn.execute(select(kept).where(kept.c.id == turn.candidate.id))
                ).one()
                if not window.contains(slot):  # calling hours are over: the morning
                    await conn.execute(
                        update(kept)
                        .where(kept.c.id == place.id)
                        .values(next_attempt_at=window.next_open(slot))
                    )
                    continue
                try:
                    phone = PhoneNumber(place.phone)
                except InvalidPhone as exc:  # checked when kept; never dialled unchecked
                    await conn.execute(
                        update(kept)
                        .where(kept.c.id == place.id)
                        .values(
                            state=KeptState.CANCELLED.value,
                            result="invalid_phone",
                            detail=str(exc)[:200],
                        )
                    )
                    continue
                action_id = VHOLD_ATTEMPT.new()
                done = await conn.execute(
                    update(kept)
                    .where(kept.c.id == place.id, kept.c.state == KeptState.KEPT.value)
                    .values(
                        state=KeptState.CLAIMED.value,
                        action_id=action_id,
                        claimed_by=owner,
                        server_name=self._server,  # placed through this bridge's Asterisk
                        lease_until=slot + timedelta(seconds=lease_s),
                        originate_at=slot,
                        position=turn.position,
                        attempts_made=place.attempts_made + 1,
                        unique_id=None,
                        ended_at=None,
                    )
                )
                if done.rowcount != 1:
                    continue
                claims.append(
                    CallBackClaim(action_id, phone, slot, place.queue, turn.position, place.call_id)
                )
                slot += timedelta(seconds=min_gap_s)
            await leases.keep_next_slot(conn, slot)
        return claims

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool:
        """Claimed → originating, only if this bridge still holds the claim."""
        return await leases.start_originate(
            self._writer, kept, action_id, owner, lease_s, self._clock()
        )

    # --- what finishes an attempt --------------------------------------------------------

    async def originate_failed(self, action_id: str, result: AttemptResult, detail: str) -> None:
        """Not reached (no answer, busy, refused): tried again by the rules, or failed."""
        now = self._clock()
        async with self._writer.begin() as conn:
            await self._not_reached(
                conn, action_id, ("claimed", "originating"), result, detail, now
            )

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool:
        """The customer picked up: their call is now joining the queue at its place."""
        now = self._clock()
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(kept)
                .where(kept.c.action_id == action_id, kept.c.state.in_(("claimed", "originating")))
                .values(
                    state=KeptState.ANSWERED.value,
                    unique_id=unique_id or None,
                    lease_until=now + timedelta(seconds=max_call_s),
                )
            )
        return done.rowcount == 1

    async def connected(self, action_id: str) -> bool:
        """An agent answered the called-back customer: the place did its job."""
        now = self._clock()
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(kept)
                .where(kept.c.action_id == action_id, kept.c.state.in_(leases.LIVE))
                .values(
                    state=KeptState.CONNECTED.value,
                    result="connected",
                    connected_at=now,
                    lease_until=None,
                    next_attempt_at=None,
                )
            )
        if done.rowcount == 1:
            log.info("call-back %s connected to an agent", action_id)
        return done.rowcount == 1

    async def channel_ended(self, unique_id: str, grace_s: float) -> None:
        """The customer's leg hung up: before an agent answered it is a failed call-back."""
        now = self._clock()
        async with self._writer.begin() as conn:
            row = (
                await conn.execute(
                    select(kept.c.action_id, kept.c.state).where(kept.c.unique_id == unique_id)
                )
            ).first()
            if row is None:
                return
            if row.state == KeptState.ANSWERED.value:
                await conn.execute(
                    update(kept)
                    .where(kept.c.action_id == row.action_id, kept.c.state == row.state)
                    .values(
                        state=KeptState.FAILED.value,
                        result="hung_up",
                        detail="left before an agent answered",
                        ended_at=now,
                        lease_until=None,
                        next_attempt_at=None,
                    )
                )
            else:
                await conn.execute(
                    update(kept).where(kept.c.unique_id == unique_id).values(ended_at=now)
                )

    async def legs_gone(
        self, present_uids: set[str], answered_before: datetime, grace_s: float
    ) -> int:
        """``channel_ended`` for answered call-backs whose leg Asterisk no longer has."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(kept.c.unique_id).where(
                    kept.c.server_name == self._server,  # the legs this Asterisk has
                    kept.c.state == KeptState.ANSWERED.value,
                    kept.c.unique_id.is_not(None),
                )
            )
            gone = [r.unique_id for r in rows if r.unique_id not in present_uids]
        for unique_id in gone:
            await self.channel_ended(unique_id, grace_s)
        return len(gone)

    async def recover(self) -> int:
        """What a dead bridge (or a lost AMI event) left behind once its lease is over: a claim
        never dialled is given back untouched; a call never answered is an unanswered attempt;
        an answered call never seen reaching an agent is failed."""
        now = self._clock()
        count = 0
        async with self._writer.begin() as conn:
            for row in await leases.expired_leases(conn, kept, self._pg, now):
                count += 1
                if row.state == "claimed":
                    await conn.execute(
                        update(kept)
                        .where(kept.c.id == row.id, kept.c.state == "claimed")
                        .values(
                            state=KeptState.KEPT.value,
                            action_id=None,
                            claimed_by=None,
                            lease_until=None,
                            attempts_made=kept.c.attempts_made - 1,
                        )
                    )
                elif row.state == "originating":
                    await self._not_reached(
                        conn,
                        row.action_id,
                        ("originating",),
                        AttemptResult.FAILED,
                        "no originate response",
                        now,
                    )
                else:
                    await conn.execute(
                        update(kept)
                        .where(kept.c.id == row.id, kept.c.state == row.state)
                        .values(
                            state=KeptState.FAILED.value,
                            result="failed",
                            detail="answered, but no agent answer was seen",
                            lease_until=None,
                        )
                    )
        if count:
            log.warning("recovered %d call-backs whose lease expired", count)
        return count

    # --- figures -------------------------------------------------------------------------

    async def counts(self, since: datetime | None = None) -> dict[str, int]:
        """Kept places by state (all time, or those kept since ``since``)."""
        query = select(kept.c.state, func.count()).group_by(kept.c.state)
        if since is not None:
            query = query.where(kept.c.created_at >= since)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return counts_by_state((r[0], int(r[1])) for r in rows)

    async def called_back(self, since: datetime | None = None) -> int:
        """Call-back attempts placed (dialled), in all."""
        query = select(func.coalesce(func.sum(kept.c.attempts_made), 0))
        if since is not None:
            query = query.where(kept.c.created_at >= since)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def listing(self, limit: int = 50) -> list[KeptPlaceView]:
        """The open kept places, oldest arrival first, then finished ones (to ``limit``)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(kept)
                    .order_by(kept.c.state.in_(_OPEN).desc(), kept.c.arrived_at)
                    .limit(limit)
                )
            ).all()
        return [
            KeptPlaceView(
                r.id,
                r.queue,
                mask_number(r.phone),
                r.arrived_at,
                r.state,
                r.attempts_made,
                r.result,
            )
            for r in rows
        ]

    # --- internals -----------------------------------------------------------------------

    async def _not_reached(
        self,
        conn: AsyncConnection,
        action_id: str,
        states: tuple[str, ...],
        result: AttemptResult,
        detail: str,
        now: datetime,
    ) -> None:
        query = select(kept).where(kept.c.action_id == action_id)
        if self._pg:
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None or row.state not in states:
            return
        state, next_at = self._rules.after_attempt(result, row.attempts_made, now)
        values: dict[str, Any] = {
            "state": state.value,
            "result": result.value,
            "detail": detail[:200],
            "next_attempt_at": next_at,
            "lease_until": None,
        }
        if state is KeptState.KEPT:
            values["action_id"] = None  # the next attempt gets its own
        await conn.execute(
            update(kept).where(kept.c.id == row.id, kept.c.state == row.state).values(values)
        )
        log.info(
            "call-back to %s (attempt %d): %s → %s",
            mask_number(row.phone),
            row.attempts_made,
            result.value,
            state.value,
        )


class SqlKeptPlaceFigures:
    """Kept places of a period (by when they were kept), for the monthly report."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def counts(self, start: datetime, end: datetime) -> dict[str, int]:
        query = (
            select(kept.c.state, func.count())
            .where(kept.c.created_at >= start, kept.c.created_at < end)
            .group_by(kept.c.state)
        )
        async with self._engine.connect() as conn:
            return counts_by_state((r[0], int(r[1])) for r in await conn.execute(query))

    async def called_back(self, start: datetime, end: datetime) -> int:
        query = select(func.coalesce(func.sum(kept.c.attempts_made), 0)).where(
            kept.c.created_at >= start, kept.c.created_at < end
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
