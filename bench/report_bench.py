"""How long a monthly report takes for a month of N calls, and how long it holds the loop.

    .venv/bin/python -m bench.report_bench --calls 20000 100000 [--url postgresql+asyncpg://…]

Each level fills a fresh database (a temporary SQLite file by default; a PostgreSQL URL whose
tables are dropped and re-migrated) with N answered calls spread over September 2026, then
measures the report as the API computes it, the longest stall of the event loop meanwhile
(a 10 ms ticker), and, as the baseline in the same run, the same month's offered/answered/
within-15-s counts as one SQL aggregate (what moving the call figures into SQL would cost).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, case, func, insert, select

from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.models import rings_table, visits_table
from ivr.db.report_rows import SqlReportRows
from ivr.db.tracking import datetime_to_us
from ivr.domain.reports import Month
from ivr.services.monthly_reports import MonthlyReports

BJ = ZoneInfo("Asia/Shanghai")
MONTH = Month(2026, 9)
MONTH_S = 30 * 24 * 3600


async def _fresh(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: (m := MetaData(), m.reflect(c), m.drop_all(c)))
        await engine.dispose()
    await upgrade(url)


async def _fill(url: str, calls: int) -> None:
    start, _ = MONTH.bounds(BJ)
    engine = create_engine(url)
    visits, rings = [], []
    for i in range(calls):
        joined = start + timedelta(seconds=i * MONTH_S / calls)
        j, agent = datetime_to_us(joined), f"Local/{1000 + i % 50}@sim-agents/n"
        ring_ms = 2_000 + (i * 7919) % 20_000  # 2-22 s: some over 15 s
        visits.append(
            {"id": i + 1, "unique_id": f"u{i}", "queue": "q-repair", "caller_number": "13800000000",
             "joined_at": joined, "joined_us": j, "outcome": "answered", "agent_interface": agent,
             "answered_us": j + ring_ms * 1000, "ring_to_answer_ms": ring_ms,
             "queue_wait_ms": ring_ms, "left_us": j + ring_ms * 1000,
             "ended_us": j + (ring_ms + 60_000) * 1000, "talk_ms": 60_000, "transferred": False}
        )  # fmt: skip
        rings.append(
            {"visit_id": i + 1, "seq": 0, "interface": agent, "member_name": "",
             "started_us": j, "ended_us": j + ring_ms * 1000, "duration_ms": ring_ms,
             "end": "answered"}
        )  # fmt: skip
    async with engine.begin() as conn:
        for k in range(0, calls, 5_000):
            await conn.execute(insert(visits_table), visits[k : k + 5_000])
            await conn.execute(insert(rings_table), rings[k : k + 5_000])
        if url.startswith("postgresql"):  # ids given by hand: move the sequence past them, so
            # a bridge later sharing this database does not hit duplicate keys
            await conn.execute(
                select(func.setval(func.pg_get_serial_sequence(visits_table.name, "id"), calls))
            )
    await engine.dispose()


async def _measure(url: str) -> tuple[float, float, float, int]:
    engine = create_engine(url)
    reports = MonthlyReports(SqlReportRows(engine), BJ, lambda: datetime(2026, 11, 1, tzinfo=UTC))
    worst, running = 0.0, True

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            worst, last = max(worst, now - last - 0.01), now

    tick = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    report = await reports.monthly(MONTH)
    took = time.perf_counter() - t0
    running = False
    await tick
    start, end = MONTH.bounds(BJ)
    v = visits_table.c
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    func.count(),
                    func.sum(case((v.outcome == "answered", 1), else_=0)),
                    func.sum(case((v.ring_to_answer_ms <= 15_000, 1), else_=0)),
                ).where(v.joined_at >= start, v.joined_at < end)
            )
        ).one()
    baseline = time.perf_counter() - t0
    assert row[2] == report.centre.answered_in_15s, "the two ways must agree"
    await engine.dispose()
    return took, worst, baseline, report.centre.offered


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--url", help="a PostgreSQL test database (tables are dropped)")
    args = parser.parse_args()
    print("calls      report   loop stall   SQL aggregate   ratio")
    for calls in args.calls:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            await _fresh(url)
            await _fill(url, calls)
            took, stall, baseline, offered = await _measure(url)
            assert offered == calls
            print(
                f"{calls:>7} {took:>8.2f} s {stall * 1000:>8.0f} ms {baseline * 1000:>11.0f} ms"
                f" {took / baseline:>8.0f}x"
            )


if __name__ == "__main__":
    asyncio.run(main())
