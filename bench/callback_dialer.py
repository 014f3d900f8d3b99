"""The callback dialer under load: N due callbacks, a concurrency cap, one and two bridges,
or one and two Asterisk servers.

All N callbacks are due at once (a morning's backlog). Three runs, one after the other, in the
same sandbox session, each dialling the same N customers of ``[sim-customers-fast]`` (answer,
press 1 then 1 while the questions play, hang up: a complete callback in ~3 s):

- ``bare``: the baseline, a bare panoramisk ``Originate`` loop with the same cap and the same
  rate, no database; its answered leg just waits (``[sim-callback-idle]``);
- ``1 bridge`` and ``2 bridges``: that many ``ivr run`` processes with the dialer on, on one
  PostgreSQL, each serving the conversations of the calls it placed.

With ``--two-servers`` the two runs after ``bare`` are ``1 server`` (one bridge on the default
sandbox) and ``2 servers`` (one bridge on it and one on the sandbox's second instance ``b``),
each server's trunk capped at ``--server-cap`` live callbacks (``asterisk.max_outbound``) and
the centre at ``--cap``: one server is held to its trunk, two share the centre's cap.

Everything is measured from Asterisk's own events on a separate AMI connection, not from the
dialer's counters: lateness (a customer's first ``Newchannel`` - the due time, p50/p99), peak
concurrency (live callback legs, ``Newchannel`` to ``Hangup``; must never exceed the cap),
duplicates (customers dialled more than once; must be zero), and, from the database, attempts
per task (more than one is a duplicate) and the attempts' results. Ratios are against ``bare``.

Run (as root; holds the sandbox; ``--db`` is a PostgreSQL database the benchmark may empty):
``.venv/bin/python -m bench.callback_dialer --db postgresql+asyncpg://…/ivr_bench -n 300``.
Numbers on a shared machine are noisy: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from panoramisk import Manager
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.asterisk.ami import AmiClient
from ivr.config import Settings
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.workorder_models import (
    attempts_table,
    dialer_state_table,
    orders_table,
    tasks_table,
)
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox

CUSTOMERS = "sim-customers-fast"
LEG = re.compile(rf"^Local/(\d+)@{CUSTOMERS}-[0-9a-f]+;1$")
RING_TIMEOUT_S = 10
# Tables the benchmark empties between runs (its own database only).
TABLES = "callback_attempts, callback_tasks, work_order_history, work_order_deadlines, work_orders"


def numbers(n: int) -> list[str]:
    """N valid mainland mobile numbers, one customer each."""
    return [f"1378{i:07d}" for i in range(n)]


@dataclass
class Legs:
    """Callback legs as Asterisk reports them: the only source of the figures."""

    started: dict[str, list[float]] = field(default_factory=dict)  # number -> Newchannel times
    ended: Counter[str] = field(default_factory=Counter)
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (timestamp, +1 / -1)
    by_server: Counter[str] = field(default_factory=Counter)  # legs each server placed
    _uids: set[tuple[str, str]] = field(default_factory=set)

    def on_event(self, event: Any, server: str = "a") -> None:
        """One AMI event of ``server`` (two Asterisks may give the same Uniqueid; their
        timestamps are one host's clock)."""
        match = LEG.match(str(event.get("Channel", "")))
        if match is None:
            return
        at = float(event.get("Timestamp") or time.time())
        uid = (server, str(event.get("Uniqueid", "")))
        if event.get("Event") == "Newchannel" and uid not in self._uids:
            self._uids.add(uid)
            self.started.setdefault(match.group(1), []).append(at)
            self.timeline.append((at, 1))
            self.by_server[server] += 1
        elif event.get("Event") == "Hangup" and uid in self._uids:
            self._uids.discard(uid)
            self.ended[match.group(1)] += 1
            self.timeline.append((at, -1))

    def peak(self) -> int:
        live = peak = 0
        for _, step in sorted(self.timeline):
            live += step
            peak = max(peak, live)
        return peak

    def all_ended(self, wanted: list[str]) -> bool:
        return all(self.ended[n] >= 1 and self.ended[n] >= len(self.started[n]) for n in wanted)


@dataclass
class Outcome:
    name: str
    n: int
    wall_s: float
    dialled: int
    lateness_s: list[float]
    peak: int
    dup_ami: int
    dup_db: int | None = None
    results: Counter[str] = field(default_factory=Counter)
    cpu_ms_per_call: float | None = None  # the bridge processes'
    asterisk_ms_per_call: float = float("nan")
    by_server: Counter[str] = field(default_factory=Counter)  # legs per Asterisk


def pct(samples: list[float], q: int) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def measure(name: str, legs: Legs, wanted: list[str], due: float, wall_s: float) -> Outcome:
    firsts = [min(legs.started[n]) - due for n in wanted if n in legs.started]
    dups = sum(1 for n in wanted if len(legs.started.get(n, [])) > 1)
    outcome = Outcome(name, len(wanted), wall_s, len(firsts), firsts, legs.peak(), dups)
    outcome.by_server = Counter(legs.by_server)
    return outcome


async def wait_done(legs: Legs, wanted: list[str], deadline: float) -> None:
    # polls a condition AMI callbacks feed; no event to wait on
    while not legs.all_ended(wanted) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- the baseline


async def bare_loop(
    ami: AmiEndpoint, legs: Legs, wanted: list[str], cap: int, rate: float, max_s: float
) -> Outcome:
    """Originate every number as soon as the cap and the rate allow; nothing else."""
    manager = Manager(
        host=ami.host, port=ami.port, username=ami.username, secret=ami.secret, ping_delay=60
    )
    live: set[str] = set()
    wake = asyncio.Event()

    def finished(_manager: Manager, event: Any) -> None:
        match = LEG.match(str(event.get("Channel", "")))
        number = match.group(1) if match else str(event.get("ActionID", ""))[len("bench-") :]
        if event.get("Event") == "Hangup" or event.get("Response") == "Failure":
            live.discard(number)
            wake.set()

    manager.register_event("Hangup", finished)
    manager.register_event("OriginateResponse", finished)
    await manager.connect()
    due = time.time()
    started = time.monotonic()
    next_slot = started
    try:
        for number in wanted:
            while len(live) >= cap:
                wake.clear()
                await wake.wait()
            delay = next_slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            next_slot = max(next_slot, time.monotonic()) + 1 / rate
            live.add(number)
            await manager.send_action(
                {
                    "Action": "Originate",
                    "ActionID": f"bench-{number}",
                    "Channel": f"Local/{number}@{CUSTOMERS}",
                    "Context": "sim-callback-idle",
                    "Exten": "s",
                    "Priority": "1",
                    "CallerID": '"95598" <95598>',
                    "Timeout": str(RING_TIMEOUT_S * 1000),
                    "Async": "true",
                },
                as_list=False,
            )
        await wait_done(legs, wanted, started + max_s)
    finally:
        manager.close()
    return measure("bare", legs, wanted, due, time.monotonic() - started)


# ---------------------------------------------------------------- the bridges


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Placed:
    """One bridge of a run: the Asterisk it serves, by name, and that server's trunk cap."""

    ami: AmiEndpoint
    server: str = "asterisk-1"
    server_cap: int = 0  # asterisk.max_outbound; 0: the centre's cap only


async def start_bridges(
    placed: list[Placed], db_url: str, cap: int, rate: float, logs: Path
) -> list[asyncio.subprocess.Process]:
    processes = []
    for i, where in enumerate(placed):
        ami = where.ami
        web, agi = free_port(), free_port()
        env = os.environ | {
            "IVR_DATABASE__URL": db_url,
            "IVR_WEB__PORT": str(web),
            "IVR_AGI__PORT": str(agi),
            "IVR_SPEECH__RECOGNITION": "false",
            "IVR_AMI__HOST": ami.host,
            "IVR_AMI__PORT": str(ami.port),
            "IVR_AMI__USERNAME": ami.username,
            "IVR_AMI__SECRET": ami.secret,
            "IVR_ASTERISK__SERVER_NAME": where.server,
            "IVR_ASTERISK__MAX_OUTBOUND": str(where.server_cap),
            "IVR_CALLBACK__DIALER": "true",
            "IVR_CALLBACK__TRUNK_CONTEXT": CUSTOMERS,
            "IVR_CALLBACK__AGI_URL": f"agi://127.0.0.1:{agi}",  # its own calls' conversations
            "IVR_CALLBACK__MAX_CONCURRENT": str(cap),
            "IVR_CALLBACK__RATE_PER_S": str(rate),
            "IVR_CALLBACK__RING_TIMEOUT_S": str(RING_TIMEOUT_S),
            "IVR_CALLBACK__POLL_INTERVAL_S": "0.5",
            "IVR_CALLBACK__WINDOW_START": "00:00",
            "IVR_CALLBACK__WINDOW_END": "24:00",
        }
        with (logs / f"bridge{i}.log").open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ivr", "run", env=env, stderr=stderr
            )
        processes.append(process)
        for _ in range(240):
            await asyncio.sleep(0.25)
            if await asyncio.to_thread(healthy, web):
                break
            if process.returncode is not None:
                raise RuntimeError(f"bridge {i} exited; see {logs / f'bridge{i}.log'}")
        else:
            raise RuntimeError(f"bridge {i} did not come up; see {logs / f'bridge{i}.log'}")
    return processes


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def reset(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        await conn.execute(update(dialer_state_table).values(next_slot_at=datetime.now(UTC)))


async def add_due(engine: AsyncEngine, wanted: list[str], due: datetime) -> None:
    """N closed orders, each with a callback task due at ``due``: bulk, not through the API."""
    now = datetime.now(UTC)
    rows = [
        {
            "order_no": f"BENCH{i:07d}",
            "kind": "consultation",
            "status": "closed",
            "owner_job_number": "1024",
            "customer_surname": "李",
            "customer_title": "先生",
            "customer_phone": number,
            "do_not_call": False,
            "summary": "bench",
            "result": "bench",
            "created_at": now,
            "updated_at": now,
            "closed_at": now,
        }
        for i, number in enumerate(wanted)
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(orders_table), rows[start : start + 1000])
        await conn.execute(
            text(
                "INSERT INTO callback_tasks (order_id, state, due_by, next_attempt_at, "
                "attempts_made, created_at, updated_at) "
                "SELECT id, 'pending', :by, :due, 0, :now, :now FROM work_orders"
            ),
            {"by": due + timedelta(days=1), "due": due, "now": now},
        )


async def bridges_run(
    name: str,
    placed: list[Placed],
    engine: AsyncEngine,
    db_url: str,
    legs: Legs,
    wanted: list[str],
    cap: int,
    rate: float,
    max_s: float,
    logs: Path,
) -> Outcome:
    await reset(engine)
    await add_due(engine, wanted, datetime.now(UTC) + timedelta(days=1))
    processes = await start_bridges(placed, db_url, cap, rate, logs)
    cpu0 = [cpu_s(p.pid) for p in processes]
    try:
        due = datetime.now(UTC)
        started = time.monotonic()
        async with engine.begin() as conn:  # all due now, in one statement
            await conn.execute(update(tasks_table).values(next_attempt_at=due))
        await wait_done(legs, wanted, started + max_s)
        wall = time.monotonic() - started
        await asyncio.sleep(2)  # the last conversations write their results
        cpu = sum(cpu_s(p.pid) - c for p, c in zip(processes, cpu0, strict=True))
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 60)
    outcome = measure(name, legs, wanted, due.timestamp(), wall)
    async with engine.connect() as conn:
        per_task = (
            await conn.execute(
                select(attempts_table.c.task_id, func.count()).group_by(attempts_table.c.task_id)
            )
        ).all()
        results = (
            await conn.execute(select(attempts_table.c.result, attempts_table.c.state))
        ).all()
        tasks = (await conn.execute(select(func.count()).select_from(tasks_table))).scalar_one()
    outcome.dup_db = sum(1 for _, k in per_task if k > 1) + (tasks - len(wanted))
    outcome.results = Counter(r.result or r.state for r in results)
    outcome.cpu_ms_per_call = cpu / max(outcome.dialled, 1) * 1000
    return outcome


