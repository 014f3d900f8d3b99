"""What recording costs: Asterisk's extra CPU per call and the disk it writes per minute.

Batches of N simultaneous answered calls on the sandbox, both sides talking all the time
(each simulated person plays a speech-like file, as a phone sends RTP every 20 ms), straight
into a test queue with N simulated agents. Batches alternate, unrecorded then recorded (A B A
B…), in one run: a recorded call carries ``__IVR_CALL_ID`` so Queue's answer hook
``[ivr-record]`` starts MixMonitor on the agent's leg (two files, one per direction); an
unrecorded one carries none, so the hook returns at once. Everything else is the same.

Measured: Asterisk's CPU time (``/proc/<pid>/stat``) per batch, per call; the recorded
batches' files (bytes per minute of recorded call); every call answered (``AgentConnect``)
and every recorded call with its two files. Ratios are recorded vs unrecorded in the same run.

Run (as root; holds the sandbox for a few minutes):
``.venv/bin/python -m bench.recording_cost -n 10 --talk-s 30 --rounds 2``.
The machine is shared and has two cores: compare the ratio, not the absolute milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import time
import uuid
import wave
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.asterisk.ami import AmiClient
from ivr.config import Settings
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.simulation import log_in_agent, log_out_agent

QUEUE = "q-t-8"
RATE = 8000
FIRST_AGENT = 2400


def speech_like(path: Path, seconds: float, freq: float) -> None:
    """A tone whose loudness moves in syllables: continuous audio, never digital silence."""
    n = int(seconds * RATE)
    samples = array(
        "h",
        (
            round(
                5000
                * (0.55 + 0.45 * math.sin(2 * math.pi * 3 * i / RATE))
                * math.sin(2 * math.pi * freq * i / RATE)
            )
            for i in range(n)
        ),
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    os.chmod(path, 0o644)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Batch:
    recorded: bool
    calls: int
    cpu_s: float = 0.0
    wall_s: float = 0.0
    answered: int = 0
    files: int = 0
    bytes: int = 0
    audio_s: float = 0.0  # recorded call time (the longer side of each call)

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_s / max(self.calls, 1) * 1000


@dataclass
class Events:
    counts: Counter[str] = field(default_factory=Counter)

    def on_event(self, event: Any) -> None:
        if event.get("Queue") == QUEUE:
            self.counts[str(event.get("Event"))] += 1


async def batch(
    ami: AmiClient,
    events: Events,
    pid: int,
    n: int,
    recorded: bool,
    caller_file: Path,
    directory: Path,
    timeout_s: float,
) -> Batch:
    """N calls at once; returns once every one has ended (``AgentComplete``)."""
    result = Batch(recorded, n)
    before = events.counts["AgentComplete"], events.counts["AgentConnect"]
    ids = [uuid.uuid4().hex for _ in range(n)]
    cpu0, started = cpu_s(pid), time.monotonic()
    for i, call_id in enumerate(ids):
        variables = [f"SIM_TALK={caller_file.with_suffix('')}", "SIM_TALK_AFTER=0", "SIM_HOLD=1"]
        if recorded:
            variables.append(f"__IVR_CALL_ID={call_id}")
        await ami.action(
            {
                "Action": "Originate",
                "Channel": f"Local/{QUEUE}@sim-queue-entry",
                "Context": "sim-caller",
                "Exten": "s",
                "Priority": "1",
                "CallerID": f'"bench" <1350000{i:04d}>',
                "Variable": ",".join(variables),
                "Timeout": "30000",
                "Async": "true",
            }
        )
    deadline = started + timeout_s
    while events.counts["AgentComplete"] - before[0] < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"batch not finished in {timeout_s:.0f} s: {dict(events.counts)}")
        await asyncio.sleep(0.5)
    result.wall_s = time.monotonic() - started
    result.cpu_s = cpu_s(pid) - cpu0
    result.answered = events.counts["AgentConnect"] - before[1]
    if recorded:
        await asyncio.sleep(2)  # MixMonitor closes its files as the legs go
        for call_id in ids:
            sides = [directory / f"{call_id}-{side}.wav" for side in ("agent", "customer")]
            lengths = []
            for path in sides:
                if path.exists():
                    result.files += 1
                    result.bytes += path.stat().st_size
                    with wave.open(str(path), "rb") as w:
                        lengths.append(w.getnframes() / w.getframerate())
            result.audio_s += max(lengths, default=0.0)
    return result


def report(batches: list[Batch], n: int, talk_s: float) -> list[str]:
    plain = [b for b in batches if not b.recorded]
    rec = [b for b in batches if b.recorded]
    plain_ms = sum(b.cpu_ms_per_call for b in plain) / len(plain)
    rec_ms = sum(b.cpu_ms_per_call for b in rec) / len(rec)
    minutes = sum(b.audio_s for b in rec) / 60
    mb_per_min = sum(b.bytes for b in rec) / 1e6 / max(minutes, 1e-9)
    lines = [
        f"recording cost: {n} simultaneous calls per batch, both sides talking {talk_s:g} s",
        f"{'batch':<12}{'calls':>6}{'answered':>9}{'files':>7}{'wall s':>8}{'CPU ms/call':>13}",
    ]
    for b in batches:
        name = "recorded" if b.recorded else "unrecorded"
        lines.append(
            f"{name:<12}{b.calls:>6}{b.answered:>9}{b.files:>7}{b.wall_s:>8.1f}"
            f"{b.cpu_ms_per_call:>13.1f}"
        )
    lines += [
        f"Asterisk CPU per call: unrecorded {plain_ms:.1f} ms, recorded {rec_ms:.1f} ms:"
        f" x{rec_ms / max(plain_ms, 1e-9):.3f} ({(rec_ms / max(plain_ms, 1e-9) - 1) * 100:+.1f} %)",
        f"disk: {mb_per_min:.2f} MB per minute of recorded call (both directions)",
    ]
    return lines


async def run(
    sandbox: AsteriskSandbox, n: int, talk_s: float, rounds: int
) -> tuple[list[Batch], list[str]]:
    """Alternating batches on a sandbox that is up and held by the caller."""
    shared = Settings().sandbox.recordings_dir
    work = shared / f"bench-recording-{uuid.uuid4().hex[:8]}"
    work.mkdir(mode=0o755)
    # created by Asterisk (MixMonitor) in its own shared directory, as on a site
    directory = shared / f"{work.name}-calls"
    agent_file, caller_file = work / "agent.wav", work / "caller.wav"
    speech_like(agent_file, talk_s, 300)
    speech_like(caller_file, talk_s + 10, 200)  # covers the queue wait too
    ami = AmiClient(sandbox.ami.host, sandbox.ami.port, sandbox.ami.username, sandbox.ami.secret)
    events = Events()
    ami.on_event("Agent*", events.on_event)
    await ami.connect()
    previous = (await ami.action({"Action": "Getvar", "Variable": "IVR_RECORDING_DIR"})).get(
        "Value", ""
    )
    pid = sandbox.daemon_pid()
    if pid is None:
        raise RuntimeError("no Asterisk daemon")
    agents = [str(FIRST_AGENT + i) for i in range(n)]
    try:
        await ami.action(
            {"Action": "Setvar", "Variable": "IVR_RECORDING_DIR", "Value": str(directory)}
        )
        for agent in agents:
            await log_in_agent(
                ami,
                agent,
                [QUEUE],
                answer_after_s=0.5,
                talk_s=0.5,
                say=str(agent_file.with_suffix("")),
            )
        batches = []
        for _ in range(rounds):
            for recorded in (False, True):
                b = await batch(
                    ami, events, pid, n, recorded, caller_file, directory, talk_s * 3 + 60
                )
                batches.append(b)
                print(
                    f"  {'recorded' if recorded else 'unrecorded'}: {b.answered}/{n} answered,"
                    f" {b.cpu_ms_per_call:.1f} ms CPU per call",
                    flush=True,
                )
                await asyncio.sleep(2)  # wrap-up: every agent free again
    finally:
        for agent in agents:
            await log_out_agent(ami, f"Local/{agent}@sim-agents/n", [QUEUE])
        await ami.action(
            {"Action": "Setvar", "Variable": "IVR_RECORDING_DIR", "Value": str(previous or "")}
        )
        await ami.close()
        shutil.rmtree(work, ignore_errors=True)  # recordings are never kept
        shutil.rmtree(directory, ignore_errors=True)
    lines = report(batches, n, talk_s)
    print("\n".join(lines))
    return batches, lines


async def main(n: int, talk_s: float, rounds: int) -> None:
    sandbox = AsteriskSandbox.from_settings(Settings())
    with sandbox.exclusive():
        await asyncio.to_thread(sandbox.up)
        await run(sandbox, n, talk_s, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10, help="simultaneous calls per batch")
    parser.add_argument("--talk-s", type=float, default=30.0, help="seconds each call talks")
    parser.add_argument("--rounds", type=int, default=2, help="unrecorded+recorded pairs")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.talk_s, args.rounds))
