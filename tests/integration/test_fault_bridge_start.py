"""`ivr run` (a real process, started from a settings file) when a part is missing at start.

* A wrong AMI secret: the bridge says plainly that the login was refused, naming the AMI user
  and never the secret, retries with growing waits, and its web server answers meanwhile;
  ``/health/ready`` says AMI is what is not ready.
* The database down (its port closed): FastAGI starts anyway and a real call through the
  sandboxed Asterisk is served by the menu and routed; when the database comes up the schema
  is migrated in the background and the call's record is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ivr.db.engine import create_engine
from tests.integration.db_fixtures import drop_all_tables
from tests.integration.test_cli import free_port

pytestmark = pytest.mark.integration

AGI_PORT = 4582  # this test's bridge; 4573 may be the session's, 4574-4581 other tests'
CALLER = "13900000382"


def readiness(web_port: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Status and body of GET /health/ready (503 is an answer, not an error)."""
    url = f"http://127.0.0.1:{web_port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


async def ready_now(web_port: int) -> tuple[int, dict] | None:  # type: ignore[type-arg]
    """The readiness answer if it is 200. In a thread: this loop also relays the database
    port the bridge's probe goes through."""
    answer = await asyncio.to_thread(readiness, web_port)
    return answer if answer[0] == 200 else None


