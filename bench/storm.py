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

With ``--two-servers`` each level runs the storm twice after the baseline, in the same run:
on **one server** (the sandbox's Asterisk, one bridge) and **split over two** (the sandbox and
its instance ``b``, each with its own bridge, both on one PostgreSQL: the outage is declared
through the first bridge and the second's notice index must find it in the shared database).
The same callers and the same number of agents (split between the servers' queues) each time;
the report adds the two-vs-one ratios. Both bridges' FastAGI ports are picked free and each
caller carries its server's bridge URL (``IVR_AGI_URL``, copied onto the dialplan's half of
the Local channel), so nothing else listening on the dialplan's default port is disturbed.

Run (as root; takes the sandbox exclusively; about 1.5 min per level, 2.5 with two servers):
``.venv/bin/python -m bench.storm --levels 100 300 500`` (SQLite; ``--db-url`` for
PostgreSQL), ``.venv/bin/python -m bench.storm --two-servers --levels 150 300 --db-url
postgresql+asyncpg://…``. Numbers on a shared machine are noisy: compare the ratios within one
run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.callback_dialer import cpu_s, free_port, healthy
from bench.inbound_load import Level, agi_latencies, pct, run_level
from bench.outage_lookup import seconds
from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import (
    AgentsSettings,
    AgiSettings,
    AmiSettings,
    AsteriskSettings,
    DatabaseSettings,
    Settings,
)
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
SERVER_A, SERVER_B = "asterisk-a", "asterisk-b"  # asterisk.server_name with --two-servers


def area_number(i: int) -> str:
    return f"1375{i:07d}"  # the outage area's customers (no other bench's callers)


def other_number(i: int) -> str:
    return f"1374{i:07d}"  # callers the register does not know: no notice


@dataclass
class Storm:
    calls: int
    area_callers: int
    servers: int = 1
    not_originated: int = 0  # OriginateResponse failures: Asterisk could not place the call
    informed: int = 0
    by_agent: int = 0
    gave_up_in_queue: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # by us, by reason
    by_server: dict[str, int] = field(default_factory=dict)  # call records per server_name
    shared_uids: int = 0  # Asterisk Uniqueids that both servers gave a channel in this run
    asterisk_cpu_s: float = 0.0
    process_cpu_s: float = 0.0  # this process (bench + in-process bridge) + bridge processes
    wall_s: float = 0.0
    start_s: list[float] = field(default_factory=list)
    think_s: list[float] = field(default_factory=list)
    call_lag_s: list[float] = field(default_factory=list)
    visit_lag_s: list[float] = field(default_factory=list)
    calls_unseen: int = 0  # finished calls never read back finished
    visits_unseen: int = 0


@dataclass
class Server:
    """One Asterisk of a storm run: the AMI its callers are placed and watched through, the
    FastAGI port of the bridge serving them, and where that bridge's CPU is read."""

    name: str  # the bridge's asterisk.server_name: its rows' server in the database
    box: AsteriskSandbox
    ami: AmiClient
    agi_port: int
    events: list[dict[str, Any]]
    bridge_pid: int | None = None  # a bridge in its own process; None: in this process


async def watched(box: AsteriskSandbox) -> tuple[AmiClient, list[dict[str, Any]]]:
    """An AMI client on ``box``'s observer login and the list every event is appended to."""
    observer = box.observer
    ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
    events: list[dict[str, Any]] = []
    ami.on_event("*", lambda e: events.append(dict(e)))
    await ami.connect()
    return ami, events


def asterisk_cpu(servers: list[Server]) -> float:
    """CPU seconds of the servers' Asterisk daemons (each found by its own root)."""
    return sum(cpu_s(pid) for s in servers if (pid := s.box.daemon_pid()) is not None)


def bridges_cpu(servers: list[Server]) -> float:
    """CPU seconds of this process (the bench and an in-process bridge: the baseline round's
    share is taken off later) and of every bridge running in its own process."""
    return time.process_time() + sum(cpu_s(s.bridge_pid) for s in servers if s.bridge_pid)


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
        # (server, unique_id) → (seen, end): Uniqueids are each Asterisk's own
        self.calls_seen: dict[tuple[str, str], tuple[float, datetime | None]] = {}
        self.visits_seen: dict[int, tuple[float, int]] = {}  # id → (seen, ended_us)
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        call_query = select(calls.c.server_name, calls.c.unique_id, calls.c.ended_at).where(
            calls.c.started_at >= self._since, calls.c.ended_at.is_not(None)
        )
        visit_query = select(visits.c.id, visits.c.ended_us).where(
            visits.c.joined_at >= self._since, visits.c.ended_us.is_not(None)
        )
        async with self._engine.connect() as conn:
            call_rows = (await conn.execute(call_query)).all()
            visit_rows = (await conn.execute(visit_query)).all()
        now = time.time()
        for server, unique_id, ended_at in call_rows:
            self.calls_seen.setdefault((server, unique_id), (now, ended_at))
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


async def cancel_outage(bridge: Bridge) -> None:
    for outage in await bridge.outage_register.open_outages():
        if AREA in outage.areas:
            await bridge.outages.cancel(outage.id, "bench over", "bench")
    if bridge.notices is not None:
        await bridge.notices.refresh()


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


def server_of(i: int, servers: int) -> int:
    """Caller ``i``'s server: alternating, shifted every ten callers so that the area's
    callers who go on past the notice (every tenth) alternate too."""
    return (i + i // 10) % servers


@contextlib.asynccontextmanager
async def agents_on(placement: list[tuple[AmiClient, list[str]]]) -> AsyncIterator[None]:
    """The simulated agents logged in to ``QUEUE`` on each server's Asterisk, out after."""
    logged: list[tuple[AmiClient, str]] = []
    try:
        for ami, jobs in placement:
            for job in jobs:
                logged.append((ami, await log_in_agent(ami, job, [QUEUE], 0.5, 2.0)))
        yield
    finally:
        for ami, interface in logged:
            await log_out_agent(ami, interface, [QUEUE])


async def storm_level(
    servers: list[Server],
    bridge: Bridge,
    n: int,
    area_share: float,
    hear_s: float,
    patience_s: float,
) -> Storm:
    """One storm of ``n`` callers spread over ``servers``; ``bridge`` reads the shared database."""
    area_callers = round(n * area_share)
    result = Storm(n, area_callers, len(servers))
    since = datetime.now(UTC) - timedelta(seconds=1)
    watch = LagWatch(str(bridge.engine.url.render_as_string(hide_password=False)), since)
    for server in servers:
        server.events.clear()
    watch.start()
    began = time.monotonic()
    cpu_a, cpu_b = asterisk_cpu(servers), bridges_cpu(servers)
    for i in range(n):
        number, variables = plan(i, area_callers, hear_s, patience_s)
        server = servers[server_of(i, len(servers))]
        await server.ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/95598@from-pstn",
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"storm" <{number}>',
                # its server's bridge (the Local channel copies it onto the dialplan's half)
                "Variable": f"{variables},IVR_AGI_URL=agi://127.0.0.1:{server.agi_port}",
                "Async": "true",
            }
        )
    deadline = time.monotonic() + hear_s + patience_s + 120
    seen = [0] * len(servers)  # events read so far (only the new ones each round: this
    over = 0  # process's CPU is billed to the bridge); calls over or not placed
    while time.monotonic() < deadline:
        for k, server in enumerate(servers):
            fresh, seen[k] = server.events[seen[k] :], len(server.events)
            over += sum(1 for e in fresh if _over(e))
        if over >= n:
            break
        await asyncio.sleep(0.5)
    result.wall_s = time.monotonic() - began
    await asyncio.sleep(LAG_LIMIT_S + 1)  # what is not stored by now is late anyway
    a_end, b_end = asterisk_cpu(servers), bridges_cpu(servers)
    await watch.stop()
    result.asterisk_cpu_s, result.process_cpu_s = a_end - cpu_a, b_end - cpu_b
    hangups: dict[tuple[str, str], float] = {}
    uids: list[set[str]] = []
    for server in servers:
        events = server.events
        result.not_originated += sum(
            1
            for e in events
            if e.get("Event") == "OriginateResponse" and e.get("Response") != "Success"
        )
        starts, thinks = agi_latencies(events)  # by channel name: each server's own
        result.start_s += starts
        result.think_s += thinks
        for e in events:
            if e.get("Event") == "Hangup" and "Timestamp" in e and "Uniqueid" in e:
                hangups[(server.name, e["Uniqueid"])] = float(e["Timestamp"])
        uids.append({e["Uniqueid"] for e in events if e.get("Event") == "Newchannel"})
    if len(uids) > 1:
        result.shared_uids = len(set.intersection(*uids))
    await count_outcomes(bridge, since, result)
    for key, (seen_at, ended_at) in watch.calls_seen.items():
        ended = hangups.get(key, ended_at.timestamp() if ended_at else seen_at)
        result.call_lag_s.append(max(seen_at - ended, 0.0))
    for seen_at, ended_us in watch.visits_seen.values():
        result.visit_lag_s.append(max(seen_at - ended_us / 1e6, 0.0))
    return result


