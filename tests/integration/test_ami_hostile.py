"""Broken and hostile AMI traffic against the real AmiClient, TrackerLink and CallTracking (on a
real SQLite database), from a local TCP server speaking AMI: truncated, oversized, out-of-order,
unknown, duplicated, garbled and non-UTF-8 messages between the events of a normal call. Each is
dropped with a log line; the normal call is timed exactly as if they were not there."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.asterisk.ami import AmiClient
from ivr.asterisk.ami_protocol import MAX_MESSAGE_BYTES
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.tracking import SqlVisitRepository
from ivr.domain.queue_calls import VisitOutcome
from ivr.services.call_tracking import CallTracking

T0 = 1_700_000_000  # the scripted calls' clock (Asterisk's Timestamp), seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def message(**fields: str) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


def call_events(uid: str, number: str, queue: str, start: float) -> list[bytes]:
    """A caller joins, an agent is rung 1 s later and answers 2.5 s after that, talks 6.5 s."""

    def at(offset: float) -> str:
        return f"{start + offset:.6f}"

    agent = {"Interface": "Local/1001@sim-agents/n", "MemberName": "1001"}
    return [
        message(
            Event="QueueCallerJoin",
            Timestamp=at(0),
            Uniqueid=uid,
            Queue=queue,
            CallerIDNum=number,
            CallerIDName="王先生",
            Position="1",
        ),
        message(Event="AgentCalled", Timestamp=at(1), Uniqueid=uid, Queue=queue, **agent),
        message(
            Event="AgentConnect",
            Timestamp=at(3.5),
            Uniqueid=uid,
            Queue=queue,
            DestUniqueid=f"{uid}9",
            **agent,
        ),
        message(
            Event="AgentComplete",
            Timestamp=at(10),
            Uniqueid=uid,
            Queue=queue,
            Reason="caller",
            **agent,
        ),
        message(Event="Hangup", Timestamp=at(10.1), Uniqueid=uid, Channel="Local/x;2"),
    ]


HOSTILE = [
    message(Event="SomethingNew", Timestamp=f"{T0}.1", Uniqueid="1.1"),  # unknown event
    # out of order: answered and hung up before anything was known about the call
    message(
        Event="AgentConnect",
        Timestamp=f"{T0}.2",
        Uniqueid=f"{T0}.77",
        Queue="q-repair",
        Interface="Local/1002@sim-agents/n",
    ),
    message(Event="Hangup", Timestamp=f"{T0}.3", Uniqueid=f"{T0}.78"),
    message(Event="AgentComplete", Timestamp=f"{T0}.3", Uniqueid=f"{T0}.79"),
    # missing and garbled fields and timestamps
    message(Event="QueueCallerJoin", Uniqueid=f"{T0}.80", Queue="q-repair"),
    message(Event="QueueCallerJoin", Timestamp="yesterday", Uniqueid=f"{T0}.81", Queue="q-x"),
    message(Event="QueueCallerJoin", Timestamp="-5", Uniqueid=f"{T0}.82", Queue="q-x"),
    message(Event="QueueCallerJoin", Timestamp=f"{T0}.4", Uniqueid="x;rm -rf /", Queue="q-x"),
    message(Event="QueueCallerJoin", Timestamp=f"{T0}.4", Queue="q-repair"),
    message(Event="AgentCalled", Timestamp=f"{T0}.5", Uniqueid=f"{T0}.83"),
    message(Event="QueueMemberAdded", Timestamp=f"{T0}.5"),
    message(Event="QueueMemberStatus", Queue="q-repair", Interface="Local/1@a/n", CallsTaken="x"),
    # a duplicated Event header (panoramisk makes it a list) and a duplicated Uniqueid
    b"Event: Hangup\r\nEvent: Hangup\r\nTimestamp: 1.0\r\nUniqueid: 1.2\r\n\r\n",
    b"Event: Hangup\r\nTimestamp: 1.0\r\nUniqueid: 1.2\r\nUniqueid: 1.3\r\n\r\n",
    # not UTF-8, not AMI at all, no colon, empty, only blank lines
    b"Event: QueueCallerJoin\r\nTimestamp: \xff\xfe\r\nUniqueid: \xc3\x28\r\n\r\n",
    b"\x00\x01\x02\x03 garbage without any header\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n\r\n\r\n\r\n",
    # oversized: one complete message, and one that arrives in pieces
    message(Event="UserEvent", Timestamp=f"{T0}.6", Body="x" * (MAX_MESSAGE_BYTES + 10)),
]


class FakeAsterisk:
    """Greets, accepts the login, answers the resync's list actions (nothing live), and lets the
    test write raw bytes to the bridge."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        block: list[str] = []
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").strip()
            if text:
                block.append(text)
                continue
            fields = dict(x.split(": ", 1) for x in block if ": " in x)
            block = []
            action, action_id = fields.get("Action", "").lower(), fields.get("ActionID", "")
            self.actions.append(action)
            if action == "login":
                writer.write(
                    message(
                        Response="Success", ActionID=action_id, Message="Authentication accepted"
                    )
                )
            elif action in ("queuestatus", "coreshowchannels"):
                writer.write(message(Response="Success", ActionID=action_id, EventList="start"))
                done = (
                    "QueueStatusComplete" if action == "queuestatus" else "CoreShowChannelsComplete"
                )
                writer.write(message(Event=done, ActionID=action_id, EventList="Complete"))
            else:
                writer.write(message(Response="Success", ActionID=action_id))

    async def send(self, data: bytes, chunk: int = 0) -> None:
        writer = self.writers[-1]
        if chunk:
            for i in range(0, len(data), chunk):
                writer.write(data[i : i + chunk])
                await writer.drain()
                await asyncio.sleep(0)
        else:
            writer.write(data)
            await writer.drain()


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[tuple[FakeAsterisk, AmiClient, CallTracking]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ami.db'}"
    await upgrade(url)
    engine = create_engine(url)
    tracking = CallTracking(SqlVisitRepository(engine), now_us)
    await tracking.start()
    fake = FakeAsterisk()
    port = free_port()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", port)
    client = AmiClient("127.0.0.1", port, "ivr-bridge", "not-a-real-secret")
    tracker = TrackerLink(client, tracking)
    await client.connect(timeout_s=5)
    await asyncio.wait_for(tracker.resynced.wait(), 5)
    try:
        yield fake, client, tracking
    finally:
        await tracker.stop()
        await client.close()
        server.close()
        await tracking.stop()
        await engine.dispose()


async def finished_visits(tracking: CallTracking) -> dict[str, object]:
    await tracking.flushed()
    visits = await tracking.store.between(
        datetime.fromtimestamp(T0 - 10, UTC), datetime.fromtimestamp(T0 + 1000, UTC)
    )
    return {v.unique_id: v for v in visits}


async def wait_for(check, timeout_s: float = 5) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(0.05)


async def test_hostile_messages_are_dropped_and_the_real_call_is_timed_exactly(
    link: tuple[FakeAsterisk, AmiClient, CallTracking], caplog: pytest.LogCaptureFixture
) -> None:
    fake, client, tracking = link
    caplog.set_level(logging.INFO)
    normal = call_events(f"{T0}.1", "13700000001", "q-repair", T0)
    # the normal call's events with hostile traffic between every two of them
    stream = b""
    for i, event in enumerate(normal):
        stream += event + b"".join(HOSTILE[i :: len(normal)])
    await fake.send(stream, chunk=997)  # odd chunks: messages and UTF-8 split across reads
    # an oversized message that arrives without its end for a while, then ends
    await fake.send(b"Event: UserEvent\r\nBody: " + b"y" * (MAX_MESSAGE_BYTES + 100))
    await asyncio.sleep(0.1)
    await fake.send(b"y" * 1000 + b"\r\n\r\n")
    # and a second real call after all that: the link still reads normally
    await fake.send(b"".join(call_events(f"{T0}.2", "13700000002", "q-billing", T0 + 20)))

    async def both_finished() -> bool:
        return {f"{T0}.1", f"{T0}.2"} <= set(await finished_visits(tracking))

    await wait_for(both_finished)
    visits = await finished_visits(tracking)
    for uid in (f"{T0}.1", f"{T0}.2"):
        visit = visits[uid]
        assert visit.outcome is VisitOutcome.ANSWERED  # type: ignore[attr-defined]
        assert visit.ring_to_answer_ms == 2500  # type: ignore[attr-defined]
        assert visit.queue_wait_ms == 3500  # type: ignore[attr-defined]
        assert visit.talk_ms == 6500  # type: ignore[attr-defined]
    # nothing else became a visit, and the link never dropped
    assert set(visits) == {f"{T0}.1", f"{T0}.2"}
    assert client.logins == 1 and client.logged_in
    text = caplog.text
    assert text.count("AMI event dropped") >= 6
    assert text.count("more than") == 2  # the two oversized messages, each logged once
    assert "13700000001" not in text  # masked wherever logged


async def test_a_message_cut_off_by_a_dropped_link_is_discarded_and_state_resynced(
    link: tuple[FakeAsterisk, AmiClient, CallTracking],
) -> None:
    fake, client, tracking = link
    events = call_events(f"{T0}.3", "13700000003", "q-repair", T0 + 40)
    await fake.send(b"".join(events[:2]))
    await fake.send(events[2][:25])  # AgentConnect, truncated by the link going down
    fake.writers[-1].close()

    async def logged_in_again() -> bool:
        return client.logins == 2 and client.logged_in

    await wait_for(logged_in_again, 10)

    async def closed() -> bool:  # the resync runs after the login, in its own task
        visit = (await finished_visits(tracking)).get(f"{T0}.3")
        return visit is not None and visit.outcome is not VisitOutcome.WAITING  # type: ignore[attr-defined]

    await wait_for(closed, 10)
    assert fake.actions.count("queuestatus") == 2  # resynced after the reconnect
    # the call's channel is gone (the fake reports nothing live): closed as lost, not answered
    visits = await finished_visits(tracking)
    assert visits[f"{T0}.3"].outcome is VisitOutcome.LOST  # type: ignore[attr-defined]


async def test_the_ami_secret_is_never_logged_even_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Login, a dropped link with an action in flight (panoramisk then logs the action it will
    resend), reconnect and login again: at DEBUG for every logger, the secret appears nowhere."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("panoramisk").setLevel(logging.DEBUG)
    secret = "s3cr3t-ami-value-for-the-log-test"
    fake = FakeAsterisk()
    port = free_port()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", port)
    client = AmiClient("127.0.0.1", port, "ivr-bridge", secret)
    try:
        await client.connect(timeout_s=5)
        pending = asyncio.ensure_future(
            client.action({"Action": "Setvar", "Variable": "X", "Value": "1"}, timeout_s=5)
        )
        fake.writers[-1].close()
        async with asyncio.timeout(10):
            while client.logins < 2:
                await asyncio.sleep(0.05)
        pending.cancel()
    finally:
        logging.getLogger("panoramisk").setLevel(logging.INFO)
        await client.close()
        server.close()
    assert "login" in fake.actions and fake.actions.count("login") == 2
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in str(record.args), record.name
