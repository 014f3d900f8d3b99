"""How many callers can be in the 95598 menu at once, and what the bridge costs per call.

Places N simultaneous calls through the sandboxed Asterisk, each pressing 1 then 1 (fault
repair, no power), four times per level, all measured in the same run:

- ``dialplan``: the baseline, the same menu written in plain dialplan (``[bench-menu-main]`` in
  ``ivr_sandbox/extensions_local.conf``: same prompt files, same keys), no AGI at all; the call
  ends where the bridge would hand it to a queue;
- ``queued``: the same, then the caller joins ``q-repair`` as ``[from-pstn]`` does after the
  bridge's menu (``BENCH_QUEUE``): the same queue wait and music on hold as a bridged call, so
  only the menu differs;
- ``bridge``: our FastAGI bridge (records in SQLite);
- ``classic``: the other baseline, the same flow as a classic process-per-call AGI script
  (``agi_scripts/ivr_agi.py``, started by Asterisk's ``AGI()`` inside the sandbox root with
  Debian's python3, records in its own SQLite file): ``[bench-classic]``.

Reports per level and variant: calls routed correctly (all of them = sustained), CPU per call
(Asterisk; the bridge process; the classic scripts, which Asterisk reaps, as its children's CPU)
and its ratio to both dialplan baselines, and two latencies read from Asterisk's own
``AGIExecStart``/``AGIExecEnd`` events (µs timestamps), p50 and p99: *start* (the ``AGI()``
application starting → the first AGI command: connect or fork+exec, imports, settings, menu)
and *think* per command (one command's end → the next command's start: what the AGI program
adds to every step). Plain dialplan has neither: its steps follow each other inside Asterisk.

Run: ``.venv/bin/python bench/inbound_load.py --levels 10 25 50`` (as root; takes the sandbox
exclusively, about 40 s per level and variant; ``--variants bridge`` leaves classic AGI out).
Numbers on a shared machine are noisy: compare the ratios within one run, not absolute figures
across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import DatabaseSettings, Settings
from ivr.db.calls import SqlCallRepository
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.domain.calls import CallOutcome
from ivr_sandbox.asterisk import AsteriskSandbox

KEYS = "1ww1"
# Callers press during the 6.4 s greeting, 4.5 s in: late enough that a classic script, which
# needs ~3 s to start on an idle machine, is listening (keys before the first command are lost).
PAUSE_S = 4.5
HOLD_S = 9
VARIANTS = ("dialplan", "queued", "bridge", "classic")
BASELINES = ("dialplan", "queued")
CHANNELS = {
    "dialplan": "Local/s@bench-menu-main",
    "queued": "Local/s@bench-menu-main",
    "bridge": "Local/95598@from-pstn",
    "classic": "Local/s@bench-classic",
}


@dataclass
class Level:
    variant: str
    calls: int
    routed: int
    recorded: int  # calls the bridge or the classic script wrote a record for
    asterisk_cpu_s: float  # Asterisk's own CPU
    children_cpu_s: float  # processes Asterisk started and reaped: the classic AGI scripts
    process_cpu_s: float  # this process: the bridge
    start_s: list[float] = field(default_factory=list)
    think_s: list[float] = field(default_factory=list)


def asterisk_cpu_s() -> tuple[float, float]:
    """(Asterisk's own CPU, CPU of its reaped children) in seconds, from /proc: the sandbox's
    Asterisk (the one whose root is ours: another test may run a second Asterisk beside it)."""
    pid = AsteriskSandbox.from_settings(Settings()).daemon_pid()
    if pid is None:
        raise RuntimeError("the sandbox's Asterisk is not running")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def classic_scripts_running() -> bool:
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ivr_agi.py" in (proc / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def agi_latencies(events: Sequence[Mapping[str, str]]) -> tuple[list[float], list[float]]:
    """(start-up, think) samples in seconds of every ``AGI(…inbound…)`` session in ``events``.

    Start-up: the AGI application's ``Newexten`` → its first ``AGIExecStart``. Think: an
    ``AGIExecEnd`` → the next ``AGIExecStart`` on the same channel. Asterisk's timestamps.
    """
    by_channel: dict[str, list[Mapping[str, str]]] = defaultdict(list)
    for e in events:
        if e.get("Event") in ("Newexten", "AGIExecStart", "AGIExecEnd") and "Timestamp" in e:
            by_channel[e.get("Channel", "")].append(e)
    starts: list[float] = []
    thinks: list[float] = []
    for channel_events in by_channel.values():
        began: float | None = None  # the inbound AGI() app started, no command yet
        last_end: float | None = None
        inside = False
        for e in sorted(channel_events, key=lambda e: float(e["Timestamp"])):
            ts = float(e["Timestamp"])
            kind = e["Event"]
            if kind == "Newexten":
                inside = e.get("Application") == "AGI" and "inbound" in e.get("AppData", "")
                began, last_end = (ts if inside else None), None
            elif inside and kind == "AGIExecStart":
                if began is not None:
                    starts.append(ts - began)
                    began = None
                elif last_end is not None:
                    thinks.append(ts - last_end)
            elif inside and kind == "AGIExecEnd":
                last_end = ts
    return starts, thinks


def classic_settings(path: Path, db_url: str, settings: Settings) -> None:
    """The settings file the classic script reads: its database, our prompt cache."""
    speech = settings.speech
    lines = [
        "[database]",
        f'url = "{db_url}"',
        "[speech]",
        f'cache_dir = "{speech.cache_dir}"',
        f'voice = "{speech.voice}"',
        f"rate = {speech.rate}",
        "recognition = false",
    ]
    if settings.menu.file is not None:
        lines += ["[menu]", f'file = "{settings.menu.file}"']
    path.write_text("\n".join(lines) + "\n")


async def run_level(
    ami: AmiClient,
    bridge: Bridge,
    classic: SqlCallRepository,
    classic_conf: Path,
    variant: str,
    n: int,
    events: list[dict[str, str]],
    hold_s: float = HOLD_S,
) -> Level:
    prompts = bridge.prompts
    menu = bridge.menu
    variables = f"SIM_KEYS={KEYS},SIM_PAUSE={PAUSE_S},SIM_HOLD={hold_s:g}"
    if variant in BASELINES:
        bench_vars = {
            "BENCH_GREETING": prompts.path_for(menu.greeting),
            "BENCH_MAIN": prompts.path_for(menu.nodes["main"].prompt),
            "BENCH_REPAIR": prompts.path_for(menu.nodes["repair"].prompt),
            "BENCH_TRANSFER": prompts.path_for(menu.transfer_prompt),
        }
        if variant == "queued":
            bench_vars["BENCH_QUEUE"] = "1"
        variables += "," + ",".join(f"{k}={v}" for k, v in bench_vars.items())
    elif variant == "classic":
        variables += f",BENCH_AGI_CONF={classic_conf}"
    since = datetime.now(UTC)
    events.clear()
    (cpu_a, cpu_c), cpu_p = asterisk_cpu_s(), time.process_time()
    for i in range(n):
        await ami.action(
            {
                "Action": "Originate",
                "Channel": CHANNELS[variant],
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"bench" <1377{i:07d}>',
                "Variable": variables,
                "Async": "true",
            }
        )
    deadline = time.monotonic() + PAUSE_S + hold_s + 90
    seen, ended = 0, 0  # only the new events each round: this process's CPU is the bridge's
    while time.monotonic() < deadline:
        fresh, seen = events[seen:], len(events)
        ended += sum(1 for e in fresh if e.get("Event") == "Hangup" and ";1" in e["Channel"])
        if ended >= n:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # let hangup handlers and last writes land
    for _ in range(120):  # classic scripts still running would bill the next level
        if not classic_scripts_running():
            break
        await asyncio.sleep(0.5)
    (a_end, c_end), p_end = asterisk_cpu_s(), time.process_time()
    records = []
    if variant in ("bridge", "classic"):
        repository = bridge.repository if variant == "bridge" else classic
        records = await repository.list_since(since)
        routed = sum(
            r.outcome == CallOutcome.ROUTED and r.choice == "repair.no_power" for r in records
        )
    else:
        routed = sum(
            1
            for e in events
            if e.get("Event") == "VarSet"
            and e.get("Variable") == "IVR_QUEUE"
            and e.get("Value") == "q-repair"
        )
    starts, thinks = agi_latencies(events)
    return Level(
        variant,
        n,
        routed,
        len(records),
        a_end - cpu_a,
        c_end - cpu_c,
        p_end - cpu_p,
        starts,
        thinks,
    )


def pct(samples: list[float], q: int) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def report(n: int, levels: dict[str, Level]) -> list[str]:
    """One line per variant; CPU per call and its ratio to the plain-dialplan baseline, and to
    the queued one (the same menu in dialplan, then the same queue join as the bridged call:
    only the menu differs) when it ran."""
    base = levels["dialplan"]
    idle_process = base.process_cpu_s  # this process's own cost of placing and watching calls
    rows = []
    ms = 1000

    def total_of(lv: Level) -> float:
        bridge_cpu = max(lv.process_cpu_s - idle_process, 0.0) if lv.variant == "bridge" else 0.0
        return (lv.asterisk_cpu_s + lv.children_cpu_s + bridge_cpu) / n

    base_total = total_of(base)
    queued_total = total_of(levels["queued"]) if "queued" in levels else float("nan")
    for name in [v for v in VARIANTS if v in levels]:
        lv = levels[name]
        total = total_of(lv)
        ratio = total / base_total if base_total else float("nan")
        versus_queued = total / queued_total if queued_total else float("nan")
        latency = (
            f"{pct(lv.start_s, 50) * ms:>9.1f} {pct(lv.start_s, 99) * ms:>9.1f} "
            f"{pct(lv.think_s, 50) * ms:>9.2f} {pct(lv.think_s, 99) * ms:>9.2f}"
            if name not in BASELINES
            else f"{'-':>9} {'-':>9} {'-':>9} {'-':>9}"
        )
        rows.append(
            f"{n:>5} {name:<9} {lv.routed:>4}/{n:<4} {lv.asterisk_cpu_s / n * ms:>9.1f} "
            f"{total * ms - lv.asterisk_cpu_s / n * ms:>9.1f} {total * ms:>9.1f} "
            f"{ratio:>7.2f}x {versus_queued:>7.2f}x {latency}"
        )
    return rows


HEADER = (
    f"{'calls':>5} {'variant':<9} {'routed':>9} {'ast ms':>9} {'agi ms':>9} {'total ms':>9} "
    f"{'vs plan':>8} {'vs queue':>8} {'start p50':>9} {'start p99':>9} {'think p50':>9} "
    f"{'think p99':>9}"
)


async def run(
    sandbox: AsteriskSandbox,
    bridge: Bridge,
    levels: list[int],
    hold_s: float = HOLD_S,
    variants: Sequence[str] = VARIANTS[2:],
) -> dict[int, dict[str, Level]]:
    """Every level through the variants (the dialplan baseline always), on a sandbox that is
    up and held by the caller and a started bridge serving the dialplan's FastAGI port; prints
    and returns the results."""
    settings = Settings()
    observer = sandbox.observer  # also sees dialplan (VarSet) and agi (AGIExec*) events
    classic_dir = settings.sandbox.recordings_dir / "bench-classic"  # visible in the root
    classic_dir.mkdir(parents=True, exist_ok=True)
    for stale in classic_dir.glob("classic.db*"):
        stale.unlink()
    classic_url = f"sqlite+aiosqlite:///{classic_dir / 'classic.db'}"
    await upgrade(classic_url)
    classic_conf = classic_dir / "ivr.toml"
    classic_settings(classic_conf, classic_url, settings)
    uid, gid = sandbox._asterisk_ids()  # the scripts run as the root's asterisk user
    for path in [classic_dir, *classic_dir.iterdir()]:
        os.chown(path, uid, gid)
    classic_engine = create_engine(classic_url)
    ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
    events: list[dict[str, str]] = []
    ami.on_event("*", lambda e: events.append(dict(e)))
    await ami.connect()
    results: dict[int, dict[str, Level]] = {}
    try:
        print("CPU per call in ms; latencies in ms from Asterisk's AGIExec events")
        print(HEADER)
        for n in levels:
            results[n] = {}
            for variant in [v for v in VARIANTS if v in BASELINES or v in variants]:
                results[n][variant] = await run_level(
                    ami,
                    bridge,
                    SqlCallRepository(classic_engine),
                    classic_conf,
                    variant,
                    n,
                    events,
                    hold_s,
                )
            print("\n".join(report(n, results[n])), flush=True)
    finally:
        await ami.close()
        await classic_engine.dispose()
    return results


async def main(levels: list[int], variants: Sequence[str] = VARIANTS[2:]) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive(), tempfile.TemporaryDirectory() as tmp:
        await asyncio.to_thread(sandbox.up)
        bridge = Bridge(Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp}/b.db")))
        await bridge.start()
        try:
            await run(sandbox, bridge, levels, variants=variants)
        finally:
            await bridge.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS[2:], default=list(VARIANTS[2:]),
        help="besides the two dialplan baselines (classic AGI cannot start 200 at once)",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(main(args.levels, args.variants))
