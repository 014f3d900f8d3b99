"""The inbound menu under load through the SIP trunk, against the same flow in plain dialplan.

Per level N, in one run on the sandbox:

- ``dialplan``: the baseline of ``bench/inbound_load.py`` (``[bench-menu-main]``: the menu in
  plain dialplan, Local-channel callers, no SIP, no AGI);
- ``sip``: N SIPp callers through the trunk (the sandbox's carrier, 127.0.0.2), placed within
  one second, each sending 7 s of G.711 speech and pressing 1, 1 as RFC 4733 events, then
  hanging up; the bridge's menu routes them (records in SQLite).

Columns as in ``bench/inbound_load.py`` (routed, CPU per call of Asterisk and the bridge, start
and think p50/p99 from Asterisk's AGIExec events), plus SIPp's own count of failed calls and its
INVITE → 200 OK response time (p50/p99, ms). Run as root: ``.venv/bin/python -m
bench.sip_inbound --levels 50 100 200``. The shipped ``rtp.conf`` has ports for 100 calls;
``--rtp-end 11999`` widens the sandbox's range for this run only (restored afterwards) to see
where the machine itself breaks. Figures are in docs/sip.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.inbound_load import Level, agi_latencies, asterisk_cpu_s, pct, run_level
from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import DatabaseSettings, Settings
from ivr.db.calls import SqlCallRepository
from ivr.domain.calls import CallOutcome
from ivr_sandbox.asterisk import AsteriskSandbox
from tests.sipp import ASTERISK, CARRIER_IP, Audio, Key, Pause, carrier_call

HOLD_MS = 9000
STEPS = [Audio(), Pause(4500), Key("1"), Pause(1000), Key("1"), Pause(HOLD_MS)]


@dataclass
class SippStats:
    failed: int
    successful: int
    response_ms: list[float]


def write_scenario(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = workdir / "load.xml"
    text = carrier_call(STEPS, True, workdir, from_user="1388[call_number]")
    scenario.write_text(text, encoding="utf-8")
    return scenario


def read_stats(workdir: Path) -> SippStats:
    """SIPp's cumulative counters (-trace_stat) and every INVITE → 200 time (-trace_rtt)."""
    with open(workdir / "stat.csv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    last = rows[-1]
    response: list[float] = []
    for rtt in workdir.glob("*_rtt.csv"):
        with open(rtt, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    response.append(float(row[1]))
    return SippStats(int(last["FailedCall(C)"]), int(last["SuccessfulCall(C)"]), response)


async def sipp_load(n: int, workdir: Path) -> SippStats:
    """N calls from one SIPp, all started within a second; its own statistics."""
    scenario = write_scenario(workdir)
    argv = [
        "sipp", ASTERISK, "-sf", str(scenario), "-i", CARRIER_IP, "-p", "15900",
        "-mi", CARRIER_IP, "-mp", "17000", "-m", str(n), "-l", str(n), "-r", str(n),
        "-rp", "1000", "-nostdin", "-trace_stat", "-stf", str(workdir / "stat.csv"),
        "-trace_rtt", "-rtt_freq", "1", "-recv_timeout", "60000", "-timeout", "240s",
        "-max_socket", "2048",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()
    return read_stats(workdir)


async def sip_level(
    bridge: Bridge, n: int, events: list[dict[str, str]], workdir: Path
) -> tuple[Level, SippStats]:
    since = datetime.now(UTC)
    events.clear()
    (cpu_a, cpu_c), cpu_p = asterisk_cpu_s(), time.process_time()
    stats = await sipp_load(n, workdir)
    await asyncio.sleep(3)  # hangup handlers and the last record writes
    (a_end, c_end), p_end = asterisk_cpu_s(), time.process_time()
    records = await bridge.repository.list_since(since)
    routed = sum(r.outcome == CallOutcome.ROUTED and r.choice == "repair.no_power" for r in records)
    starts, thinks = agi_latencies(events)
    level = Level("sip", n, routed, len(records), a_end - cpu_a, c_end - cpu_c, p_end - cpu_p)
    level.start_s, level.think_s = starts, thinks
    return level, stats


def row(n: int, lv: Level, base: Level, stats: SippStats | None) -> str:
    ms = 1000
    bridge = max(lv.process_cpu_s - base.process_cpu_s, 0.0) / n if lv.variant == "sip" else 0.0
    total = lv.asterisk_cpu_s / n + bridge
    base_total = base.asterisk_cpu_s / n
    latency = (
        f"{pct(lv.start_s, 50) * ms:>9.1f} {pct(lv.start_s, 99) * ms:>9.1f} "
        f"{pct(lv.think_s, 50) * ms:>9.2f} {pct(lv.think_s, 99) * ms:>9.2f}"
        if lv.variant == "sip"
        else f"{'-':>9} {'-':>9} {'-':>9} {'-':>9}"
    )
    sipp = (
        f"{stats.failed:>6} {pct(stats.response_ms, 50):>8.1f} {pct(stats.response_ms, 99):>8.1f}"
        if stats
        else f"{'-':>6} {'-':>8} {'-':>8}"
    )
    return (
        f"{n:>5} {lv.variant:<9} {lv.routed:>4}/{n:<4} {lv.asterisk_cpu_s / n * ms:>9.1f} "
        f"{bridge * ms:>9.1f} {total * ms:>9.1f} {total / base_total:>7.2f}x {latency} {sipp}"
    )


HEADER = (
    f"{'calls':>5} {'variant':<9} {'routed':>9} {'ast ms':>9} {'bridge ms':>9} {'total ms':>9} "
    f"{'vs plan':>8} {'start p50':>9} {'start p99':>9} {'think p50':>9} {'think p99':>9} "
    f"{'failed':>6} {'resp p50':>8} {'resp p99':>8}"
)


@contextlib.contextmanager
def rtp_range(sandbox: AsteriskSandbox, end: int | None) -> Iterator[None]:
    """The sandbox's RTP ports up to ``end`` while the block runs (None: as shipped)."""
    if end is None:
        yield
        return
    path = sandbox.host_path("/etc/asterisk/rtp.conf")
    shipped = path.read_text()
    path.write_text(re.sub(r"(?m)^rtpend\s*=\s*\d+", f"rtpend = {end}", shipped))
    sandbox.rx("module reload res_rtp_asterisk.so")
    try:
        yield
    finally:
        path.write_text(shipped)
        sandbox.rx("module reload res_rtp_asterisk.so")


async def main(levels: list[int], rtp_end: int | None) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive(), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(sandbox.up)
        with rtp_range(sandbox, rtp_end):
            await run_levels(sandbox, levels, Path(tmp))


async def run_levels(sandbox: AsteriskSandbox, levels: list[int], tmp: Path) -> None:
    bridge = Bridge(Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp}/b.db")))
    await bridge.start()
    observer = sandbox.observer
    ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
    events: list[dict[str, str]] = []
    ami.on_event("*", lambda e: events.append(dict(e)))
    await ami.connect()
    try:
        print("CPU per call in ms; AGI latencies from Asterisk's events; SIPp response ms")
        print(HEADER, flush=True)
        unused = SqlCallRepository(bridge.engine)
        for n in levels:
            base = await run_level(ami, bridge, unused, tmp, "dialplan", n, events)
            sip, stats = await sip_level(bridge, n, events, tmp / f"sip-{n}")
            print(row(n, base, base, None))
            print(row(n, sip, base, stats), flush=True)
    finally:
        await ami.close()
        await bridge.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--rtp-end", type=int, help="last RTP port for this run (from 10000)")
    args = parser.parse_args()
    asyncio.run(main(args.levels, args.rtp_end))
