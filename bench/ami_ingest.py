"""AMI event ingest: events per second our path parses and tracks, against bare panoramisk.

A loopback AMI peer (``bench/ami_stream.py``) replays the same realistic byte stream of N
queued calls at full speed to two clients in turn, in the same run:

- baseline: panoramisk's ``Manager`` on its own, parsing every event into a ``Message`` and
  dispatching it to nothing (only the closing ``UserEvent`` is listened for);
- ours: the bridge's path, ``AmiClient`` → ``TrackerLink`` → ``ami_events`` parsing →
  ``CallTracking`` → the ``queue_calls`` state machine, with the visits written to SQLite by
  the tracking's writer task (off the event path, as in the bridge).

Reports events/s to the last event handled for each, their ratio, and how long after that the
visits were all stored; checks the tracked outcomes against the calls the stream holds. Run:
``.venv/bin/python -m bench.ami_ingest --calls 2000`` (no sandbox, no root; under a minute;
``--db postgresql+asyncpg://…`` stores the visits in a PostgreSQL database it may empty).
The machine is shared: compare the ratio within one run rather than absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

from panoramisk import Manager
from sqlalchemy import text

from bench.ami_stream import ReplayAmi, Stream, synthesize
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.domain.agents import Agent
from ivr.services.call_tracking import CallTracking


async def _replay_until_end(peer: ReplayAmi, ended: asyncio.Event) -> float:
    started = time.perf_counter()
    await peer.replay()
    await asyncio.wait_for(ended.wait(), 600)
    return time.perf_counter() - started


async def bare_panoramisk(stream: Stream) -> float:
    """Seconds for panoramisk alone to take in the whole stream."""
    peer = ReplayAmi(stream)
    port = await peer.start()
    ended = asyncio.Event()
    manager = Manager(host="127.0.0.1", port=port, username="u", secret="s", ping_delay=60)
    manager.register_event("UserEvent", lambda _m, _e: ended.set())
    try:
        await manager.connect()
        await asyncio.wait_for(peer.connected.wait(), 10)
        await asyncio.sleep(0.1)  # the login response is in
        return await _replay_until_end(peer, ended)
    finally:
        manager.close()
        await peer.close()


async def our_path(stream: Stream, db_url: str) -> tuple[float, float, Counter[str]]:
    """(seconds to the last event handled, seconds more until stored, outcomes stored)."""
    await upgrade(db_url)
    engine = create_engine(db_url)
    visits = SqlVisitRepository(engine)
    directory = SqlAgentDirectory(engine)  # the stream's agents: every ring is named by 工号
    for job in ("1001", "1002"):
        await directory.put(Agent(job, job, f"Local/{job}@sim-agents/n", ("q-repair",)))
    tracking = CallTracking(visits, now_us, agents=directory)
    await tracking.start()
    peer = ReplayAmi(stream)
    port = await peer.start()
    ami = AmiClient("127.0.0.1", port, "u", "s")
    link = TrackerLink(ami, tracking)
    ended = asyncio.Event()
    ami.on_event("UserEvent", lambda _e: ended.set())
    try:
        await ami.connect()
        await asyncio.wait_for(link.resynced.wait(), 10)
        took = await _replay_until_end(peer, ended)
        started = time.perf_counter()
        await tracking.flushed()
        stored = time.perf_counter() - started
        everything = await visits.between(
            datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        return took, stored, Counter(v.outcome.value for v in everything)
    finally:
        await link.stop()
        await ami.close()
        await tracking.stop()
        await peer.close()
        await engine.dispose()


async def main(calls: int, db_url: str = "") -> dict[str, float]:
    logging.getLogger("ivr").setLevel(logging.WARNING)  # one info line per finished call
    stream = synthesize(calls)
    mb = len(stream.data) / 1e6
    print(
        f"stream: {calls} calls, {stream.events} events, {mb:.1f} MB; "
        f"expected {dict(stream.expected)}"
    )
    bare = await bare_panoramisk(stream)
    with tempfile.TemporaryDirectory() as tmp:
        if db_url:  # a PostgreSQL database the benchmark may empty
            await upgrade(db_url)
            engine = create_engine(db_url)
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE ring_attempts, queue_visits"))
            await engine.dispose()
        url = db_url or f"sqlite+aiosqlite:///{tmp}/ingest.db"
        ours, stored, outcomes = await our_path(stream, url)
    bare_rate, our_rate = stream.events / bare, stream.events / ours
    print(f"{'path':<28} {'seconds':>8} {'events/s':>10} {'vs panoramisk':>14}")
    print(f"{'panoramisk bare parsing':<28} {bare:>8.2f} {bare_rate:>10.0f} {1:>13.2f}x")
    print(
        f"{'ours: parsed and tracked':<28} {ours:>8.2f} {our_rate:>10.0f} "
        f"{our_rate / bare_rate:>13.2f}x"
    )
    store = "PostgreSQL" if db_url else "SQLite"
    print(f"visits stored ({store}) {stored:.2f} s after the last event; outcomes {dict(outcomes)}")
    if outcomes != stream.expected:
        print(f"MISMATCH: tracked {dict(outcomes)} but the stream holds {dict(stream.expected)}")
    return {
        "bare_s": bare,
        "ours_s": ours,
        "stored_s": stored,
        "ok": float(outcomes == stream.expected),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--db", default="", help="store visits here (emptied!), not in SQLite")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.db))
