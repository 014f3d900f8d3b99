"""`ivr run` as an operator starts it: a real process, health endpoint, clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


async def test_ivr_run_serves_health_and_stops_cleanly(tmp_path: Path) -> None:
    web_port = free_port()
    env = os.environ | {
        "IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "IVR_AGI__PORT": "0",  # the session's bridge may hold 4573
        "IVR_WEB__PORT": str(web_port),
    }
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
        assert health["agi_port"] > 0 and health["calls_in_menu"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert (tmp_path / "run.db").exists()  # migrations ran on start


def ivr(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    import subprocess

    env = os.environ | {"IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "ivr", *args], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout, done.stderr


def test_ivr_token_create_rotate_list_revoke(tmp_path: Path) -> None:
    code, first, _ = ivr(tmp_path, "token", "create", "--name", "crm", "--role", "integration")
    assert code == 0 and len(first.strip()) >= 40
    code, second, _ = ivr(tmp_path, "token", "rotate", "--name", "crm", "--grace-hours", "2")
    assert code == 0 and second.strip() != first.strip()
    code, listed, _ = ivr(tmp_path, "token", "list")
    assert code == 0 and first.strip() not in listed and second.strip() not in listed
    [row] = [line.split("\t") for line in listed.splitlines()[1:]]
    assert row[:4] == ["crm", "integration", "-", "live"] and row[4].endswith("UTC")
    code, _, err = ivr(tmp_path, "token", "rotate", "--name", "crm", "--grace-hours", "9999")
    assert code == 2 and "grace period" in err
    assert ivr(tmp_path, "token", "revoke", "--name", "crm")[0] == 0
    code, _, err = ivr(tmp_path, "token", "rotate", "--name", "crm")
    assert code == 2 and "no live token" in err
