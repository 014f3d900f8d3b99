"""Queue visits, their ring attempts, and the agents table, on SQLAlchemy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ivr.db.engine import writer
from ivr.db.models import agents_table as agents
from ivr.db.models import rings_table as rings
from ivr.db.models import visits_table as visits
from ivr.db.store import chunked
from ivr.domain.agents import JOB_NUMBER, Agent
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome
from ivr.domain.servers import DEFAULT_SERVER_NAME

_OPEN = (VisitOutcome.WAITING, VisitOutcome.TALKING)
_BATCH = 500  # rows read (and visits built) between two turns of the event loop


def us_to_datetime(at_us: int) -> datetime:
    return datetime.fromtimestamp(at_us / 1_000_000, UTC)


def datetime_to_us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


class SqlVisitRepository:
    """One row per queue visit, written when it starts, changes and ends (upsert by the
    caller channel's Uniqueid and the join instant, so replays are harmless)."""

    def __init__(self, engine: AsyncEngine, server: str = DEFAULT_SERVER_NAME) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._server = server  # the Asterisk this bridge serves: on every visit and ring

    async def save(self, visit: QueueVisit) -> None:
        await self.save_many([visit])

    async def save_many(self, batch: Sequence[QueueVisit]) -> None:
        """Store the latest state of each visit in ``batch`` in one transaction (all or none):
        one commit per visit change kept the stored picture tens of seconds behind a burst
        of calls. A visit given twice is stored as its last state."""
        latest = {(v.unique_id, v.joined_us): v for v in batch}
        if not latest:
            return
        async with self._writer.begin() as conn:
            ids = await _ids_of(conn, latest)
            new = [v for key, v in latest.items() if key not in ids]
            old = [(ids[key], v) for key, v in latest.items() if key in ids]
            if new:
                await conn.execute(insert(visits), [_visit_values(v) | self._here for v in new])
                ids.update(await _ids_of(conn, {(v.unique_id, v.joined_us): v for v in new}))
            if old:
                await conn.execute(
                    update(visits).where(visits.c.id == bindparam("visit_id")),
                    [{"visit_id": visit_id, **_visit_values(v)} for visit_id, v in old],
                )
                await conn.execute(
                    delete(rings).where(rings.c.visit_id.in_([visit_id for visit_id, _ in old]))
                )
            ring_rows = [
                _ring_values(ids[key], seq, r) | self._here
                for key, v in latest.items()
                for seq, r in enumerate(v.rings)
            ]
            if ring_rows:
                await conn.execute(insert(rings), ring_rows)

    @property
    def _here(self) -> dict[str, str]:
        return {"server_name": self._server}

    async def between(self, start: datetime, end: datetime) -> list[QueueVisit]:
        """Visits that joined a queue in [start, end), oldest first."""
        where = (visits.c.joined_at >= start) & (visits.c.joined_at < end)
        return await self._load(where)

    async def open_visits(self) -> list[QueueVisit]:
        """Visits on this bridge's server not finished as far as the database knows (live, or
        left by a dead bridge); another server's are its own bridges' to follow."""
        return await self._load(
            visits.c.outcome.in_(_OPEN) & (visits.c.server_name == self._server)
        )

    async def _load(self, where: Any) -> list[QueueVisit]:
        """Visits and their rings, streamed in batches: one query per visit made a month's
        report take 30 s for 20 000 calls, and reading 100 000 rows in one go held the event
        loop (calls, AMI events) for seconds. Rows are turned into domain objects batch by
        batch and dropped, so the garbage collector has half as much to walk; 500 rows at a
        time keep each turn under ~10 ms (1 000 made 16-20 ms stalls at 100 000 calls)."""
        rings_of: dict[int, list[RingAttempt]] = {}
        result: list[QueueVisit] = []
        async with self._engine.connect() as conn:
            ring_rows = await conn.stream(
                select(rings)
                .join(visits, visits.c.id == rings.c.visit_id)
                .where(where)
                .order_by(rings.c.visit_id, rings.c.seq)
            )
            async for batch in ring_rows.partitions(_BATCH):
                for r in batch:
                    rings_of.setdefault(r.visit_id, []).append(
                        RingAttempt(
                            r.interface,
                            r.member_name,
                            r.started_us,
                            r.ended_us,
                            RingEnd(r.end) if r.end else None,
                            r.job_number,
                        )
                    )
            visit_rows = await conn.stream(select(visits).where(where).order_by(visits.c.joined_us))
            async for batch in visit_rows.partitions(_BATCH):
                result.extend(_visit(row, tuple(rings_of.pop(row.id, ()))) for row in batch)
        return result


async def _ids_of(
    conn: AsyncConnection, keyed: dict[tuple[str, int], QueueVisit]
) -> dict[tuple[str, int], int]:
    """The row ids of those visits already stored, by (Uniqueid, join instant)."""
    found: dict[tuple[str, int], int] = {}
    uids = sorted({uid for uid, _ in keyed})
    for chunk in chunked(uids):
        rows = await conn.execute(
            select(visits.c.id, visits.c.unique_id, visits.c.joined_us).where(
                visits.c.unique_id.in_(chunk)
            )
        )
        for row in rows:
            if (row.unique_id, row.joined_us) in keyed:
                found[(row.unique_id, row.joined_us)] = row.id
    return found


def _visit(row: Row[Any], ring_attempts: tuple[RingAttempt, ...]) -> QueueVisit:
    return QueueVisit(
        unique_id=row.unique_id,
        queue=row.queue,
        caller_number=row.caller_number,
        joined_us=row.joined_us,
        outcome=VisitOutcome(row.outcome),
        rings=ring_attempts,
        agent_interface=row.agent_interface,
        agent_name=row.agent_name,
        agent_channel_uid=row.agent_channel_uid,
        answered_us=row.answered_us,
        ring_to_answer_ms=row.ring_to_answer_ms,
        queue_wait_ms=row.queue_wait_ms,
        left_us=row.left_us,
        ended_us=row.ended_us,
        talk_ms=row.talk_ms,
        transferred=row.transferred,
        note=row.note,
        agent_job_number=row.agent_job_number,
    )


def _visit_values(v: QueueVisit) -> dict[str, Any]:
    return {
        "unique_id": v.unique_id,
        "queue": v.queue,
        "caller_number": v.caller_number,
        "joined_at": us_to_datetime(v.joined_us),
        "joined_us": v.joined_us,
        "outcome": v.outcome,
        "agent_interface": v.agent_interface,
        "agent_name": v.agent_name,
        "agent_channel_uid": v.agent_channel_uid,
        "answered_us": v.answered_us,
        "ring_to_answer_ms": v.ring_to_answer_ms,
        "queue_wait_ms": v.queue_wait_ms,
        "left_us": v.left_us,
        "ended_us": v.ended_us,
        "talk_ms": v.talk_ms,
        "transferred": v.transferred,
        "note": v.note,
        "agent_job_number": v.agent_job_number,
    }


def _ring_values(visit_id: int, seq: int, ring: RingAttempt) -> dict[str, Any]:
    return {
        "visit_id": visit_id,
        "seq": seq,
        "interface": ring.interface,
        "member_name": ring.member_name,
        "started_us": ring.started_us,
        "ended_us": ring.ended_us,
        "duration_ms": ring.duration_ms,
        "end": ring.end,
        "job_number": ring.job_number,
    }


class AgentError(ValueError):
    """An agent record that cannot be stored as given."""


class SqlAgentDirectory:
    """Agents and their job numbers (工号)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    async def put(self, agent: Agent) -> None:
        if not JOB_NUMBER.match(agent.job_number):
            raise AgentError("a job number (工号) is 1-16 digits")
        values = {
            "job_number": agent.job_number,
            "name": agent.name,
            "interface": agent.interface,
            "skills": list(agent.skills),
            "device": agent.device,
        }
        async with self._writer.begin() as conn:
            found = await conn.scalar(
                select(agents.c.job_number).where(agents.c.job_number == agent.job_number)
            )
            if found is None:
                await conn.execute(insert(agents).values(values))
            else:
                await conn.execute(
                    update(agents).where(agents.c.job_number == agent.job_number).values(values)
                )

    async def get(self, job_number: str) -> Agent | None:
        return await self._one(agents.c.job_number == job_number)

    async def by_interface(self, interface: str) -> Agent | None:
        return await self._one(agents.c.interface == interface)

    async def all(self) -> list[Agent]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(agents).order_by(agents.c.job_number))).all()
        return [_agent(r) for r in rows]

    async def _one(self, where: Any) -> Agent | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(agents).where(where))).first()
        return _agent(row) if row else None


def _agent(row: Row[Any]) -> Agent:
    return Agent(row.job_number, row.name, row.interface, tuple(row.skills), row.device)
