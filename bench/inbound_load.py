"""How many callers can be in the 95598 menu at once, and what the bridge costs per call.

Places N simultaneous calls through the sandboxed Asterisk, each pressing 1 then 1 (fault
repair, no power), twice per level: once into the bridge (FastAGI menu, records in SQLite) and,
as the baseline measured in the same run, once into the same menu written in plain dialplan
(``[bench-menu-main]`` in ``ivr/sandbox/extensions_local.conf``: same prompt files, same keys).

Reports per level: calls routed correctly, CPU seconds per call (Asterisk, bridge, both) and
their ratio to the dialplan baseline, and the bridge's think time per AGI command (from a reply
arriving to the next command leaving: what the bridge adds to every step), p50 and p99.

Run: ``.venv/bin/python bench/inbound_load.py --levels 10 25 50 100`` (as root; takes the
sandbox exclusively, about a minute per level).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from panoramisk.fast_agi import Request

from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import DatabaseSettings, Settings
from ivr.domain.calls import CallOutcome
from ivr.sandbox.asterisk import AsteriskSandbox

KEYS = "1ww1"
HOLD_S = 9


class ThinkTimes:
    """Wraps panoramisk's send_command to time the gap between a reply and the next command."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._last_reply: dict[int, float] = {}
        original = Request.send_command

        async def timed(request: Request, command: str):  # type: ignore[no-untyped-def]
            sent = time.perf_counter()
            previous = self._last_reply.get(id(request))
            if previous is not None:
                self.samples.append(sent - previous)
            result = await original(request, command)
            self._last_reply[id(request)] = time.perf_counter()
            return result

        Request.send_command = timed  # type: ignore[method-assign]

    def take(self) -> list[float]:
        samples, self.samples = self.samples, []
        self._last_reply.clear()
        return samples


@dataclass
class Level:
    variant: str
    calls: int
    routed: int
    asterisk_cpu_s: float
    process_cpu_s: float
    think_s: list[float]


def asterisk_cpu_s() -> float:
    pid = int(next(p for p in os.popen("pidof asterisk").read().split()))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_level(ami: AmiClient, bridge: Bridge, variant: str, n: int, events: list) -> Level:
    prompts = bridge.prompts
    menu = bridge.menu
    bench_vars = {
        "BENCH_GREETING": prompts.path_for(menu.greeting),
        "BENCH_MAIN": prompts.path_for(menu.nodes["main"].prompt),
        "BENCH_REPAIR": prompts.path_for(menu.nodes["repair"].prompt),
        "BENCH_TRANSFER": prompts.path_for(menu.transfer_prompt),
    }
    channel = "Local/95598@from-pstn" if variant == "bridge" else "Local/s@bench-menu-main"
    variables = f"SIM_KEYS={KEYS},SIM_PAUSE=1.5,SIM_HOLD={HOLD_S}"
    if variant == "dialplan":
        variables += "," + ",".join(f"{k}={v}" for k, v in bench_vars.items())
    since = datetime.now(UTC)
    events.clear()
    cpu_a, cpu_p = asterisk_cpu_s(), time.process_time()
    for i in range(n):
        await ami.action(
            {
                "Action": "Originate",
                "Channel": channel,
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"bench" <1350000{i:04d}>',
                "Variable": variables,
                "Async": "true",
            }
        )
    deadline = time.monotonic() + HOLD_S + 60
    while time.monotonic() < deadline:
        ended = sum(1 for e in events if e.get("Event") == "Hangup" and ";1" in e["Channel"])
        if ended >= n:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # let hangup handlers and last writes land
    asterisk, process = asterisk_cpu_s() - cpu_a, time.process_time() - cpu_p
    if variant == "bridge":
        records = await bridge.repository.list_since(since)
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
    return Level(variant, n, routed, asterisk, process, [])


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
        if len(samples) > 1
        else samples[0]
    )


async def main(levels: list[int]) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive():
        endpoint = await asyncio.to_thread(sandbox.up)
        observer = sandbox.observer  # also sees dialplan events (VarSet) for the baseline
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(
                database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp}/bench.db")
            )
            bridge = Bridge(settings)
            await bridge.start()
            think = ThinkTimes()
            ami = AmiClient(observer.host, observer.port, observer.username, observer.secret)
            events: list[dict[str, str]] = []
            ami.on_event("*", lambda e: events.append(dict(e)))
            await ami.connect()
            del endpoint
            try:
                print(
                    f"{'calls':>5} {'variant':<9} {'routed':>6} {'ast cpu/call':>12} "
                    f"{'bridge cpu/call':>15} {'total vs dialplan':>17} "
                    f"{'think p50':>9} {'think p99':>9}"
                )
                for n in levels:
                    base = await run_level(ami, bridge, "dialplan", n, events)
                    think.take()
                    ours = await run_level(ami, bridge, "bridge", n, events)
                    ours.think_s = think.take()
                    bridge_cpu = max(ours.process_cpu_s - base.process_cpu_s, 0.0) / n
                    base_total = base.asterisk_cpu_s / n
                    ours_total = ours.asterisk_cpu_s / n + bridge_cpu
                    print(
                        f"{n:>5} {'dialplan':<9} {base.routed:>6} {base_total * 1000:>10.1f}ms "
                        f"{'-':>15} {'1.00x':>17} {'-':>9} {'-':>9}"
                    )
                    print(
                        f"{n:>5} {'bridge':<9} {ours.routed:>6} "
                        f"{ours.asterisk_cpu_s / n * 1000:>10.1f}ms {bridge_cpu * 1000:>13.1f}ms "
                        f"{ours_total / base_total if base_total else float('nan'):>16.2f}x "
                        f"{pct(ours.think_s, 50) * 1000:>7.2f}ms "
                        f"{pct(ours.think_s, 99) * 1000:>7.2f}ms",
                        flush=True,
                    )
            finally:
                await ami.close()
                await bridge.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[10, 25, 50])
    asyncio.run(main(parser.parse_args().levels))