async def count_outcomes(bridge: Bridge, since: datetime, result: Storm) -> None:
    """Who was served how, and what we dropped, from the centre's records (every server's)."""
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
        per_server = await conn.execute(
            select(calls.c.server_name, func.count())
            .where(calls.c.started_at >= since)
            .group_by(calls.c.server_name)
        )
        result.by_server = {str(server): int(count) for server, count in per_server}
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


def per_call(n: int, base: Level, storm: Storm) -> tuple[float, float, float]:
    """(dialplan menu's Asterisk, storm's Asterisk, storm's bridges) CPU seconds per call: the
    bridges less this process's own cost in the baseline round."""
    bridges = max(storm.process_cpu_s - base.process_cpu_s, 0.0) / n
    return base.asterisk_cpu_s / n, storm.asterisk_cpu_s / n, bridges


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(n: int, base: Level, storm: Storm, label: str = "") -> list[str]:
    ms = 1000
    base_ast, storm_ast, bridge_cpu = per_call(n, base, storm)
    total = storm_ast + bridge_cpu
    start50, start99 = pct(storm.start_s, 50) * ms, pct(storm.start_s, 99) * ms
    think50, think99 = pct(storm.think_s, 50) * ms, pct(storm.think_s, 99) * ms
    dropped = sum(storm.dropped.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(storm.dropped.items())) or "-"
    servers = ", ".join(f"{k} {v}" for k, v in sorted(storm.by_server.items()))
    return [
        f"{label}{n} callers ({storm.area_callers} from the outage area), over in"
        f" {storm.wall_s:.0f} s: informed by the notice {storm.informed}, answered by an agent"
        f" {storm.by_agent}, gave up waiting {storm.gave_up_in_queue}, dropped by us {dropped}"
        f" ({detail}), not originated by Asterisk {storm.not_originated}",
        f"  calls by server: {servers or '-'}"
        + (f"; Uniqueids given on both servers {storm.shared_uids}" if storm.servers > 1 else ""),
        f"  CPU per call: dialplan menu {base_ast * ms:.1f} ms (Asterisk);"
        f" storm Asterisk {storm_ast * ms:.1f} ms + bridge {bridge_cpu * ms:.1f} ms ="
        f" {total * ms:.1f} ms, {ratio(total, base_ast):.2f}x the dialplan"
        f" menu (Asterisk alone {ratio(storm_ast, base_ast):.2f}x)",
        f"  AGI start p50 {start50:.1f} ms p99 {start99:.1f} ms; think p50 {think50:.2f} ms"
        f" p99 {think99:.2f} ms ({len(storm.think_s)} commands)",
        lag_line("calls", storm.call_lag_s, storm.calls_unseen),
        lag_line("queue visits", storm.visit_lag_s, storm.visits_unseen),
    ]


