"""``CallRepository`` on SQLAlchemy: short transactions, safe for hundreds of calls at once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    and_,
    case,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.engine import writer
from ivr.db.models import calls_table as calls
from ivr.db.models import steps_table
from ivr.domain.calls import CallOutcome, CallRecord, CallStep
from ivr.domain.servers import DEFAULT_SERVER_NAME


class UnknownCallError(LookupError):
    """Steps were added to a call that was never stored (a bug in the caller: ``add`` first)."""


class SqlCallRepository:
    """Stores :class:`CallRecord` rows and their steps.

    Each method is one short transaction on its own pooled connection, so concurrent calls never
    share state. Writes on SQLite take the write lock up front (see ``ivr.db.engine.WRITE``);
    on PostgreSQL ``add_steps`` locks the call's row so ``seq`` stays contiguous.
    """

    def __init__(self, engine: AsyncEngine, server: str = DEFAULT_SERVER_NAME) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._server = server  # the Asterisk this bridge serves: on every call it stores

    def _values(self, record: CallRecord) -> dict[str, Any]:
        return _call_values(record) | {"server_name": self._server}

    async def add(self, record: CallRecord) -> None:
        async with self._writer.begin() as conn:
            await conn.execute(insert(calls), [self._values(record)])
            await _insert_steps(conn, record.call_id, 0, record.steps)

    async def add_steps(self, call_id: str, steps: Sequence[CallStep]) -> None:
        """Append ``steps`` after the call's stored steps. Raises :class:`UnknownCallError`."""
        if not steps:
            return
        async with self._writer.begin() as conn:
            # FOR UPDATE serialises appends to one call on PostgreSQL (SQLite omits it; its
            # BEGIN IMMEDIATE already serialises every writer).
            found = await conn.scalar(
                select(calls.c.call_id).where(calls.c.call_id == call_id).with_for_update()
            )
            if found is None:
                raise UnknownCallError(call_id)
            last = await conn.scalar(
                select(func.coalesce(func.max(steps_table.c.seq), -1)).where(
                    steps_table.c.call_id == call_id
                )
            )
            await _insert_steps(conn, call_id, int(last) + 1, steps)

    async def save(self, record: CallRecord) -> None:
        """Idempotent write of a whole snapshot (the journal retries it after any failure, even
        one that came after the commit): insert the call if it is new, else append only the
        steps beyond those stored and update the row. A stale snapshot (fewer steps than
        stored) changes nothing, so an old write replayed late never undoes a newer one."""
        async with self._writer.begin() as conn:
            found = await conn.scalar(
                select(calls.c.call_id).where(calls.c.call_id == record.call_id).with_for_update()
            )
            if found is None:
                await conn.execute(insert(calls), [self._values(record)])
                await _insert_steps(conn, record.call_id, 0, record.steps)
                return
            stored = await conn.scalar(
                select(func.coalesce(func.max(steps_table.c.seq), -1) + 1).where(
                    steps_table.c.call_id == record.call_id
                )
            )
            if len(record.steps) < int(stored):
                return
            await _insert_steps(conn, record.call_id, int(stored), record.steps[int(stored) :])
            await conn.execute(
                update(calls)
                .where(calls.c.call_id == record.call_id)
                .values(_decided_values(record))
            )

    async def update(self, record: CallRecord) -> bool:
        """Store what the flow decided; ``True`` if the call exists.

        Never erases what ``mark_ended`` (driven by Asterisk, possibly first) stored: the earliest
        end wins and a missing queue status or agent keeps the stored one.
        """
        return await self._update(record.call_id, _decided_values(record))

    async def mark_ended(
        self,
        call_id: str,
        ended_at: datetime,
        queue_status: str | None,
        agent_interface: str | None,
    ) -> bool:
        """Record the hang-up; ``False`` (not an error) if the call is unknown.

        An earlier stored ``ended_at`` is kept; non-empty ``queue_status``/``agent_interface``
        always replace the stored ones.
        """
        values: dict[str, Any] = {
            "ended_at": _earliest_end(ended_at),
            # a routed call a resync took for lost has reported its end after all
            "outcome": case(
                (
                    (calls.c.outcome == CallOutcome.LOST) & calls.c.route.is_not(None),
                    literal(CallOutcome.ROUTED.value),
                ),
                else_=calls.c.outcome,
            ),
        }
        if queue_status:
            values["queue_status"] = queue_status
        if agent_interface:
            values["agent_interface"] = agent_interface
        return await self._update(call_id, values)

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(calls).where(calls.c.call_id == call_id))).first()
            if row is None:
                return None
            step_rows = await conn.execute(
                select(steps_table)
                .where(steps_table.c.call_id == call_id)
                .order_by(steps_table.c.seq)
            )
            return _record(row, [_step(s) for s in step_rows])

    async def call_ids_of(self, unique_ids: Sequence[str]) -> dict[str, str]:
        """Our call id per Asterisk ``Uniqueid`` (the live calls the dashboard shows)."""
        if not unique_ids:
            return {}
        query = select(calls.c.unique_id, calls.c.call_id).where(
            calls.c.unique_id.in_(list(unique_ids))
        )
        async with self._engine.connect() as conn:
            return {r.unique_id: r.call_id for r in await conn.execute(query)}

    async def list_since(self, since: datetime) -> list[CallRecord]:
        """Calls started at or after ``since``, oldest first; two queries however many calls."""
        started = calls.c.started_at >= since
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(calls).where(started).order_by(calls.c.started_at, calls.c.call_id)
                )
            ).all()
            if not rows:
                return []
            by_call: defaultdict[str, list[CallStep]] = defaultdict(list)
            step_rows = await conn.execute(
                select(steps_table)
                .where(steps_table.c.call_id.in_(select(calls.c.call_id).where(started)))
                .order_by(steps_table.c.call_id, steps_table.c.seq)
            )
            for s in step_rows:
                by_call[s.call_id].append(_step(s))
        return [_record(row, by_call.get(row.call_id, [])) for row in rows]

    async def close_lost(
        self,
        present_uids: set[str],
        started_before: datetime,
        at: datetime,
        cut_since: datetime | None = None,
    ) -> int:
        """Close as ``lost`` the calls whose channel Asterisk no longer has and whose end we
        never learnt: still ``in_menu`` (a bridge died with them), or routed with no end (the
        hang-up handler's report never came). Returns how many. Young rows are left alone (a
        call may be entering the menu right now).

        ``cut_since``: Asterisk restarted, and its shutdown ended calls from then on: a call
        that "hung up in the menu", failed, or left its queue unanswered after that instant
        was cut, not abandoned, and is ``lost`` too.

        Only this bridge's server's calls: another server's channels are not in its list."""
        gone = (calls.c.started_at < started_before) & (calls.c.server_name == self._server)
        open_ = (calls.c.outcome == CallOutcome.IN_MENU) | (
            (calls.c.outcome == CallOutcome.ROUTED) & calls.c.ended_at.is_(None)
        )
        where = gone & open_
        if cut_since is not None:
            cut = (calls.c.ended_at >= cut_since) & (
                calls.c.outcome.in_([CallOutcome.ABANDONED_IN_MENU, CallOutcome.FAILED])
                | (
                    (calls.c.outcome == CallOutcome.ROUTED)
                    & calls.c.agent_interface.is_(None)
                    & calls.c.queue_status.is_(None)
                )
            )
            where = gone & (open_ | cut)
        async with self._writer.begin() as conn:
            rows = await conn.execute(select(calls.c.call_id, calls.c.unique_id).where(where))
            lost = [r.call_id for r in rows if r.unique_id not in present_uids]
            if lost:
                await conn.execute(
                    update(calls)
                    .where(calls.c.call_id.in_(lost))
                    .values(outcome=CallOutcome.LOST, ended_at=_earliest_end(at))
                )
        return len(lost)

    async def _update(self, call_id: str, values: dict[str, Any]) -> bool:
        async with self._writer.begin() as conn:
            result: CursorResult[Any] = await conn.execute(
                update(calls).where(calls.c.call_id == call_id).values(values)
            )
            return result.rowcount > 0


