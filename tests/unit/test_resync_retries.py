"""TrackerLink's resync loop against a scripted AMI link (pure logic: no sockets).

A resync must be retried until it succeeds (not given up after five failures with the held
events replayed onto a picture that was never rebuilt), and a login that comes while a resync
runs must not release the events held so far before the resync on the new link is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ivr.asterisk.tracker_link import TrackerLink

JOIN = {
    "Event": "QueueCallerJoin",
    "Timestamp": "1700000000.0",
    "Uniqueid": "1700000000.1",
    "Queue": "q-repair",
    "CallerIDNum": "13800000001",
    "Position": "1",
}


LATER = {**JOIN, "Uniqueid": "1700000000.2", "Timestamp": "1700000001.0"}


class ScriptedAmi:
    """The parts of AmiClient the link uses; ``fail`` list actions fail, ``gate`` holds them."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.gate: asyncio.Event | None = None  # holds the next QueueStatus
        self.list_calls = 0
        self.disconnected_at_us = None
        self._events: list[Callable[[Any], Any]] = []
        self._logins: list[Callable[[], Any]] = []
        self._logged_in = asyncio.Event()

    def on_event(self, _pattern: str, callback: Callable[[Any], Any]) -> None:
        self._events.append(callback)

    def on_login(self, callback: Callable[[], Any]) -> None:
        self._logins.append(callback)

    def on_disconnect(self, _callback: Callable[[], Any]) -> None:
        pass

    async def wait_logged_in(self) -> None:
        await self._logged_in.wait()

    @property
    def logged_in(self) -> bool:
        return self._logged_in.is_set()

    def login(self) -> None:
        self._logged_in.set()
        for callback in self._logins:
            callback()

    def event(self, event: dict[str, str]) -> None:
        for callback in self._events[:1]:  # registered once per name; one call is enough
            callback(event)

    async def action(self, _action: dict[str, str], timeout_s: float = 10) -> dict[str, str]:
        return {"CoreStartupDate": "2026-12-04", "CoreStartupTime": "08:00:00"}

    async def action_list(self, action: dict[str, str], timeout_s: float = 10) -> list[Any]:
        self.list_calls += 1
        if self.gate is not None and action["Action"] == "QueueStatus":
            gate, self.gate = self.gate, None
            await gate.wait()
        if self.fail:
            self.fail -= 1
            raise TimeoutError
        return []


class RecordingTracking:
    def __init__(self) -> None:
        self.handled: list[str] = []
        self.resyncs = 0

    def handle(self, event: Any) -> None:
        self.handled.append(event.unique_id)

    async def resync(self, *_: Any) -> list[Any]:
        self.resyncs += 1
        return []


async def eventually(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_failing_resync_is_retried_until_it_succeeds() -> None:
    ami, tracking = ScriptedAmi(fail=7), RecordingTracking()
    link = TrackerLink(ami, tracking, retry_s=0.001)  # type: ignore[arg-type]
    ami.login()
    ami.event(JOIN)
    await eventually(lambda: ami.list_calls >= 6 or link.resynced.is_set())  # six failed
    await asyncio.sleep(0.05)
    assert not link.resynced.is_set() and tracking.handled == []  # still held
    await asyncio.wait_for(link.resynced.wait(), 10)
    assert ami.fail == 0 and tracking.resyncs == 1
    assert tracking.handled == ["1700000000.1"]
    await link.stop()


async def test_a_second_login_during_a_resync_keeps_the_events_held_until_it_is_done() -> None:
    ami, tracking = ScriptedAmi(), RecordingTracking()
    link = TrackerLink(ami, tracking, retry_s=0.001)  # type: ignore[arg-type]
    first = asyncio.Event()
    ami.gate = first  # the first resync's QueueStatus waits
    ami.login()
    await eventually(lambda: ami.list_calls == 1)
    ami.event(JOIN)
    second = asyncio.Event()
    ami.gate = second  # the link came back: the next resync's QueueStatus waits too
    ami.login()
    ami.event(LATER)  # an event on the new link, before its resync
    await asyncio.sleep(0.05)
    assert tracking.handled == []
    first.set()  # the first resync ends: its snapshot was taken before the second login
    await eventually(lambda: ami.list_calls >= 3)  # the resync on the new link has begun
    await asyncio.sleep(0.05)
    assert not link.resynced.is_set() and tracking.handled == []
    second.set()
    await asyncio.wait_for(link.resynced.wait(), 10)
    assert tracking.handled == ["1700000000.1", "1700000000.2"]  # both kept, in order
    await link.stop()


async def test_a_new_login_ends_the_wait_after_a_failed_resync() -> None:
    ami, tracking = ScriptedAmi(fail=1), RecordingTracking()
    link = TrackerLink(ami, tracking, retry_s=3600)  # type: ignore[arg-type]
    ami.login()
    await eventually(lambda: link.failed_resyncs == 1)  # now waiting an hour…
    ami.login()  # …unless the link comes back: then at once
    await asyncio.wait_for(link.resynced.wait(), 10)
    assert tracking.resyncs == 1
    await link.stop()