def compare(n: int, base: Level, one: Storm, two: Storm) -> str:
    """Two servers against one, and each against the same run's dialplan menu."""
    base_ast, one_ast, one_br = per_call(n, base, one)
    _, two_ast, two_br = per_call(n, base, two)
    one_total, two_total = one_ast + one_br, two_ast + two_br
    return (
        f"  two servers / one: CPU per call {ratio(two_total, one_total):.2f}x (Asterisk"
        f" {ratio(two_ast, one_ast):.2f}x, bridges {ratio(two_br, one_br):.2f}x); AGI start p50"
        f" {ratio(pct(two.start_s, 50), pct(one.start_s, 50)):.2f}x p99"
        f" {ratio(pct(two.start_s, 99), pct(one.start_s, 99)):.2f}x; against the dialplan menu:"
        f" one server {ratio(one_total, base_ast):.2f}x, two {ratio(two_total, base_ast):.2f}x"
    )


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
    ami, events = await watched(sandbox)
    server = Server(bridge.settings.asterisk.server_name, sandbox, ami, bridge.agi.port, events)
    jobs = [f"{7101 + k}" for k in range(agents)]
    results: list[tuple[Level, Storm]] = []
    try:
        hear_s = await prepare(bridge, max(round(n * area_share) for n in levels))
        print(f"greeting + notice: {hear_s:.1f} s; {agents} agents in {QUEUE}", flush=True)
        unused = SqlCallRepository(bridge.engine)
        async with agents_on([(ami, jobs)]):
            for n in levels:
                base = await run_level(
                    ami, bridge, unused, Path("/nonexistent"), "dialplan", n, events
                )
                storm = await storm_level([server], bridge, n, area_share, hear_s, patience_s)
                print("\n".join(report(n, base, storm)), flush=True)
                results.append((base, storm))
    finally:
        await cancel_outage(bridge)
        await ami.close()
    return results