# ---------------------------------------------------------------- report


def report(outcomes: list[Outcome], cap: int, rate: float) -> list[str]:
    base = outcomes[0]
    base_rate = base.dialled / base.wall_s if base.wall_s else float("nan")
    base_p50 = pct(base.lateness_s, 50)
    lines = [
        f"cap {cap} live callbacks, global rate {rate:g}/s, all due at once; lateness = first "
        "Newchannel - due time; peak/dups from AMI",
        f"{'run':<10} {'dialled':>11} {'wall s':>7} {'calls/s':>8} {'vs bare':>8} "
        f"{'late p50':>8} {'late p99':>8} {'vs bare':>8} {'peak':>5} {'dup AMI':>7} "
        f"{'dup DB':>6} {'ast CPU':>8} {'ivr CPU':>8}  results (CPU per call); legs per server",
    ]
    for o in outcomes:
        calls_s = o.dialled / o.wall_s if o.wall_s else float("nan")
        p50, p99 = pct(o.lateness_s, 50), pct(o.lateness_s, 99)
        cpu = f"{o.cpu_ms_per_call:>6.1f}ms" if o.cpu_ms_per_call is not None else f"{'-':>8}"
        peak_ok = "" if o.peak <= cap else "!"
        lines.append(
            f"{o.name:<10} {o.dialled:>5}/{o.n:<5} {o.wall_s:>7.1f} {calls_s:>8.2f} "
            f"{calls_s / base_rate:>7.2f}x {p50:>7.1f}s {p99:>7.1f}s {p50 / base_p50:>7.2f}x "
            f"{o.peak:>4}{peak_ok:1} {o.dup_ami:>7} {'-' if o.dup_db is None else o.dup_db:>6} "
            f"{o.asterisk_ms_per_call:>6.1f}ms {cpu}  {dict(o.results) if o.results else ''}"
            f" {dict(o.by_server)}"
        )
    return lines