def _earliest_end(ended_at: datetime | None) -> ColumnElement[Any]:
    """SQL for "the earlier of the stored and the given end", ignoring a missing one."""
    stored = calls.c.ended_at
    if ended_at is None:
        return stored
    given = literal(ended_at, stored.type)
    return case((and_(stored.is_not(None), stored < given), stored), else_=given)


async def _insert_steps(
    conn: AsyncConnection, call_id: str, first_seq: int, new_steps: Sequence[CallStep]
) -> None:
    if not new_steps:
        return
    await conn.execute(
        insert(steps_table),
        [
            {
                "call_id": call_id,
                "seq": first_seq + i,
                "at": step.at,
                "kind": step.kind,
                "node": step.node,
                "key": step.key,
                "detail": step.detail,
            }
            for i, step in enumerate(new_steps)
        ],
    )


def _decided_values(record: CallRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "outcome": record.outcome,
        "route": record.route,
        "choice": record.choice,
        "menu_path": list(record.menu_path),
        "keys": record.keys,
        "ended_at": _earliest_end(record.ended_at),
        "outage_id": record.outage_id,
        "informed": record.informed,
    }
    if record.queue_status:
        values["queue_status"] = record.queue_status
    if record.agent_interface:
        values["agent_interface"] = record.agent_interface
    return values


def _call_values(record: CallRecord) -> dict[str, Any]:
    return {
        "call_id": record.call_id,
        "unique_id": record.unique_id,
        "caller_number": record.caller_number,
        "dialed_number": record.dialed_number,
        "channel_name": record.channel_name,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "outcome": record.outcome,
        "route": record.route,
        "choice": record.choice,
        "menu_path": list(record.menu_path),
        "keys": record.keys,
        "queue_status": record.queue_status,
        "agent_interface": record.agent_interface,
        "outage_id": record.outage_id,
        "informed": record.informed,
    }


def _step(row: Row[Any]) -> CallStep:
    return CallStep(at=row.at, kind=row.kind, node=row.node, key=row.key, detail=row.detail)


def _record(row: Row[Any], call_steps: list[CallStep]) -> CallRecord:
    return CallRecord(
        call_id=row.call_id,
        unique_id=row.unique_id,
        caller_number=row.caller_number,
        dialed_number=row.dialed_number,
        channel_name=row.channel_name,
        started_at=row.started_at,
        outcome=row.outcome,
        ended_at=row.ended_at,
        route=row.route,
        choice=row.choice,
        menu_path=list(row.menu_path or []),
        keys=row.keys,
        queue_status=row.queue_status,
        agent_interface=row.agent_interface,
        outage_id=row.outage_id,
        informed=bool(row.informed),
        steps=call_steps,
    )
