"""A storm: an outage declared, then a burst of callers, most of them from the outage's area.

Per level N, in one run on the sandbox (Local-channel callers, originated within a second or
two, as ``bench/inbound_load.py`` places them):

- ``dialplan``: the baseline, N callers through the 95598 menu written in plain dialplan
  (``[bench-menu-main]``: same prompts, same keys, no AGI);
- ``storm``: a fault outage is declared for one area and N callers arrive at once into the
  bridge: ``--area-share`` of them (default 80 %) are customers of that area. Of those, nine
  in ten hang up once the notice has been read (served by the notice: *informed*), one in
  ten presses 2 and goes on to 故障报修 (1, 1); everyone else presses 1, 1 at once. Routed
  callers wait in ``q-repair``, answered by ``--agents`` simulated agents (0.5 s to answer,
  2 s of talk), and give up after ``--patience-s``.

Reported per level: callers served by the notice, by an agent, who gave up in the queue (their
choice), and **dropped by us** (no call record, a call the bridge failed or lost, a notice
caller not counted as informed, a queue visit that neither ended answered nor abandoned);
calls Asterisk could not originate (``OriginateResponse`` failures, the machine's limit, not
the bridge's); CPU per call of Asterisk and of the bridge (this process, less its own cost in
the baseline round) and their ratio to the baseline; AGI start and think p50/p99 (Asterisk's
``AGIExec*`` events); and the **database write lag**: the time from a call's hang-up
(Asterisk's ``Hangup`` event) and a queue visit's end (its own Asterisk timestamp) until its
finished row can be read from the database, polled every 0.25 s through a second connection
pool — p50, p99, max, the share within 2 s, and rows never seen finished.

Run (as root; takes the sandbox exclusively; about 1.5 min per level):
``.venv/bin/python -m bench.storm --levels 100 300 500`` (SQLite; ``--db-url`` for
PostgreSQL). Numbers on a shared machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.inbound_load import Level, agi_latencies, asterisk_cpu_s, pct, run_level
from bench.outage_lookup import seconds
from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import AgentsSettings, AmiSettings, DatabaseSettings, Settings
from ivr.db.calls import SqlCallRepository
from ivr.db.engine import create_engine
from ivr.db.models import calls_table as calls
from ivr.db.models import visits_table as visits
from ivr.domain.calls import CallOutcome
from ivr.domain.outages import Customer, OutageKind, notice_text
from ivr.domain.queue_calls import VisitOutcome
from ivr.logging_setup import register_secret
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.simulation import log_in_agent, log_out_agent

AREA = "风暴区"
QUEUE = "q-repair"
MENU_KEYS, MENU_PAUSE_S = "1ww1", 4.5  # as bench/inbound_load.py's callers
POLL_S = 0.25
LAG_LIMIT_S = 2.0


def area_number(i: int) -> str:
    return f"1375{i:07d}"  # the outage area's customers (no other bench's callers)


def other_number(i: int) -> str:
    return f"1374{i:07d}"  # callers the register does not know: no notice


@dataclass
class Storm:
    calls: int
    area_callers: int
    not_originated: int = 0  # OriginateResponse failures: Asterisk could not place the call
    informed: int = 0
    by_agent: int = 0
    gave_up_in_queue: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # by us, by reason
    asterisk_cpu_s: float = 0.0
    process_cpu_s: float = 0.0
    wall_s: float = 0.0
    start_s: list[float] = field(default_factory=list)
    think_s: list[float] = field(default_factory=list)
    call_lag_s: list[float] = field(default_factory=list)
    visit_lag_s: list[float] = field(default_factory=list)
    calls_unseen: int = 0  # finished calls never read back finished
    visits_unseen: int = 0


def caller_leg(event: dict[str, Any]) -> bool:
    """A simulated caller's own leg (not an agent's Local channel, which also ends in ;1)."""
    channel = str(event.get("Channel", ""))
    return channel.startswith("Local/95598@from-pstn-") and channel.endswith(";1")


def _over(event: dict[str, Any]) -> bool:
    """A caller's leg hung up, or a call Asterisk could not originate."""
    if event.get("Event") == "OriginateResponse":
        return event.get("Response") != "Success"
    return event.get("Event") == "Hangup" and caller_leg(event)


