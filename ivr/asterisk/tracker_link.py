"""Feeds Asterisk's queue events to :class:`CallTracking` and resyncs after every login.

On the first login and after every reconnect, events may have been missed: the link asks
Asterisk what is there now (``QueueStatus`` for callers waiting and members,
``CoreShowChannels`` for every channel still up) and lets the service rebuild from that.
Events arriving during a resync are held and replayed after it, in order.

A resync that fails (an action refused or timed out, the link lost again) is retried, with
backoff, until one succeeds: the held events are replayed only then, and ``resynced`` is set
only then. A login that comes while a resync runs (the link dropped and came back) starts it
over on the new link; the events held so far stay held until that one has succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from ivr.asterisk.ami import AmiClient, reconnect_wait
from ivr.asterisk.ami_events import (
    MEMBER_EVENTS,
    TRACKED,
    MalformedEvent,
    parse_member,
    parse_queue_event,
)
from ivr.services.call_tracking import CallTracking, LiveEntry
from ivr.services.event_wait import until_set

log = logging.getLogger(__name__)


SHUTDOWN_WINDOW_US = 3_000_000  # calls that ended this long before the link dropped
RESYNC_RETRY_S = 1.0  # first wait after a failed resync; doubles (with jitter) up to the max
RESYNC_RETRY_MAX_S = 30.0


def now_us() -> int:
    return time.time_ns() // 1000


class TrackerLink:
    def __init__(
        self, ami: AmiClient, tracking: CallTracking, retry_s: float = RESYNC_RETRY_S
    ) -> None:
        self.ami = ami
        self.tracking = tracking
        self.retry_s = retry_s
        self._held: list[Mapping[str, str]] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._logins = 0  # logins seen: a resync counts only if none came while it ran
        self._new_login = asyncio.Event()  # cuts a retry's wait short: try on the new link now
        self.failed_resyncs = 0
        self._started: str | None = None  # Asterisk's start time, as CoreStatus reports it
        self.restarts = 0  # Asterisk restarts seen across reconnects
        self.resynced = asyncio.Event()
        for name in (*TRACKED, *MEMBER_EVENTS):
            ami.on_event(name, self.on_event)
        ami.on_login(self._logged_in)
        ami.on_disconnect(self.resynced.clear)

    def on_event(self, event: Mapping[str, str]) -> None:
        if self._held is not None:
            self._held.append(event)
            return
        self._apply(event)

    def _apply(self, event: Mapping[str, str]) -> None:
        name = str(event.get("Event") or "")
        try:
            if name in MEMBER_EVENTS:
                member = parse_member(event)
                if name == "QueueMemberRemoved":
                    self.tracking.member_removed(member.queue, member.interface)
                elif name == "QueueMemberAdded":
                    self.tracking.member_added(member)
                else:
                    self.tracking.member_changed(member)
                return
            parsed = parse_queue_event(event)
            if parsed is not None:
                self.tracking.handle(parsed)
        except MalformedEvent as exc:
            log.warning("AMI event dropped: %s", exc)
        except Exception:
            log.exception("AMI event %s could not be handled", name[:40])

    def _logged_in(self) -> None:
        self._logins += 1
        self._new_login.set()
        if self._held is None:
            self._held = []
        if self._resync_task is None or self._resync_task.done():
            self._resync_task = asyncio.get_running_loop().create_task(
                self._resync(), name="ami-resync"
            )
        # else: the running loop sees the new login and starts over on the new link

    async def _resync(self) -> None:
        """Resync until one attempt succeeds with no login in between; then replay."""
        wait_s = self.retry_s
        while True:
            await self.ami.wait_logged_in()
            logins = self._logins
            self._new_login.clear()
            try:
                await self._resync_once()
            except Exception as exc:
                self.failed_resyncs += 1
                log.warning(
                    "resync failed (%s); attempt %d, next in %.0f s",
                    _reason(exc),
                    self.failed_resyncs,
                    wait_s,
                )
                await until_set(self._new_login, wait_s)
                wait_s = (
                    self.retry_s
                    if self._new_login.is_set()
                    else reconnect_wait(self.failed_resyncs, RESYNC_RETRY_MAX_S, self.retry_s)
                )
                continue
            if logins == self._logins:
                break
            log.info("logged in again during the resync: resyncing on the new link")
        held, self._held = self._held or [], None
        for event in held:
            self._apply(event)
        self.resynced.set()

    async def _resync_once(self) -> None:
        # Did Asterisk restart while we were away? Then the hang-ups and queue events of its
        # shutdown, which come just before the link drops, were not the callers' doing.
        started = await self._started_at()
        cut_since_us = None
        if self._started is not None and started is not None and self._started != started:
            cut_since_us = (self.ami.disconnected_at_us or now_us()) - SHUTDOWN_WINDOW_US
            log.warning(
                "Asterisk restarted (up since %s): calls it cut are closed as lost", started
            )
        status = await self.ami.action_list({"Action": "QueueStatus"}, timeout_s=15)
        channels = await self.ami.action_list({"Action": "CoreShowChannels"}, timeout_s=15)
        present = {str(c.get("Uniqueid")) for c in channels if c.get("Event") == "CoreShowChannel"}
        entries = [
            LiveEntry(
                str(e.get("Uniqueid")),
                str(e.get("Queue")),
                str(e.get("CallerIDNum") or ""),
                _int(e.get("Wait")),
            )
            for e in status
            if e.get("Event") == "QueueEntry" and e.get("Uniqueid")
        ]
        members = []
        for message in status:
            if message.get("Event") == "QueueMember":
                with contextlib.suppress(MalformedEvent):
                    members.append(parse_member(message))
        await self.tracking.resync(present, entries, members, cut_since_us)
        if cut_since_us is not None:
            self.restarts += 1
        self._started = started or self._started

    async def _started_at(self) -> str | None:
        """When Asterisk started (``CoreStatus``), or None if it will not say: then restarts go
        unnoticed, and the resync still runs."""
        try:
            core = await self.ami.action({"Action": "CoreStatus"}, timeout_s=15)
        except Exception as exc:
            log.warning("CoreStatus refused (%s): Asterisk restarts cannot be told apart", exc)
            return None
        return f"{core.get('CoreStartupDate')} {core.get('CoreStartupTime')}"

    async def stop(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync_task


def _reason(exc: Exception) -> str:
    """A failure in a few words (an action's timeout has no text of its own)."""
    return f"{type(exc).__name__}: {exc}"[:160] if str(exc) else type(exc).__name__


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0
