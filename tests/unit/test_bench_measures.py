"""The benchmarks' own arithmetic on Asterisk's events, and the classic-AGI copy into a root."""

from __future__ import annotations

import os
from pathlib import Path

from bench.callback_dialer import Legs
from bench.inbound_load import agi_latencies
from ivr_sandbox import classic_agi


def ev(name: str, ts: float, channel: str = "Local/s@x-1;2", **fields: str) -> dict[str, str]:
    return {"Event": name, "Timestamp": f"{ts:.6f}", "Channel": channel, **fields}


def test_agi_latencies_time_the_inbound_session_only() -> None:
    events = [
        ev("Newexten", 10.0, Application="AGI", AppData="agi://127.0.0.1:4573/inbound"),
        ev("AGIExecStart", 10.5),
        ev("AGIExecEnd", 11.0),
        ev("AGIExecStart", 11.25),
        ev("AGIExecEnd", 12.0),
        ev("Newexten", 12.5, Application="Queue", AppData="q-repair"),
        ev("Newexten", 13.0, Application="AGI", AppData="agi://127.0.0.1:4573/call-ended"),
        ev("AGIExecStart", 13.1),  # the hangup handler's session is not the menu's
        ev("AGIExecStart", 20.0, channel="Local/s@x-2;2"),  # no AGI() seen on this channel
    ]
    starts, thinks = agi_latencies(events)
    assert starts == [0.5]
    assert thinks == [0.25]


def test_legs_count_peak_and_duplicates_from_newchannel_and_hangup() -> None:
    legs = Legs()
    leg = "Local/{}@sim-customers-fast-{:08x};1"
    for at, name, number, uid in [
        (1.0, "Newchannel", "13780000000", "a"),
        (1.5, "Newchannel", "13780000001", "b"),
        (1.6, "Newchannel", "13780000001", "b"),  # the same channel again: not a second call
        (2.0, "Hangup", "13780000000", "a"),
        (2.5, "Newchannel", "13780000000", "c"),  # dialled twice: a duplicate
        (3.0, "Hangup", "13780000001", "b"),
        (3.5, "Hangup", "13780000000", "c"),
    ]:
        channel = leg.format(number, ord(uid))
        legs.on_event({"Event": name, "Channel": channel, "Uniqueid": uid, "Timestamp": str(at)})
    legs.on_event({"Event": "Newchannel", "Channel": "Local/1@elsewhere-1;1", "Uniqueid": "z"})
    assert legs.peak() == 2
    assert {n: len(t) for n, t in legs.started.items()} == {"13780000000": 2, "13780000001": 1}
    assert legs.all_ended(["13780000000", "13780000001"])


def test_install_script_copies_the_package_and_script_and_prunes(tmp_path: Path) -> None:
    script = classic_agi.install_script(tmp_path)
    assert script == tmp_path / "opt/ivr95598/agi_scripts/ivr_agi.py"
    assert os.access(script, os.X_OK)
    package = tmp_path / "opt/ivr95598/ivr"
    assert (package / "flows/inbound.py").is_file()
    assert (package / "data").is_dir()
    assert (tmp_path / "opt/ivr95598/tenacity/__init__.py").is_file()  # not in Debian's root
    assert not list(package.rglob("__pycache__"))
    stale = package / "gone.py"
    stale.write_text("")
    before = (package / "flows/inbound.py").stat().st_mtime_ns
    classic_agi.install_script(tmp_path)
    assert not stale.exists()  # a module the package no longer has does not linger
    assert (package / "flows/inbound.py").stat().st_mtime_ns == before  # unchanged: not rewritten