class LagWatch:
    """Polls the database for finished calls and visits; remembers when each was first read."""

    def __init__(self, url: str, since: datetime) -> None:
        self._engine = create_engine(url)
        self._since = since
        self.calls_seen: dict[str, tuple[float, datetime | None]] = {}  # unique_id → (seen, end)
        self.visits_seen: dict[int, tuple[float, int]] = {}  # id → (seen, ended_us)
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        call_query = select(calls.c.unique_id, calls.c.ended_at).where(
            calls.c.started_at >= self._since, calls.c.ended_at.is_not(None)
        )
        visit_query = select(visits.c.id, visits.c.ended_us).where(
            visits.c.joined_at >= self._since, visits.c.ended_us.is_not(None)
        )
        async with self._engine.connect() as conn:
            call_rows = (await conn.execute(call_query)).all()
            visit_rows = (await conn.execute(visit_query)).all()
        now = time.time()
        for unique_id, ended_at in call_rows:
            self.calls_seen.setdefault(unique_id, (now, ended_at))
        for visit_id, ended_us in visit_rows:
            self.visits_seen.setdefault(visit_id, (now, ended_us))

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a locked SQLite file: the next poll reads it
                await self._poll()
            await asyncio.sleep(POLL_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._poll()  # the rows stored by now, seen now
        await self._engine.dispose()


async def prepare(bridge: Bridge, area_callers: int) -> float:
    """The area's customers in the register, the outage declared and in the notice index;
    returns how long the greeting and the notice take to hear."""
    assert bridge.notices is not None
    await bridge.customers.upsert(
        [
            Customer(f"{4_000_000_000 + i}", "压测", (area_number(i),), "风暴路", AREA)
            for i in range(area_callers)
        ]
    )
    now = datetime.now(UTC)
    outage = await bridge.outages.declare(
        OutageKind.FAULT,
        [AREA],
        [],
        now - timedelta(minutes=1),
        now + timedelta(hours=2),
        "台风导致线路故障",
        "bench",
    )
    await bridge.notices.refresh()
    zone = ZoneInfo(bridge.settings.tracking.timezone)
    text = notice_text(outage, AREA, zone, now)
    return seconds(await bridge.prompts.prompt_path(bridge.menu.greeting)) + seconds(
        await bridge.prompts.prompt_path(text)
    )


def plan(i: int, area_callers: int, hear_s: float, patience_s: float) -> tuple[str, str]:
    """(calling number, the simulated caller's variables) of caller ``i``."""
    if i >= area_callers:
        keys, pause, hold = MENU_KEYS, MENU_PAUSE_S, patience_s
        return other_number(i), f"SIM_KEYS={keys},SIM_PAUSE={pause:g},SIM_HOLD={hold:g}"
    if i % 10 == 9:  # goes on past the notice: 2 (to the menu), then 1, 1
        pause = hear_s + 1.0
        return area_number(i), f"SIM_KEYS=2ww1ww1,SIM_PAUSE={pause:g},SIM_HOLD={patience_s:g}"
    # hangs up during "重听请按1…", right after the notice: informed
    return area_number(i), f"SIM_KEYS=,SIM_PAUSE=0,SIM_HOLD={hear_s + 2.5:g}"


async def storm_level(
    ami: AmiClient,
    bridge: Bridge,
    n: int,
    area_share: float,
    hear_s: float,
    patience_s: float,
    events: list[dict[str, Any]],
) -> Storm:
    area_callers = round(n * area_share)
    result = Storm(n, area_callers)
    since = datetime.now(UTC) - timedelta(seconds=1)
    watch = LagWatch(str(bridge.engine.url.render_as_string(hide_password=False)), since)
    events.clear()
    watch.start()
    began = time.monotonic()
    (cpu_a, _), cpu_p = asterisk_cpu_s(), time.process_time()
    for i in range(n):
        number, variables = plan(i, area_callers, hear_s, patience_s)
        await ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/95598@from-pstn",
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"storm" <{number}>',
                "Variable": variables,
                "Async": "true",
            }
        )
    deadline = time.monotonic() + hear_s + patience_s + 120
    seen, over = 0, 0  # events read so far (only the new ones each round: this process's CPU
    while time.monotonic() < deadline:  # is billed to the bridge), calls over or not placed
        fresh, seen = events[seen:], len(events)
        over += sum(1 for e in fresh if _over(e))
        if over >= n:
            break
        await asyncio.sleep(0.5)
    result.wall_s = time.monotonic() - began
    await asyncio.sleep(LAG_LIMIT_S + 1)  # what is not stored by now is late anyway
    (a_end, _), p_end = asterisk_cpu_s(), time.process_time()
    await watch.stop()
    result.asterisk_cpu_s, result.process_cpu_s = a_end - cpu_a, p_end - cpu_p
    result.not_originated = sum(
        1
        for e in events
        if e.get("Event") == "OriginateResponse" and e.get("Response") != "Success"
    )
    result.start_s, result.think_s = agi_latencies(events)
    hangups = {
        e["Uniqueid"]: float(e["Timestamp"])
        for e in events
        if e.get("Event") == "Hangup" and "Timestamp" in e and "Uniqueid" in e
    }
    await count_outcomes(bridge, since, result, area_callers)
    for unique_id, (seen, ended_at) in watch.calls_seen.items():
        ended = hangups.get(unique_id, ended_at.timestamp() if ended_at else seen)
        result.call_lag_s.append(max(seen - ended, 0.0))
    for seen, ended_us in watch.visits_seen.values():
        result.visit_lag_s.append(max(seen - ended_us / 1e6, 0.0))
    return result


