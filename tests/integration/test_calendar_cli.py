"""The calendar as an operator uses it, as real processes on a SQLite file: ``ivr calendar
years`` and ``ivr calendar recompute`` with a site schedule file, a bad file refused, and
``ivr run`` recomputing at start. The 2027 schedule here is MADE UP (not the State Council's)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.calendar_cn import PACKAGE, china_is_workday
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.workorder_models import deadlines_table, history_table
from ivr.db.workorders import NewOrder, SqlWorkOrders
from ivr.domain.callbacks import CallbackPolicy
from ivr.domain.phone import PhoneNumber
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import OrderKind
from tests.integration.test_cli import free_port, get_json

T0 = datetime(2026, 12, 28, 9, 0, tzinfo=CHINA)  # Monday: 5 working days reach 2027
NEW_DUE = datetime(2027, 1, 7, tzinfo=CHINA)  # with the made-up 1 and 4 Jan off
FAKE = '# MADE UP for a test\n[2027]\nholidays = [2027-01-01, "2027-01-04"]\nworkdays = []\n'


@pytest.fixture
async def site(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A database with one provisional complaint, a schedule file, and the environment."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"
    await upgrade(url)

    engine = create_engine(url)
    try:
        orders = SqlWorkOrders(engine, china_is_workday, CallbackPolicy(), lambda: T0)
        order = NewOrder(
            OrderKind.COMPLAINT, None, "1024", "王", "女士", PhoneNumber("13800138000"), "停电"
        )
        await orders.create(order, "agent:1024", None)
    finally:
        await engine.dispose()
    schedule = tmp_path / "holidays.toml"
    schedule.write_text(FAKE, "utf-8")
    env = {k: v for k, v in os.environ.items() if k != "IVR_CONFIG"}
    env |= {"IVR_DATABASE__URL": url, "IVR_CALENDAR__SCHEDULE_FILE": str(schedule)}
    return url, env


async def ivr(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def stored(url: str) -> tuple[dict[str, tuple[datetime, bool]], int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(deadlines_table))).all()
            lines = (
                await conn.execute(select(history_table).where(history_table.c.actor == "calendar"))
            ).all()
    finally:
        await engine.dispose()
    return {r.name: (r.due_at, r.provisional) for r in rows}, len(lines)


async def test_calendar_years_and_recompute(site) -> None:  # type: ignore[no-untyped-def]
    url, env = site
    code, out, _ = await ivr(env, "calendar", "years")
    assert code == 0
    assert "2026\t" + PACKAGE in out.splitlines() and "2027\tsite file" in out.splitlines()
    before, _ = await stored(url)
    assert before["reply"][1]  # provisional

    code, out, _ = await ivr(env, "calendar", "recompute")
    assert code == 0, out
    assert "1 order(s) with provisional deadlines; 2 deadline(s) of 1 order(s) recomputed" in out
    after, lines = await stored(url)
    assert after["reply"] == (NEW_DUE, False) and after["callback"] == (NEW_DUE, False)
    assert after["contact"] == before["contact"]
    assert lines == 2

    code, out, _ = await ivr(env, "calendar", "recompute")  # again: nothing left
    assert code == 0 and "0 deadline(s) of 0 order(s) recomputed" in out
    assert (await stored(url))[1] == 2


async def test_a_bad_schedule_file_is_refused(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, env = site
    bad = tmp_path / "bad.toml"
    bad.write_text("[2027]\nholidays = [2028-01-03]\nworkdays = []\n", "utf-8")
    env = env | {"IVR_CALENDAR__SCHEDULE_FILE": str(bad)}
    code, _, err = await ivr(env, "calendar", "recompute")
    assert code == 2  # a settings problem, found before anything is opened
    assert err == (
        "error: environment IVR_CALENDAR__SCHEDULE_FILE: calendar.schedule_file: "
        f"{bad}: [2027] holidays 2028-01-03 is not in 2027\n"
    )
    assert (await stored(url))[0]["reply"][1]  # nothing recomputed


async def test_ivr_run_recomputes_at_start(site) -> None:  # type: ignore[no-untyped-def]
    url, env = site
    web_port = free_port()
    env = env | {"IVR_AGI__PORT": "0", "IVR_WEB__PORT": str(web_port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        health = None
        for _ in range(120):
            await asyncio.sleep(0.5)
            try:
                health = await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health")
                break
            except OSError:
                assert process.returncode is None, "ivr run exited early"
        assert health is not None and health["status"] == "ok"
        # start() ran before the web app answered: the deadlines are exact already
        after, lines = await stored(url)
        assert after["reply"] == (NEW_DUE, False) and lines == 2
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    log = stderr.decode()
    assert process.returncode == 0, log[-2000:]
    assert "working-day calendar: 2027: site file" in log
    assert "2 deadline(s) of 1 order(s) changed, 2 now exact" in log