async def start_second_bridge(
    box: AsteriskSandbox, db_url: str, log_file: Path
) -> tuple[asyncio.subprocess.Process, int]:
    """Server b's bridge (``ivr run``, its own process as in production) on the shared
    database; returns it and its FastAGI port once it is healthy and its notice index holds
    the storm's outage, read from the database (declared through the other bridge)."""
    web, agi = free_port(), free_port()
    ami = box.ami
    env = os.environ | {
        "IVR_DATABASE__URL": db_url,
        "IVR_WEB__PORT": str(web),
        "IVR_AGI__PORT": str(agi),
        "IVR_AMI__HOST": ami.host,
        "IVR_AMI__PORT": str(ami.port),
        "IVR_AMI__USERNAME": ami.username,
        "IVR_AMI__SECRET": ami.secret,
        "IVR_ASTERISK__SERVER_NAME": SERVER_B,
        "IVR_AGENTS__WRAPUP_S": "0",  # as the first bridge's
        "IVR_OUTAGES__REFRESH_S": "2",  # finds an outage declared elsewhere within 2 s
    }
    with log_file.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "run", env=env, stderr=stderr
        )
    try:
        for _ in range(240):
            await asyncio.sleep(0.25)
            if process.returncode is not None:
                raise RuntimeError(f"the second bridge exited; see {log_file}")
            if await asyncio.to_thread(healthy, web) and await asyncio.to_thread(
                knows_the_outage, log_file
            ):
                return process, agi
        raise RuntimeError(f"the second bridge did not come up with the outage; see {log_file}")
    except BaseException:
        await stop_process(process)
        raise


