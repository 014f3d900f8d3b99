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


async def health_when_up(process: asyncio.subprocess.Process, web_port: int) -> dict:  # type: ignore[type-arg]
    """``/health`` of an ``ivr run`` process once it answers (60 s at most)."""
    for _ in range(120):
        await asyncio.sleep(0.5)
        try:
            return await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health")
        except OSError:
            assert process.returncode is None, "ivr run exited early"
    raise AssertionError("ivr run did not answer /health within 60 s")


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
        health = await health_when_up(process, web_port)
        assert health["status"] == "ok"
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


async def test_a_second_bridge_on_one_sqlite_file_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    """SQLite serves one bridge: a second ``ivr run`` on the same file would share its spool
    and lose lines. It stops at once, naming the setting and what to do; the first runs on."""
    web_port = free_port()
    env = os.environ | {
        "IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'one.db'}",
        "IVR_AGI__PORT": "0",
        "IVR_WEB__PORT": str(web_port),
    }
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "run", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        await health_when_up(first, web_port)
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ivr",
            "run",
            env=env | {"IVR_WEB__PORT": str(free_port())},
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1
        message = err.decode().strip().splitlines()[-1]
        assert message == (
            f"error: database.url: {tmp_path / 'one.db'} is in use by another bridge"
            f" (pid {first.pid}). SQLite serves one bridge: run several bridges on PostgreSQL"
            " (postgresql+asyncpg://…), each with its own database.spool_file."
        )
        assert "Traceback" not in err.decode()
        health = await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health")
        assert health["status"] == "ok"  # the first bridge is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == 0


async def test_half_sent_web_requests_cannot_starve_the_calls(tmp_path: Path) -> None:
    """1,100 half-sent requests used to exhaust a 1,024 descriptor limit, and then FastAGI
    accepted no call. With a low limit (256) and the web cap at 90 (90 + a backlog of 32 + 128
    for the rest fit), 400 such clients are cut off (at once over the cap, after
    web.header_timeout_s otherwise) and a call still gets in."""
    import resource

    web_port, agi_port = free_port(), free_port()
    env = os.environ | {
        "IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'fd.db'}",
        "IVR_AGI__PORT": str(agi_port),
        "IVR_WEB__PORT": str(web_port),
        "IVR_WEB__MAX_CONNECTIONS": "90",
        "IVR_WEB__HEADER_TIMEOUT_S": "2",
    }

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        "run",
        env=env,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=low_file_limit,
    )
    writers: list[asyncio.StreamWriter] = []
    try:
        await health_when_up(process, web_port)
        for _ in range(400):
            _, writer = await asyncio.open_connection("127.0.0.1", web_port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished
            writers.append(writer)
        # a call arrives: FastAGI accepts it and sends its first command
        reader, writer = await asyncio.open_connection("127.0.0.1", agi_port)
        writer.write(
            b"agi_network: yes\nagi_network_script: inbound\nagi_request: agi://x/inbound\n"
            b"agi_channel: PJSIP/trunk-1\nagi_uniqueid: 1733300000.1\nagi_callerid: 95598\n\n"
        )
        first_command = await asyncio.wait_for(reader.readline(), 10)
        assert first_command.strip(), "FastAGI answered the call"
        writer.close()
        # and once the stalled clients are cut off, the web answers again
        await asyncio.sleep(2.5)
        health = await asyncio.to_thread(get_json, f"http://127.0.0.1:{web_port}/health")
        assert health["status"] == "ok"
    finally:
        for w in writers:
            w.close()
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "Too many open files" not in stderr.decode()
    assert "open-files limit" not in stderr.decode(), "the budget fits the limit"
