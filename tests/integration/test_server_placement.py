"""Several Asterisk servers on one database (SQLite and PostgreSQL), with a clock the test
moves: each claim is stored with the server that places it, a server's own cap counts every
kind of outbound call placed through it while the centre's cap counts all, and a lost server's
open calls and queue visits are closed as lost, with the reason, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from ivr.calendar_cn import china_is_workday
from ivr.db.callback_store import SqlCallbacks
from ivr.db.calls import SqlCallRepository
from ivr.db.engine import create_engine
from ivr.db.models import calls_table, visits_table
from ivr.db.servers import SqlServers
from ivr.db.tracking import SqlVisitRepository
from ivr.db.workorder_models import attempts_table, dialer_state_table
from ivr.db.workorders import SqlWorkOrders
from ivr.domain.calls import CallOutcome, CallRecord
from ivr.domain.queue_calls import QueueVisit, VisitOutcome
from ivr.domain.servers import Placement
from ivr.services.server_watch import ServerWatch
from tests.integration.test_callback_store import POLICY, Clock, closed_repairs


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[object]:
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(update(dialer_state_table).values(next_slot_at=Clock().now))
    yield engine
    await engine.dispose()


async def test_claims_carry_their_server_and_each_server_keeps_its_own_cap(engine) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    orders = SqlWorkOrders(engine, china_is_workday, POLICY, clock)
    await closed_repairs(orders, 6)
    on_a = SqlCallbacks(engine, POLICY, clock, Placement("asterisk-a", max_outbound=2))
    on_b = SqlCallbacks(engine, POLICY, clock, Placement("asterisk-b"))
    # a's trunk takes two however much room the centre has; b takes the rest up to the centre's 5
    assert len(await on_a.claim("a1", max_live=5, min_gap_s=0.1, lease_s=30, limit=10)) == 2
    assert await on_a.claim("a2", max_live=5, min_gap_s=0.1, lease_s=30, limit=10) == []
    assert len(await on_b.claim("b1", max_live=5, min_gap_s=0.1, lease_s=30, limit=10)) == 3
    assert await on_b.claim("b1", max_live=5, min_gap_s=0.1, lease_s=30, limit=10) == []
    async with engine.connect() as conn:
        rows = (await conn.execute(select(attempts_table))).all()
    by_server = {r.claimed_by: r.server_name for r in rows}
    assert by_server == {"a1": "asterisk-a", "b1": "asterisk-b"}
    assert len({r.task_id for r in rows}) == len(rows) == 5  # no task claimed twice


def call(call_id: str, at: datetime) -> CallRecord:
    return CallRecord(call_id, f"uid-{call_id}", "13800001111", "95598", "PJSIP/t-1", at)


async def test_a_lost_server_has_its_open_calls_closed_as_lost_once(engine) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    start = clock.now
    await SqlCallRepository(engine, "asterisk-b").add(call("b-open", start))
    await SqlCallRepository(engine, "asterisk-a").add(call("a-open", start))
    visit = QueueVisit("uid-b-open", "q-repair", "13800001111", 1_000_000)
    await SqlVisitRepository(engine, "asterisk-b").save(visit)
    await closed_repairs(SqlWorkOrders(engine, china_is_workday, POLICY, clock), 2)
    on_a = SqlCallbacks(engine, POLICY, clock, Placement("asterisk-a"))
    on_b = SqlCallbacks(engine, POLICY, clock, Placement("asterisk-b"))
    [on_b_claim] = await on_b.claim("b1", max_live=5, min_gap_s=0.1, lease_s=600, limit=1)
    [on_a_claim] = await on_a.claim("a1", max_live=5, min_gap_s=0.1, lease_s=600, limit=1)
    watches = {
        name: ServerWatch(
            SqlServers(engine, clock, server),
            owner=name,
            server=server,
            heartbeat_s=5,
            lost_after_s=30,
            clock=clock,
            alive=lambda: True,
        )
        for name, server in [("a1", "asterisk-a"), ("a2", "asterisk-a"), ("b1", "asterisk-b")]
    }
    for _ in range(2):  # each beats, and each sees the others' heartbeats
        for watch in watches.values():
            assert await watch.run_once() == []
    # b's only bridge goes silent; a's bridges beat on, and both judge b once it is stale
    clock.now = start + timedelta(seconds=31)
    assert await watches["a1"].run_once() == ["asterisk-b"]
    assert await watches["a2"].run_once() == []  # done once, by whichever came first
    async with engine.connect() as conn:
        calls = {r.call_id: r for r in await conn.execute(select(calls_table))}
        [visit_row] = (await conn.execute(select(visits_table))).all()
    assert calls["b-open"].outcome == CallOutcome.LOST
    assert calls["b-open"].lost_reason.startswith("server asterisk-b lost")
    assert calls["a-open"].outcome == CallOutcome.IN_MENU and calls["a-open"].lost_reason is None
    assert visit_row.outcome == VisitOutcome.LOST and "asterisk-b lost" in visit_row.note
    assert visit_row.server_name == "asterisk-b"
    # b's claim is recovered at the next round, not when its lease would have run out; a's stays
    clock.now += timedelta(seconds=1)
    assert await on_a.recover() == 1
    async with engine.connect() as conn:
        left = [r.action_id for r in await conn.execute(select(attempts_table))]
    assert left == [on_a_claim.action_id] and on_b_claim.action_id not in left
    # b comes back: alive again, nothing more is closed
    assert await watches["b1"].run_once() == []
    clock.now += timedelta(seconds=4)
    assert await watches["a1"].run_once() == []


async def test_a_server_whose_host_clock_runs_behind_is_not_taken_for_lost(engine) -> None:  # type: ignore[no-untyped-def]
    """b's host clock runs ten minutes behind a's. While b's bridge beats, a never closes b's
    live call; once b is silent for the limit on a's clock, it does, once."""
    clock = Clock()
    start = clock.now
    b_clock = Clock()
    b_clock.now = start - timedelta(minutes=10)
    await SqlCallRepository(engine, "asterisk-b").add(call("b-open", b_clock.now))

    def watch(server: str, owner: str, its_clock: Clock) -> ServerWatch:
        return ServerWatch(
            SqlServers(engine, its_clock, server),
            owner=owner,
            server=server,
            heartbeat_s=5,
            lost_after_s=30,
            clock=its_clock,
            alive=lambda: True,
        )

    on_a, on_b = watch("asterisk-a", "a1", clock), watch("asterisk-b", "b1", b_clock)
    for _ in range(12):  # a minute of heartbeats
        assert await on_b.run_once() == []
        assert await on_a.run_once() == []
        clock.now += timedelta(seconds=5)
        b_clock.now += timedelta(seconds=5)
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(calls_table))).all()
    assert row.outcome == CallOutcome.IN_MENU
    # b's bridge stops beating (killed): lost after 30 s on a's clock, not before
    clock.now += timedelta(seconds=25)
    assert await on_a.run_once() == []
    clock.now += timedelta(seconds=10)
    assert await on_a.run_once() == ["asterisk-b"]
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(calls_table))).all()
    assert row.outcome == CallOutcome.LOST