def plan(
    sandbox: AsteriskSandbox, second: AsteriskSandbox | None, server_cap: int
) -> dict[str, list[Placed]]:
    """The bridge runs after ``bare``: one and two bridges on one Asterisk, or (with a second
    instance) one and two servers, each server's trunk capped at ``server_cap``."""
    if second is None:
        return {"1 bridge": [Placed(sandbox.ami)], "2 bridges": [Placed(sandbox.ami)] * 2}
    a = Placed(sandbox.ami, "asterisk-a", server_cap)
    return {"1 server": [a], "2 servers": [a, Placed(second.ami, "asterisk-b", server_cap)]}


def asterisk_cpu_s(boxes: list[AsteriskSandbox]) -> float:
    """CPU seconds of every running Asterisk among ``boxes`` (each by its own root)."""
    return sum(cpu_s(pid) for box in boxes if (pid := box.daemon_pid()) is not None)


async def run(
    sandbox: AsteriskSandbox,
    n: int,
    cap: int,
    rate: float,
    db_url: str,
    max_s: float,
    second: AsteriskSandbox | None = None,
    server_cap: int = 0,
) -> list[Outcome]:
    """The three runs on a sandbox (and ``second``, its instance b) that is up and held by the
    caller; prints the report."""
    wanted = numbers(n)
    engine = create_engine(db_url)
    await upgrade(db_url)
    boxes = [sandbox] if second is None else [sandbox, second]
    runs: list[Legs] = [Legs()]
    watchers = []
    for box, server in zip(boxes, ("a", "b"), strict=False):
        observer = box.observer
        watcher = AmiClient(observer.host, observer.port, observer.username, observer.secret)
        await watcher.connect()
        for event_name in ("Newchannel", "Hangup"):
            watcher.on_event(event_name, lambda event, s=server: runs[-1].on_event(event, s))
        watchers.append(watcher)
    outcomes: list[Outcome] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, placed in {"bare": [], **plan(sandbox, second, server_cap)}.items():
                legs = Legs()
                runs.append(legs)  # this run's own record of the legs
                asterisk_cpu = asterisk_cpu_s(boxes)
                if name == "bare":
                    outcome = await bare_loop(sandbox.ami, legs, wanted, cap, rate, max_s)
                else:
                    outcome = await bridges_run(
                        name, placed, engine, db_url, legs, wanted, cap, rate, max_s, Path(tmp)
                    )
                asterisk_cpu = asterisk_cpu_s(boxes) - asterisk_cpu
                outcome.asterisk_ms_per_call = asterisk_cpu / max(outcome.dialled, 1) * 1000
                outcomes.append(outcome)
                print(
                    f"  {outcome.name}: {outcome.dialled}/{n} dialled in {outcome.wall_s:.0f} s",
                    flush=True,
                )
    finally:
        for watcher in watchers:
            await watcher.close()
        await engine.dispose()
    print("\n".join(report(outcomes, cap, rate)))
    return outcomes