async def count_outcomes(bridge: Bridge, since: datetime, result: Storm, area_callers: int) -> None:
    """Who was served how, and what we dropped, from the bridge's own records."""
    records = {r.caller_number: r for r in await bridge.repository.list_since(since)}
    placed = result.calls - result.not_originated
    result.dropped["no call record"] = max(placed - len(records), 0)
    result.calls_unseen = sum(1 for r in records.values() if r.ended_at is None)
    for number, record in records.items():
        informed_caller = number.startswith("1375") and int(number[4:]) % 10 != 9
        if record.informed:
            result.informed += 1
        elif informed_caller and record.outcome is CallOutcome.ABANDONED_IN_MENU:
            result.dropped["notice caller not counted informed"] += 1
        if record.outcome in (CallOutcome.FAILED, CallOutcome.LOST, CallOutcome.IN_MENU):
            result.dropped[f"call {record.outcome.value}"] += 1
        if not informed_caller and record.outcome is not CallOutcome.ROUTED:
            result.dropped[f"menu caller {record.outcome.value}"] += 1
    async with bridge.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(visits.c.outcome, visits.c.ended_us).where(
                    visits.c.joined_at >= since, visits.c.queue == QUEUE
                )
            )
        ).all()
    result.visits_unseen = sum(1 for _, ended_us in rows if ended_us is None)
    for outcome, _ in rows:
        if outcome == VisitOutcome.ANSWERED:
            result.by_agent += 1
        elif outcome == VisitOutcome.ABANDONED:
            result.gave_up_in_queue += 1
        else:
            result.dropped[f"queue visit {outcome}"] += 1


def lag_line(what: str, lags: list[float], unseen: int) -> str:
    if not lags:
        return f"  {what}: none stored"
    within = sum(1 for x in lags if x <= LAG_LIMIT_S) / len(lags)
    return (
        f"  {what} write lag: {len(lags)} rows, p50 {pct(lags, 50):.2f} s, p99 {pct(lags, 99):.2f}"
        f" s, max {max(lags):.2f} s, {100 * within:.1f} % within {LAG_LIMIT_S:g} s"
        f"{f', {unseen} never seen finished' if unseen else ''}"
    )


