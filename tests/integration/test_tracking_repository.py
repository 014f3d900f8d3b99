"""Queue visits, ring attempts and agents on real SQLite and real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.db.tracking import AgentError, SqlAgentDirectory, SqlVisitRepository, datetime_to_us
from ivr.domain.agents import Agent
from ivr.domain.queue_calls import QueueVisit, RingAttempt, RingEnd, VisitOutcome


def visit(uid: str, at: datetime) -> QueueVisit:
    return QueueVisit(uid, "q-repair", "13800000000", datetime_to_us(at))


async def test_visit_round_trip_and_update(db_engine: AsyncEngine) -> None:
    repo = SqlVisitRepository(db_engine)
    now = datetime.now(UTC).replace(microsecond=123456)
    waiting = visit("1.1", now)
    await repo.save(waiting)
    assert await repo.open_visits() == [waiting]
    us = waiting.joined_us
    done = replace(
        waiting,
        outcome=VisitOutcome.ANSWERED,
        rings=(
            RingAttempt("Local/1@x/n", "a", us, us + 15_000_000, RingEnd.NO_ANSWER),
            RingAttempt(
                "Local/2@x/n", "1002", us + 16_000_000, us + 19_250_000, RingEnd.ANSWERED, "1002"
            ),
        ),
        agent_interface="Local/2@x/n",
        agent_job_number="1002",  # the first ring's agent was not known: stays None
        answered_us=us + 19_250_000,
        ring_to_answer_ms=3250,
        queue_wait_ms=19250,
        ended_us=us + 60_000_000,
        talk_ms=40750,
        transferred=True,
    )
    await repo.save(done)
    await repo.save(done)  # a replay changes nothing
    assert await repo.open_visits() == []
    got = await repo.between(now - timedelta(seconds=1), now + timedelta(seconds=1))
    assert got == [done]
    assert await repo.between(now + timedelta(seconds=1), now + timedelta(hours=1)) == []


async def test_visit_outcome_is_checked(db_engine: AsyncEngine) -> None:
    await SqlVisitRepository(db_engine).save(visit("1.2", datetime.now(UTC)))
    with pytest.raises(IntegrityError):
        async with db_engine.begin() as conn:
            await conn.execute(text("UPDATE queue_visits SET outcome = 'bogus'"))


async def test_agents(db_engine: AsyncEngine) -> None:
    agents = SqlAgentDirectory(db_engine)
    agent = Agent("1024", "王**", "Local/1024@sim-agents/n", ("q-repair", "q-general"))
    await agents.put(agent)
    await agents.put(replace(agent, skills=("q-repair",)))
    assert await agents.get("1024") == replace(agent, skills=("q-repair",))
    assert await agents.by_interface("Local/1024@sim-agents/n") is not None
    assert [a.job_number for a in await agents.all()] == ["1024"]
    with pytest.raises(AgentError):
        await agents.put(replace(agent, job_number="10a"))
    with pytest.raises(IntegrityError):  # one interface, one agent
        await agents.put(replace(agent, job_number="2048"))


async def test_save_many_stores_a_burst_in_one_go(db_engine: AsyncEngine) -> None:
    """New and already stored visits together, more than one IN list's worth, a visit given
    twice stored as its last state, rings replaced."""
    repo = SqlVisitRepository(db_engine)
    now = datetime.now(UTC).replace(microsecond=0)
    early = [visit(f"2.{n}", now + timedelta(milliseconds=n)) for n in range(300)]
    await repo.save_many(early)
    us = early[0].joined_us
    ring = RingAttempt("Local/1@x/n", "a", us, us + 2_000_000, RingEnd.ANSWERED)
    answered = [
        replace(v, outcome=VisitOutcome.ANSWERED, rings=(ring,), answered_us=us + 2_000_000)
        for v in early
    ]
    later = [visit(f"3.{n}", now + timedelta(seconds=1, milliseconds=n)) for n in range(400)]
    ended = replace(answered[0], outcome=VisitOutcome.ABANDONED, rings=(), answered_us=None)
    await repo.save_many([*answered, *later, ended])
    got = await repo.between(now - timedelta(seconds=1), now + timedelta(seconds=3))
    assert len(got) == 700
    assert got[0] == ended
    assert got[1:300] == answered[1:]
    assert got[300:] == later


async def test_save_many_is_all_or_nothing(db_engine: AsyncEngine) -> None:
    """A batch the database refuses stores none of its visits (the writer retries it whole)."""
    repo = SqlVisitRepository(db_engine)
    now = datetime.now(UTC)
    good = visit("4.1", now)
    broken = replace(visit("4.2", now), queue=None)  # type: ignore[arg-type]  # NOT NULL
    with pytest.raises(IntegrityError):
        await repo.save_many([good, broken])
    assert await repo.open_visits() == []
    await repo.save_many([good])
    assert await repo.open_visits() == [good]