async def main(
    n: int, cap: int, rate: float, db_url: str, max_s: float, two_servers: bool, server_cap: int
) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    second = AsteriskSandbox.from_settings(Settings(), instance="b") if two_servers else None
    with contextlib.ExitStack() as held_boxes:
        held_boxes.enter_context(sandbox.exclusive())
        held = time.monotonic()
        await asyncio.to_thread(sandbox.up)
        if second is not None:
            held_boxes.enter_context(second.exclusive())
            await asyncio.to_thread(second.up)
        await run(sandbox, n, cap, rate, db_url, max_s, second, server_cap)
        print(f"sandbox held {time.monotonic() - held:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="due callbacks per run")
    parser.add_argument("--cap", type=int, default=30, help="callback.max_concurrent")
    parser.add_argument("--rate", type=float, default=10.0, help="callback.rate_per_s")
    parser.add_argument("--max-s", type=float, default=900.0, help="give a run up after this")
    parser.add_argument(
        "--two-servers",
        action="store_true",
        help="one server against two (the sandbox and its instance b) instead of 1 and 2 bridges",
    )
    parser.add_argument(
        "--server-cap",
        type=int,
        default=0,
        help="asterisk.max_outbound of each server with --two-servers (default: half the cap)",
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("IVR_BENCH_POSTGRES_URL", ""),
        help="PostgreSQL URL of a database the benchmark may empty ($IVR_BENCH_POSTGRES_URL)",
    )
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        parser.error("--db (or IVR_BENCH_POSTGRES_URL) must be a PostgreSQL URL")
    server_cap = args.server_cap or max(args.cap // 2, 1)
    asyncio.run(
        main(args.n, args.cap, args.rate, args.db, args.max_s, args.two_servers, server_cap)
    )