def report(n: int, base: Level, storm: Storm) -> list[str]:
    ms = 1000
    base_ast = base.asterisk_cpu_s / n
    bridge_cpu = max(storm.process_cpu_s - base.process_cpu_s, 0.0) / n
    storm_ast = storm.asterisk_cpu_s / n
    total = storm_ast + bridge_cpu
    start50, start99 = pct(storm.start_s, 50) * ms, pct(storm.start_s, 99) * ms
    think50, think99 = pct(storm.think_s, 50) * ms, pct(storm.think_s, 99) * ms
    dropped = sum(storm.dropped.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(storm.dropped.items())) or "-"
    return [
        f"{n} callers ({storm.area_callers} from the outage area), over in {storm.wall_s:.0f} s:"
        f" informed by the notice {storm.informed}, answered by an agent {storm.by_agent},"
        f" gave up waiting {storm.gave_up_in_queue}, dropped by us {dropped} ({detail}),"
        f" not originated by Asterisk {storm.not_originated}",
        f"  CPU per call: dialplan menu {base_ast * ms:.1f} ms (Asterisk);"
        f" storm Asterisk {storm_ast * ms:.1f} ms + bridge {bridge_cpu * ms:.1f} ms ="
        f" {total * ms:.1f} ms, {total / base_ast if base_ast else float('nan'):.2f}x the dialplan"
        f" menu (Asterisk alone {storm_ast / base_ast if base_ast else float('nan'):.2f}x)",
        f"  AGI start p50 {start50:.1f} ms p99 {start99:.1f} ms; think p50 {think50:.2f} ms"
        f" p99 {think99:.2f} ms ({len(storm.think_s)} commands)",
        lag_line("calls", storm.call_lag_s, storm.calls_unseen),
        lag_line("queue visits", storm.visit_lag_s, storm.visits_unseen),
    ]


async def run(
    sandbox: AsteriskSandbox,
    bridge: Bridge,
    levels: list[int],
    area_share: float = 0.8,
    agents: int = 4,
    patience_s: float = 20.0,
) -> list[tuple[Level, Storm]]:
    """Each level, baseline then storm, on a sandbox that is up and held by the caller and a
    started bridge serving its FastAGI port; prints and returns the results. The agents are
    logged out and the outage cancelled at the end."""
    observer = sandbox.observer
    ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
    events: list[dict[str, Any]] = []
    ami.on_event("*", lambda e: events.append(dict(e)))
    await ami.connect()
    jobs = [f"{7101 + k}" for k in range(agents)]
    interfaces = [await log_in_agent(ami, job, [QUEUE], 0.5, 2.0) for job in jobs]
    hear_s = await prepare(bridge, max(round(n * area_share) for n in levels))
    results: list[tuple[Level, Storm]] = []
    try:
        print(f"greeting + notice: {hear_s:.1f} s; {agents} agents in {QUEUE}", flush=True)
        unused = SqlCallRepository(bridge.engine)
        for n in levels:
            base = await run_level(ami, bridge, unused, Path("/nonexistent"), "dialplan", n, events)
            storm = await storm_level(ami, bridge, n, area_share, hear_s, patience_s, events)
            print("\n".join(report(n, base, storm)), flush=True)
            results.append((base, storm))
    finally:
        for interface in interfaces:
            await log_out_agent(ami, interface, [QUEUE])
        for outage in await bridge.outage_register.open_outages():
            if AREA in outage.areas:
                await bridge.outages.cancel(outage.id, "bench over", "bench")
        if bridge.notices is not None:
            await bridge.notices.refresh()
        await ami.close()
    return results


def bridge_settings(sandbox: AsteriskSandbox, url: str) -> Settings:
    """A bridge on ``url`` with the sandbox's AMI login: call tracking on, as in production
    (the queue visits, and the AMI events' cost, are part of the storm)."""
    ami = sandbox.ami
    register_secret(ami.secret)
    return Settings(
        database=DatabaseSettings(url=url),
        ami=AmiSettings(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret,  # type: ignore[arg-type]
        ),
        agents=AgentsSettings(wrapup_s=0),  # the simulated agents take call after call
    )


async def main(args: argparse.Namespace) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive(), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(sandbox.up)
        url = args.db_url or f"sqlite+aiosqlite:///{tmp}/b.db"
        bridge = Bridge(bridge_settings(sandbox, url))
        await bridge.start()
        try:
            await run(sandbox, bridge, args.levels, args.area_share, args.agents, args.patience_s)
        finally:
            await bridge.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 300, 500])
    parser.add_argument("--area-share", type=float, default=0.8)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--patience-s", type=float, default=20.0)
    parser.add_argument("--db-url", help="the bridge's database (default: a fresh SQLite file)")
    asyncio.run(main(parser.parse_args()))
