"""Alerts pushed to a real aiohttp receiver: signed posts, at least once, and an outage
(connection refused, then 503s) followed by recovery delivers every alert exactly once, with two
bridges' pushers sharing the outbox on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from ivr.db.alerts import SqlAlerts
from ivr.db.engine import create_engine
from ivr.domain.alert_push import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Backoff, verify
from ivr.domain.alerts import Alert, AlertLevel
from ivr.services.alert_push import AlertPusher, PushLimits
from ivr.web.webhook import AiohttpWebhookSender

SECRET = b"webhook-test-secret-9f2c"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    """A webhook receiver on loopback that checks every signature; ``fail`` answers 503."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.fail = False
        self.posts: list[tuple[int, str]] = []  # (status answered, key)
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/95598"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        signed = verify(
            SECRET,
            request.headers.get(TIMESTAMP_HEADER, ""),
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        key = request.headers.get(KEY_HEADER, "")
        if not signed:
            self.bad_signatures += 1
            self.posts.append((401, key))
            return web.Response(status=401)
        if self.fail:
            self.posts.append((503, key))
            return web.Response(status=503)
        self.posts.append((200, key))
        self.accepted.append(await request.json())
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/95598", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alert(n: int, level: AlertLevel = AlertLevel.BREACH) -> Alert:
    return Alert(
        key=f"test:{n}:{level.value}",
        level=level,
        kind="deadline",
        message=f"repair order 00000000000000000{n:03d}: dispatch overdue",
        raised_at=T0,
        deadline="dispatch",
        due_at=T0,
        details={"provisional": "false"},
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.down()


async def test_outage_then_recovery_delivers_every_alert_once_signed(  # type: ignore[no-untyped-def]
    db_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    engines = [create_engine(db_url), create_engine(db_url)]  # two bridges
    sinks = [SqlAlerts(e, clock, push=True) for e in engines]
    senders = [AiohttpWebhookSender(receiver.url, SECRET, timeout_s=5) for _ in engines]
    backoff = Backoff(timedelta(seconds=2), 2.0, timedelta(seconds=60))
    pushers = [
        AlertPusher(sink, sender, clock, backoff, PushLimits(batch=10, lease_s=30))
        for sink, sender in zip(sinks, senders, strict=True)
    ]

    async def round_() -> tuple[int, int]:
        results = await asyncio.gather(*(p.run_once() for p in pushers))
        return sum(r[0] for r in results), sum(r[1] for r in results)

    try:
        with caplog.at_level(logging.DEBUG):
            assert [await sinks[0].raise_alert(alert(n)) for n in range(3)] == [True] * 3
            assert await sinks[1].raise_alert(alert(1)) is False  # the other bridge: same key
            # 1. the receiver is down: connection refused, each alert tried once, by one bridge
            assert await round_() == (0, 3)
            assert await round_() == (0, 0)  # not due again before its backoff
            state = await sinks[0].outbox_state()
            assert [s["attempts"] for s in state] == [1, 1, 1]
            assert all(s["next_try_at"] == T0 + timedelta(seconds=2) for s in state)
            # 2. it answers 503
            await receiver.up()
            receiver.fail = True
            clock.now = T0 + timedelta(seconds=2)
            assert await round_() == (0, 3)
            assert len(receiver.posts) == 3 and {p[0] for p in receiver.posts} == {503}
            clock.now = T0 + timedelta(seconds=5)
            assert await round_() == (0, 0)  # the second wait is 4 s
            # 3. it recovers
            receiver.fail = False
            clock.now = T0 + timedelta(seconds=6)
            assert await round_() == (3, 0)
            clock.now = T0 + timedelta(hours=1)
            assert await round_() == (0, 0)
            assert await sinks[0].next_try() is None
    finally:
        for sender in senders:
            await sender.close()
        for engine in engines:
            await engine.dispose()
    assert receiver.bad_signatures == 0
    accepted = sorted(a["key"] for a in receiver.accepted)
    assert accepted == ["test:0:breach", "test:1:breach", "test:2:breach"]  # each exactly once
    first = next(a for a in receiver.accepted if a["key"] == "test:0:breach")
    assert first["level"] == "breach" and first["deadline"] == "dispatch"
    assert first["provisional"] is False and first["due_at"] == T0.isoformat()
    assert SECRET.decode() not in caplog.text  # the secret is never logged


async def test_running_pusher_delivers_on_raise_and_after_an_outage(  # type: ignore[no-untyped-def]
    sqlite_url: str, receiver: Receiver
) -> None:
    now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    engine = create_engine(sqlite_url)
    sink = SqlAlerts(engine, now, push=True)
    sender = AiohttpWebhookSender(receiver.url, SECRET, timeout_s=5)
    pusher = AlertPusher(
        sink, sender, now, Backoff(timedelta(seconds=0.2), 2.0, timedelta(seconds=1)),
        PushLimits(max_sleep_s=60),
    )  # fmt: skip
    sink.on_raised = pusher.poke
    pusher.start()
    try:
        await sink.raise_alert(alert(1))  # receiver down: refused, retried with backoff
        await asyncio.sleep(1.0)
        await receiver.up()
        await until(lambda: len(receiver.accepted) >= 1, 10, "delivered after the outage")
        await sink.raise_alert(alert(2))  # up: pushed at once (poke), not at the 60 s sleep
        await until(lambda: len(receiver.accepted) >= 2, 5, "pushed when raised")
    finally:
        await pusher.stop()
        await sender.close()
        await engine.dispose()
    assert sorted(a["key"] for a in receiver.accepted) == ["test:1:breach", "test:2:breach"]


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)
