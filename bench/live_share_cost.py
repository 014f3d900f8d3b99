"""What sharing the live picture costs a bridge (docs/several-bridges.md), on PostgreSQL.

Two measurements in one run:

1. **Ingest with and without sharing**: the AMI ingest stream (``bench/ami_stream.py``, N
   queued calls replayed at full speed) through the bridge's path (``AmiClient`` →
   ``TrackerLink`` → ``CallTracking``, visits written to PostgreSQL), first alone (the
   baseline), then with the picture shared as the bridge shares it (every event marks it
   dirty; a writer stores it at most every ``publish_interval_s``; a second bridge listens and
   reads). Reports events/s of each and their ratio, and the picture writes made.
2. **One write at storm size**: a picture of C callers waiting and A agents built, written
   (upsert, expiry delete, ``pg_notify``: one transaction) and read back and merged by another
   bridge; mean milliseconds of each, the row's size, and the share of one core the writer
   takes at one write per ``publish_interval_s``.

Run: ``.venv/bin/python -m bench.live_share_cost --db postgresql+asyncpg://…/ivr_test_x
--calls 2000 --callers 500 --agents 300`` (no sandbox; the database is emptied: it must be a
test database). The machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.ami_stream import ReplayAmi, Stream, synthesize
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.db.engine import create_engine
from ivr.db.live_state import SqlLivePictures
from ivr.db.migrate import upgrade
from ivr.db.notify import PgChangeFeed
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.domain.agents import Agent
from ivr.domain.live_picture import BridgePicture, SharedAgent, SharedCall, merge
from ivr.services.call_tracking import CallTracking
from ivr.services.dashboard import DashboardSource
from ivr.services.live_share import LiveShare, LiveTiming

TIMING = LiveTiming(publish_interval_s=0.3, heartbeat_s=2.0, expire_s=10.0)


async def ingest(stream: Stream, db_url: str, share: bool) -> tuple[float, int, float]:
    """(seconds to the last event handled, picture writes, mean write ms)."""
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE ring_attempts, queue_visits, live_pictures"))
    directory = SqlAgentDirectory(engine)
    for job in ("1001", "1002"):
        await directory.put(Agent(job, job, f"Local/{job}@sim-agents/n", ("q-repair",)))
    tracking = CallTracking(SqlVisitRepository(engine), now_us, agents=directory)
    await tracking.start()
    stops: list[Callable[[], Awaitable[None]]] = []
    writer: LiveShare | None = None
    if share:
        dashboard = DashboardSource(tracking, directory, ZoneInfo("Asia/Shanghai"))
        dashboard.bridge, dashboard.server = "bench-a", "ast-1"

        async def picture() -> BridgePicture:
            await dashboard.directory_current()
            return dashboard.local_picture()

        store = SqlLivePictures(engine, _utc_now, TIMING.expire_s)
        writer = LiveShare("bench-a", store, None, picture, TIMING)
        tracking.listeners.append(lambda _e, _v: writer.changed())  # type: ignore[union-attr]
        feed = PgChangeFeed(engine)
        reader = LiveShare("bench-b", store, feed, _nothing, TIMING)  # the other bridge
        feed.start()
        await asyncio.wait_for(feed.connected.wait(), 10)
        writer.start()
        reader.start()
        stops += [writer.stop, reader.stop, feed.stop]
    peer = ReplayAmi(stream)
    port = await peer.start()
    ami = AmiClient("127.0.0.1", port, "u", "s")
    link = TrackerLink(ami, tracking)
    ended = asyncio.Event()
    ami.on_event("UserEvent", lambda _e: ended.set())
    try:
        await ami.connect()
        await asyncio.wait_for(link.resynced.wait(), 10)
        started = time.perf_counter()
        await peer.replay()
        await asyncio.wait_for(ended.wait(), 600)
        took = time.perf_counter() - started
        await tracking.flushed()
        await asyncio.sleep(TIMING.publish_interval_s * 2)  # the last change written
    finally:
        for stop in stops:
            await stop()
        await link.stop()
        await ami.close()
        await tracking.stop()
        await peer.close()
        await engine.dispose()
    if writer is None:
        return took, 0, 0.0
    return took, writer.cost.writes, writer.cost.mean_ms


async def _nothing() -> BridgePicture:
    return BridgePicture("bench-b", "ast-2", now_us() // 1000)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def storm_picture(callers: int, agents: int, bridge: str = "bench-a") -> BridgePicture:
    now_ms = now_us() // 1000
    return BridgePicture(
        bridge=bridge,
        server="ast-1",
        at_ms=now_ms,
        calls=tuple(
            SharedCall(
                "ast-1",
                f"{now_ms}.{i}",
                f"q-{i % 5}",
                "138******01",
                "waiting",
                now_ms - i * 100,
                ringing=(f"{1000 + i % agents}",) if i % 7 == 0 else (),
            )
            for i in range(callers)
        ),
        agents=tuple(
            SharedAgent(
                "ast-1",
                f"Local/{1000 + i}@agents",
                f"{1000 + i}",
                "张三",
                ("q-0", "q-1"),
                (),
                "talking",
                "in_call",
            )
            for i in range(agents)
        ),
    )


async def write_cost(db_url: str, callers: int, agents: int, rounds: int) -> dict[str, float]:
    engine = create_engine(db_url)
    store = SqlLivePictures(engine, _utc_now, TIMING.expire_s)
    picture = storm_picture(callers, agents)
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            size = len(picture.to_json())
        encode_ms = 1000 * (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for _ in range(rounds):
            await store.publish(picture)
        write_ms = 1000 * (time.perf_counter() - started) / rounds
        own = storm_picture(0, 0, "bench-b")
        started = time.perf_counter()
        for _ in range(rounds):
            merged = merge(own, await store.others("bench-b"))
        read_ms = 1000 * (time.perf_counter() - started) / rounds
        assert len(merged.calls) == callers and len(merged.agents) == agents
        await store.withdraw("bench-a")
    finally:
        await engine.dispose()
    return {"bytes": size, "encode_ms": encode_ms, "write_ms": write_ms, "read_ms": read_ms}


async def main(db_url: str, calls: int, callers: int, agents: int, rounds: int) -> dict[str, float]:
    if "test" not in (make_url(db_url).database or ""):
        raise SystemExit("--db must name a test database (it is emptied)")
    logging.getLogger("ivr").setLevel(logging.WARNING)
    await upgrade(db_url)
    stream = synthesize(calls)
    alone, _, _ = await ingest(stream, db_url, share=False)
    shared, writes, mean_ms = await ingest(stream, db_url, share=True)
    rate_alone, rate_shared = stream.events / alone, stream.events / shared
    print(f"stream: {calls} calls, {stream.events} events (PostgreSQL)")
    print(f"{'path':<34} {'seconds':>8} {'events/s':>10} {'vs alone':>9}")
    print(f"{'tracked, not shared (baseline)':<34} {alone:>8.2f} {rate_alone:>10.0f} {1:>8.2f}x")
    print(
        f"{'tracked and shared':<34} {shared:>8.2f} {rate_shared:>10.0f} "
        f"{rate_shared / rate_alone:>8.2f}x"
    )
    print(f"picture writes during the replay: {writes} (mean {mean_ms:.2f} ms each)")
    cost = await write_cost(db_url, callers, agents, rounds)
    duty = (cost["encode_ms"] + cost["write_ms"]) / (1000 * TIMING.publish_interval_s)
    print(
        f"storm picture ({callers} callers waiting, {agents} agents): {cost['bytes'] / 1e3:.0f} kB;"
        f" encoded {cost['encode_ms']:.2f} ms, written {cost['write_ms']:.2f} ms,"
        f" read+merged by another bridge {cost['read_ms']:.2f} ms;"
        f" at one write per {TIMING.publish_interval_s:g} s: {100 * duty:.1f} % of one core"
        " (wall time, database included)"
    )
    return {
        "alone_s": alone,
        "shared_s": shared,
        "ratio": rate_shared / rate_alone,
        "writes": writes,
        **cost,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL test database (emptied!)")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--callers", type=int, default=500)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.calls, args.callers, args.agents, args.rounds))