def knows_the_outage(log_file: Path) -> bool:
    """The bridge logged a notice index holding one active outage (the storm's)."""
    return "outage index: 1 active outages" in log_file.read_text(errors="replace")


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(30):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def run_two_servers(
    sandbox: AsteriskSandbox,
    second: AsteriskSandbox,
    db_url: str,
    levels: list[int],
    logs: Path,
    area_share: float = 0.8,
    agents: int = 4,
    patience_s: float = 20.0,
) -> list[tuple[Level, Storm, Storm]]:
    """Each level: the baseline, the storm on one server, the storm split over two, on the
    sandbox and its ``second`` instance (both up and held by the caller) and two bridges on
    ``db_url`` (PostgreSQL) started here: the first in this process, the second as ``ivr
    run``. The same number of agents each time: all on server a, then split a/b."""
    bridge = Bridge(bridge_settings(sandbox, db_url, SERVER_A))
    await bridge.start()
    watchers: list[AmiClient] = []
    process: asyncio.subprocess.Process | None = None
    results: list[tuple[Level, Storm, Storm]] = []
    try:
        ami_a, events_a = await watched(sandbox)
        watchers.append(ami_a)
        ami_b, events_b = await watched(second)
        watchers.append(ami_b)
        hear_s = await prepare(bridge, max(round(n * area_share) for n in levels))
        process, agi_b = await start_second_bridge(second, db_url, logs / "bridge-b.log")
        a = Server(SERVER_A, sandbox, ami_a, bridge.agi.port, events_a)
        b = Server(SERVER_B, second, ami_b, agi_b, events_b, process.pid)
        jobs = [f"{7101 + k}" for k in range(agents)]
        half = (agents + 1) // 2
        print(
            f"greeting + notice: {hear_s:.1f} s; {agents} agents in {QUEUE}: all on"
            f" {SERVER_A}, then {half} on {SERVER_A} and {agents - half} on {SERVER_B}",
            flush=True,
        )
        unused = SqlCallRepository(bridge.engine)
        for n in levels:
            base = await run_level(
                ami_a, bridge, unused, Path("/nonexistent"), "dialplan", n, events_a
            )
            async with agents_on([(ami_a, jobs)]):
                one = await storm_level([a], bridge, n, area_share, hear_s, patience_s)
            print("\n".join(report(n, base, one, "one server: ")), flush=True)
            async with agents_on([(ami_a, jobs[:half]), (ami_b, jobs[half:])]):
                two = await storm_level([a, b], bridge, n, area_share, hear_s, patience_s)
            print("\n".join(report(n, base, two, "two servers: ")), flush=True)
            print(compare(n, base, one, two), flush=True)
            results.append((base, one, two))
    finally:
        await cancel_outage(bridge)
        if process is not None:
            await stop_process(process)
        for watcher in watchers:
            await watcher.close()
        await bridge.stop()
    return results


def bridge_settings(sandbox: AsteriskSandbox, url: str, server: str | None = None) -> Settings:
    """A bridge on ``url`` with the sandbox's AMI login: call tracking on, as in production
    (the queue visits, and the AMI events' cost, are part of the storm). With ``server`` it
    is that server's bridge, its FastAGI on a free port (the callers name it)."""
    ami = sandbox.ami
    register_secret(ami.secret)
    settings = Settings(
        database=DatabaseSettings(url=url),
        ami=AmiSettings(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret,  # type: ignore[arg-type]
        ),
        agents=AgentsSettings(wrapup_s=0),  # the simulated agents take call after call
    )
    if server is None:
        return settings
    return settings.model_copy(
        update={
            "asterisk": AsteriskSettings(server_name=server),
            "agi": AgiSettings(port=0),
        }
    )


async def main(args: argparse.Namespace) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with contextlib.ExitStack() as held, tempfile.TemporaryDirectory() as tmp:
        held.enter_context(sandbox.exclusive())
        await asyncio.to_thread(sandbox.up)
        if args.two_servers:
            second = AsteriskSandbox.from_settings(Settings(), instance="b")
            held.enter_context(second.exclusive())
            await asyncio.to_thread(second.up)
            await run_two_servers(
                sandbox,
                second,
                args.db_url,
                args.levels,
                Path(tmp),
                args.area_share,
                args.agents,
                args.patience_s,
            )
            return
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
    parser.add_argument("--db-url", help="the bridges' database (default: a fresh SQLite file)")
    parser.add_argument(
        "--two-servers",
        action="store_true",
        help="the storm on one server and split over two (the sandbox and its instance b)",
    )
    cli = parser.parse_args()
    if cli.two_servers and not (cli.db_url or "").startswith("postgresql"):
        parser.error("--two-servers needs --db-url postgresql+asyncpg://… (one shared database)")
    asyncio.run(main(cli))