def write_settings(path: Path, **sections: dict[str, object]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def ivr_run(
    config: Path, secret: str, log: Path, web_port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``ivr --config FILE run`` with the AMI secret in the environment, as a site runs it;
    yields once its web server answers; SIGTERM on exit."""
    env = os.environ | {"IVR_AMI__SECRET": secret}
    env.pop("IVR_CONFIG", None)
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ivr", "--config", str(config), "run", env=env, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.returncode is None, log.read_text()[-3000:]
            with contextlib.suppress(OSError):
                await asyncio.to_thread(readiness, web_port)
                break
            assert time.monotonic() < deadline, "the web server never answered"
            await asyncio.sleep(0.3)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)


async def until(check, what: str, timeout_s: float = 120):  # type: ignore[no-untyped-def]
    """Poll ``check`` (sync or async) until it returns something true; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.5)


# ------------------------------------------------------------------------- a wrong AMI secret


async def test_a_wrong_ami_secret_is_named_backed_off_and_the_web_answers(
    sandbox, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    web_port = free_port()
    wrong = "wrong-" + uuid.uuid4().hex
    config = write_settings(
        tmp_path / "ivr.toml",
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}"},
        agi={"port": 0},
        web={"port": web_port},
        speech={"recognition": False},
        ami={"host": sandbox.host, "port": sandbox.port, "username": sandbox.username},
    )
    log = tmp_path / "bridge.log"
    async with ivr_run(config, wrong, log, web_port):
        refused = re.compile(
            rf"AMI authentication failed for user '{re.escape(sandbox.username)}' on "
            r"\S+ \(Asterisk: Authentication failed\).*next attempt in ([0-9.]+) s"
        )
        waits = await until(
            lambda: (
                (w := [float(x) for x in refused.findall(log.read_text())]) and len(w) >= 3 and w
            ),
            "three refused logins",
        )
        status, body = await asyncio.to_thread(readiness, web_port)
    assert waits == sorted(waits) and waits[0] < waits[-1], waits  # backed off
    assert status == 503
    assert body["not_ready"] == ["ami"]
    assert body["parts"]["ami"] == {"ready": False, "state": "login refused"}
    assert body["parts"]["database"]["ready"] and body["parts"]["agi"]["ready"]
    text_of_log = log.read_text()
    assert wrong not in text_of_log and sandbox.secret not in text_of_log
    assert "Connection lost" not in text_of_log and "still trying" not in text_of_log
    # the readiness body names parts and fixed states only: no address, user or secret
    flat = json.dumps(body)
    assert sandbox.host not in flat and str(sandbox.port) not in flat
    assert sandbox.username not in flat and wrong not in flat


# ------------------------------------------------------------------- the database down at start


class PortGate:
    """A loopback port that is closed until :meth:`open` relays it to the real PostgreSQL."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port = port
        self.upstream = upstream
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self.upstream)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        tasks = [
            asyncio.create_task(pipe(client_r, up_w)),
            asyncio.create_task(pipe(up_r, client_w)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)


async def call_into_the_menu(ami, number: str, keys: str, agi_url: str) -> None:  # type: ignore[no-untyped-def]
    """A simulated caller into the 95598 entry, whose menu runs on ``agi_url`` (a channel
    variable: the sandbox's global IVR_AGI_URL stays the session bridge's)."""
    await ami.action(
        {
            "Action": "Originate",
            "Channel": "Local/95598@from-pstn",
            "Context": "sim-caller",
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"sim" <{number}>',
            "Variable": f"SIM_KEYS={keys},SIM_PAUSE=1.5,SIM_HOLD=8,IVR_AGI_URL={agi_url}",
            "Timeout": "30000",
            "Async": "true",
        }
    )


@pytest.mark.postgres
async def test_database_down_at_start_calls_are_served_and_the_schema_comes_later(
    postgres_url: str, sandbox, ami, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client, events = ami
    await drop_all_tables(postgres_url)  # a database never migrated: the bridge must do it
    real = make_url(postgres_url)
    gate = PortGate(free_port(), (real.host or "127.0.0.1", real.port or 5432))
    closed_url = real.set(host="127.0.0.1", port=gate.port)
    web_port = free_port()
    config = write_settings(
        tmp_path / "ivr.toml",
        database={
            "url": closed_url.render_as_string(hide_password=False),
            "spool_file": str(tmp_path / "journal.spool.jsonl"),
        },
        agi={"port": AGI_PORT},
        web={"port": web_port},
        speech={"recognition": False},
        ami={"host": sandbox.host, "port": sandbox.port, "username": sandbox.username},
    )
    log = tmp_path / "bridge.log"
    engine = create_engine(postgres_url)
    start = len(events.events)
    try:
        async with ivr_run(config, sandbox.secret, log, web_port) as process:
            status, body = await asyncio.to_thread(readiness, web_port)
            assert status == 503 and body["not_ready"] == ["database"], body
            assert body["parts"]["database"]["state"] == "unreachable"
            assert "DATABASE UNREACHABLE at start" in log.read_text()

            # a real call: the menu answers it and routes it (1 outage, then 1 no power)
            await call_into_the_menu(client, CALLER, "1ww1", f"agi://127.0.0.1:{AGI_PORT}")
            joined = await until(
                lambda: [
                    e
                    for e in events.events[start:]
                    if e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == CALLER
                ],
                "the caller routed to a queue",
            )
            assert joined[0]["Queue"] == "q-repair"

            await gate.open()  # the database is back
            migrated = await until(lambda: schema_version(engine), "the schema migrated")
            record = await until(lambda: record_of(engine, CALLER), "the call's record written")
            status, body = await until(lambda: ready_now(web_port), "ready", timeout_s=60)
            assert process.returncode is None
    finally:
        await gate.close()
        await engine.dispose()
    assert migrated
    assert (record.route, record.outcome) == ("q-repair", "routed")
    assert body == {
        "status": "ready",
        "not_ready": [],
        "parts": {
            "ami": {"ready": True, "state": "logged in"},
            "database": {"ready": True, "state": "reachable"},
            "agi": {"ready": True, "state": "listening"},
        },
    }


async def schema_version(engine) -> str | None:  # type: ignore[no-untyped-def]
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception:
        return None


async def record_of(engine, number: str):  # type: ignore[no-untyped-def]
    try:
        async with engine.connect() as conn:
            return (
                await conn.execute(
                    text(
                        "SELECT route, outcome, ended_at FROM calls "
                        "WHERE caller_number = :n AND ended_at IS NOT NULL"
                    ),
                    {"n": number},
                )
            ).first()
    except Exception:
        return None
