"""Does the outage notice make the menu think longer? AGI think time with and without it.

Places N simultaneous calls through the sandboxed Asterisk into the bridge, in the same run:

- ``plain``: no outage; callers press 1, 1 (fault repair, no power) as in
  ``bench/inbound_load.py``;
- ``notice``: every caller's number is in the customer register (among ``--customers``
  customers in the outage's area, so the in-memory index holds them all) under an active fault
  outage: each hears the greeting and the notice, presses 2 (on to the menu), then 1, 1.

Reported per variant: calls routed, the bridge's CPU per call, and AGI think per command (one
command's end → the next command's start, from Asterisk's ``AGIExecStart``/``AGIExecEnd``
events, µs timestamps), p50 and p99, with the notice's ratio to plain in the same run. Also
the time to rebuild the notice index (off the call path) for that many customers.

Run: ``.venv/bin/python bench/outage_lookup.py --calls 20 --customers 100000`` (as root; takes
the sandbox exclusively). Numbers on a shared machine are noisy: compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.inbound_load import agi_latencies, pct
from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import DatabaseSettings, Settings
from ivr.domain.calls import CallOutcome
from ivr.domain.outages import NOTICE_KEYS, Customer, Outage, OutageKind, notice_text
from ivr_sandbox.asterisk import AsteriskSandbox

AREA = "压测小区"
PLAIN_KEYS, PLAIN_PAUSE_S = "1ww1", 4.5


@dataclass
class Run:
    variant: str
    calls: int
    routed: int
    cpu_s: float
    think_s: list[float]


def number(i: int) -> str:
    return f"1376{i:07d}"  # not inbound_load's callers: they must hear no notice


def seconds(prompt: Path) -> float:
    with wave.open(str(prompt.with_suffix(".wav")), "rb") as w:
        return w.getnframes() / w.getframerate()


async def place(
    ami: AmiClient,
    bridge: Bridge,
    variant: str,
    n: int,
    keys: str,
    pause_s: float,
    events: list[dict[str, str]],
) -> Run:
    since = datetime.now(UTC)
    events.clear()
    cpu = time.process_time()
    for i in range(n):
        await ami.action(
            {
                "Action": "Originate",
                "Channel": "Local/95598@from-pstn",
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"bench" <{number(i)}>',
                "Variable": f"SIM_KEYS={keys},SIM_PAUSE={pause_s:g},SIM_HOLD=8",
                "Async": "true",
            }
        )
    deadline = time.monotonic() + pause_s + 8 + 90
    while time.monotonic() < deadline:
        ended = sum(1 for e in events if e.get("Event") == "Hangup" and ";1" in e["Channel"])
        if ended >= n:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)
    cpu = time.process_time() - cpu
    records = await bridge.repository.list_since(since)
    routed = sum(r.outcome == CallOutcome.ROUTED and r.choice == "repair.no_power" for r in records)
    _starts, thinks = agi_latencies(events)
    return Run(variant, n, routed, cpu, thinks)


def line(run: Run, plain: Run | None) -> str:
    ms = 1000
    p50, p99 = pct(run.think_s, 50) * ms, pct(run.think_s, 99) * ms
    ratio = ""
    if plain is not None:
        ratio = (
            f"  ×{p50 / (pct(plain.think_s, 50) * ms):.2f} p50"
            f"  ×{p99 / (pct(plain.think_s, 99) * ms):.2f} p99"
        )
    return (
        f"{run.variant:<7} {run.calls:>5} {run.routed:>6} {run.cpu_s * ms / run.calls:>10.1f}"
        f" {len(run.think_s):>8} {p50:>9.2f} {p99:>9.2f}{ratio}"
    )


async def declare(bridge: Bridge) -> Outage:
    now = datetime.now(UTC)
    return await bridge.outages.declare(
        OutageKind.FAULT,
        [AREA],
        [],
        now - timedelta(minutes=1),
        now + timedelta(hours=2),
        "线路故障",
        "bench",
    )


async def run(
    sandbox: AsteriskSandbox, bridge: Bridge, calls: int, customers: int, rounds: int
) -> list[tuple[Run, Run]]:
    """The rounds (plain, then notice) on a sandbox that is up and held by the caller and a
    started bridge serving its FastAGI port; prints and returns the results. The outage is
    cancelled at the end (the customers stay in that bridge's register, under no outage)."""
    assert bridge.notices is not None
    observer = sandbox.observer
    ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
    events: list[dict[str, str]] = []
    ami.on_event("*", lambda e: events.append(dict(e)))
    await ami.connect()
    register = [
        Customer(f"{3_000_000_000 + i}", "压测", (number(i),), "压测路", AREA)
        for i in range(customers)
    ]
    await bridge.customers.upsert(register)
    outage = await declare(bridge)
    results: list[tuple[Run, Run]] = []
    try:
        began = time.perf_counter()
        index = await bridge.notices.refresh()
        build_s = time.perf_counter() - began
        began = time.perf_counter()
        await bridge.notices.refresh()
        kept_s = time.perf_counter() - began
        zone = ZoneInfo(bridge.settings.tracking.timezone)
        text = notice_text(outage, AREA, zone, datetime.now(UTC))
        hear = 0.0  # greeting, notice and its keys: the notice callers press 2 near the end
        for said in (bridge.menu.greeting, text, NOTICE_KEYS):
            hear += seconds(await bridge.prompts.prompt_path(said))
        print(
            f"notice index: {len(index.by_phone)} numbers of {customers} customers, built in"
            f" {build_s * 1000:.0f} ms, a refresh with nothing changed {kept_s * 1000:.1f} ms"
            " (off the call path)"
        )
        print("CPU per call in ms (bridge process); think in ms from Asterisk's AGIExec events")
        print(
            f"{'variant':<7} {'calls':>5} {'routed':>6} {'cpu/call':>10} {'commands':>8}"
            f" {'think p50':>9} {'think p99':>9}"
        )
        for _ in range(rounds):
            await bridge.outages.cancel(outage.id, "plain round", "bench")
            await bridge.notices.refresh()
            plain = await place(ami, bridge, "plain", calls, PLAIN_KEYS, PLAIN_PAUSE_S, events)
            outage = await declare(bridge)
            await bridge.notices.refresh()
            notice = await place(ami, bridge, "notice", calls, "2ww1ww1", hear - 2.0, events)
            print(line(plain, None))
            print(line(notice, plain), flush=True)
            results.append((plain, notice))
    finally:
        await bridge.outages.cancel(outage.id, "bench over", "bench")
        await bridge.notices.refresh()
        await ami.close()
    return results


async def main(calls: int, customers: int, rounds: int) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive(), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(sandbox.up)
        bridge = Bridge(Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp}/b.db")))
        await bridge.start()
        try:
            await run(sandbox, bridge, calls, customers, rounds)
        finally:
            await bridge.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.customers, args.rounds))
