"""Call recordings: started and ended as Asterisk reports them, sealed (duration, checksum,
findings) once the files are closed, deleted when retention runs out, and heard only by those
allowed to, every time recorded.

Asterisk's ``[ivr-record]`` tells us (AMI ``UserEvent: IvrRecording``) which files it opened
for which call, or that MixMonitor failed; ``[ivr-record-ended]`` tells us the call is over.
The keeper (one background loop) seals what has ended, flags recordings whose files never
appeared, and deletes expired ones; any bridge may run it (each step is a guarded update).
An event that arrives while the database is down is spooled (a local file, in order) and
replayed by the keeper first thing in its next round, with the time it arrived.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ivr.domain.access import Principal
from ivr.domain.playback_links import PlaybackLink, ViewerGone, sign, verify
from ivr.domain.recording_findings import FindingRules
from ivr.domain.recordings import (
    BadCallId,
    Recording,
    RecordingEvent,
    RecordingKind,
    RecordingState,
    expiry_cutoff,
    kind_of,
    may_hear,
)
from ivr.ports import AgentDirectory, RecordingEventSpool, RecordingFiles, RecordingStore
from ivr.services.background_loop import BackgroundLoop, RetryTiming

log = logging.getLogger(__name__)

ADOPT_PER_ROUND = 100
"""Recordings with no row filed per keeper round (each is then measured and analysed)."""

# Local/<exten>@<context>-<hex>;<n>: a queue member's channel, back to its interface
_LOCAL_CHANNEL = re.compile(r"^Local/([0-9]{1,16})@([A-Za-z0-9_-]{1,64})-[0-9a-f]+;[12]$")


def member_interface(channel: str) -> str | None:
    """The queue member interface (``Local/<工号>@<context>/n``) a member channel belongs to."""
    match = _LOCAL_CHANNEL.match(channel)
    return None if match is None else f"Local/{match.group(1)}@{match.group(2)}/n"


@dataclass(frozen=True, slots=True)
class KeeperTiming:
    retention_days: int
    interval_s: float
    finish_grace_s: float
    stuck_after_s: float


class RecordingService:
    """What the AMI events, the keeper and the API do with recordings."""

    def __init__(
        self,
        store: RecordingStore,
        files: RecordingFiles,
        agents: AgentDirectory,
        directory: Path,
        rules: FindingRules,
        greeting: Callable[[str], Awaitable[Path | None]],
        clock: Callable[[], datetime],
        spool: RecordingEventSpool | None = None,
    ) -> None:
        self.store = store
        self.files = files
        self.agents = agents
        self.directory = directory
        self.rules = rules
        self._greeting = greeting
        self._clock = clock
        self.on_ended: Callable[[], None] = lambda: None  # wakes the keeper
        self.spool = spool  # events the database could not take, replayed by the keeper
        self._spooled = spool is not None and not spool.empty()
        self._replaying = asyncio.Lock()
        # the centre's playback-link secret (centre_secrets), read once when first needed
        self.link_secret: Callable[[], Awaitable[bytes]] | None = None
        self.link_lifetime_s = 300
        # whether the token a link names is still live (the token store); links fail closed
        # until it is wired
        self.viewer_live: Callable[[Principal], Awaitable[bool]] | None = None
        self._secret: bytes | None = None

    def now(self) -> datetime:
        return self._clock()

    def paths(self, call_id: str) -> tuple[str, str]:
        """Where ``[ivr-record]`` writes a call's two files (checked against the event)."""
        kind_of(call_id)
        return (
            str(self.directory / f"{call_id}-agent.wav"),
            str(self.directory / f"{call_id}-customer.wav"),
        )

    async def started(
        self, call_id: str, channel: str, status: str, agent_file: str, customer_file: str
    ) -> None:
        """``IvrRecording``: MixMonitor started (``status`` SUCCESS) or did not."""
        event = RecordingEvent(
            "started", call_id, self._clock(), channel, status, agent_file, customer_file
        )
        await self._take(event)

    async def ended(self, call_id: str) -> None:
        """``IvrRecordingEnded``: the recorded leg hung up; the keeper seals it shortly."""
        await self._take(RecordingEvent("ended", call_id, self._clock()))

    async def _take(self, event: RecordingEvent) -> None:
        """Apply an event now or, while the database cannot take it (or older events still
        wait in the spool: order matters), spool it for the keeper to replay."""
        try:
            kind_of(event.call_id)
        except BadCallId:
            log.warning("recording event for a call id that is not ours: ignored")
            return
        if self.spool is not None and self._spooled:
            self._to_spool(event)
            return
        try:
            await self._apply(event)
        except Exception as exc:
            if self.spool is None:
                raise
            log.warning(
                "recording event %s of call %s spooled: the database did not take it (%s)",
                event.name,
                event.call_id,
                type(exc).__name__,
            )
            self._to_spool(event)

    def _to_spool(self, event: RecordingEvent) -> None:
        assert self.spool is not None
        try:
            self.spool.append(event)  # synchronous: a replay never interleaves with it
        except OSError:
            log.exception("RECORDING EVENT LOST: %s of call %s", event.name, event.call_id)
            return
        self._spooled = True
        self.on_ended()  # the keeper replays it once the database answers

    async def replay_spooled(self) -> int:
        """Apply the spooled events in order; those applied leave the spool. A failure (the
        database is still down) propagates after keeping what is left; returns how many."""
        if self.spool is None or not self._spooled:
            return 0
        async with self._replaying:
            events = self.spool.load()
            done = 0
            try:
                for event in events:
                    await self._apply(event)
                    done += 1
            finally:
                # no await from here on: an event arriving now is appended after this
                left = self.spool.load()[done:]
                self.spool.replace(left)
                self._spooled = bool(left)
                if done:
                    log.info("%d spooled recording events applied", done)
        return done

    async def _apply(self, event: RecordingEvent) -> None:
        if event.name == "started":
            await self._started(event)
        elif await self.store.ended(event.call_id, event.at) is not None:
            self.on_ended()

    async def _started(self, event: RecordingEvent) -> None:
        call_id, channel, status = event.call_id, event.channel, event.status
        agent_file, customer_file = event.agent_file, event.customer_file
        kind = kind_of(call_id)
        agent_path, customer_path = self.paths(call_id)
        failure = None
        if status != "SUCCESS":
            failure = f"MixMonitor did not start ({status or 'no status'})"
        elif (agent_file, customer_file) != (agent_path, customer_path):
            failure = "Asterisk recorded elsewhere than recording.dir says"
        job_number = None
        if kind.answered_by_agent:
            job_number = await self._job_number(member_interface(channel))
        added = await self.store.started(
            call_id, kind, job_number, agent_path, customer_path, failure, event.at
        )
        if failure and added:
            log.error("RECORDING FAILED for call %s: %s", call_id, failure)
        elif added:
            log.info("recording call %s (%s)", call_id, kind.value)

    async def _job_number(self, interface: str | None) -> str | None:
        if interface is None:
            return None
        agent = await self.agents.by_interface(interface)
        return None if agent is None else agent.job_number

    async def seal(self, recording: Recording) -> None:
        """Measure both files and record the result: complete with checksums and findings,
        or failed when a file is missing or both are empty (never silently missing). One
        empty side is a side that sent no audio at all (a silent party), not a failure."""
        agent = await asyncio.to_thread(self.files.measure, recording.agent_path)
        customer = await asyncio.to_thread(self.files.measure, recording.customer_path)
        missing = [
            side
            for side, measured in (("agent", agent), ("customer", customer))
            if measured is None
        ]
        if (
            agent is not None
            and customer is not None
            and agent.duration_ms + customer.duration_ms == 0
        ):
            missing = ["agent", "customer"]  # two empty files: nothing was recorded
        if missing or agent is None or customer is None:
            reason = f"Asterisk wrote no usable file for the {' and '.join(missing)} side"
            if await self.store.failed(recording.id, reason):
                log.error("RECORDING FAILED for call %s: %s", recording.call_id, reason)
            return
        job_number = recording.agent_job_number
        if job_number is None and recording.kind is RecordingKind.INBOUND:
            interface = await self.store.owner_from_call(recording.call_id)
            job_number = await self._job_number(interface)
        greeting = None
        if recording.kind.answered_by_agent and job_number is not None:
            greeting = await self._greeting(job_number)
        try:
            findings = await asyncio.to_thread(
                self.files.analyse,
                recording.agent_path,
                recording.customer_path,
                greeting,
                self.rules,
            )
        except (OSError, ValueError) as exc:
            log.warning("findings for call %s not computed: %s", recording.call_id, exc)
            findings = []
        if await self.store.finished(recording.id, agent, customer, findings, job_number):
            log.info(
                "recording of call %s sealed: %d ms, findings %s",
                recording.call_id,
                max(agent.duration_ms, customer.duration_ms),
                ",".join(f.kind.value for f in findings) or "none",
            )

    async def seal_due(self, timing: KeeperTiming) -> int:
        """Seal recordings whose call ended ``finish_grace_s`` ago (or that never reported an
        end within ``stuck_after_s``); returns how many are still waiting (the call ended
        moments ago, or Asterisk is still closing the files)."""
        now = self._clock()
        grace = timedelta(seconds=timing.finish_grace_s)
        candidates = await self.store.unfinished(now, now - timedelta(seconds=timing.stuck_after_s))
        waiting = 0
        for recording in candidates:
            waited = now - (recording.ended_at or recording.started_at)
            if waited < grace:
                waiting += 1
                continue
            closed = all(
                await asyncio.gather(
                    asyncio.to_thread(self.files.stable, recording.agent_path),
                    asyncio.to_thread(self.files.stable, recording.customer_path),
                )
            )
            if not closed and waited < grace * 5 + timedelta(seconds=10):
                waiting += 1  # Asterisk is still closing it
                continue
            await self.seal(recording)
        return waiting

    async def adopt_orphans(self, quiet_for_s: float) -> int:
        """File the recordings whose files are on disk with no row: Asterisk records a call
        that fell back in the dialplan while no bridge could hear its events (the bridge or its
        AMI link down, the spool never reached). Each is filed from its files (kind from its
        id, times from their last write, no 工号: nobody reported who answered), then sealed
        like any other. Returns how many.

        Only files written since this database's first recording count: older ones belong to
        another database (a directory reused, a test rig sharing one). At most
        ``ADOPT_PER_ROUND`` are filed per call, oldest first, so a backlog never holds up the
        sealing of calls heard live."""
        first = await self.store.first_started()
        if first is None:
            return 0
        found = await asyncio.to_thread(self.files.recorded_calls, str(self.directory), quiet_for_s)
        found = sorted((written, call_id) for call_id, written in found if written >= first)
        known = await self.store.known([call_id for _, call_id in found])
        adopted = 0
        for written, call_id in found:
            if call_id in known:
                continue
            if adopted == ADOPT_PER_ROUND:
                log.warning("more recordings with no row wait for the next round")
                break
            agent_path, customer_path = self.paths(call_id)
            kind = kind_of(call_id)
            if not await self.store.started(
                call_id, kind, None, agent_path, customer_path, None, written
            ):
                continue  # its start arrived meanwhile
            await self.store.ended(call_id, written)
            adopted += 1
            log.warning(
                "recording of call %s (%s) found on disk with no row: no bridge heard it; "
                "filed from its files",
                call_id,
                kind.value,
            )
        if adopted:
            self.on_ended()
        return adopted

    async def delete_expired(self, retention_days: int) -> int:
        """Delete the files of recordings past retention and record each deletion."""
        deleted = 0
        for recording in await self.store.expired(expiry_cutoff(self._clock(), retention_days)):
            for path in (recording.agent_path, recording.customer_path):
                await asyncio.to_thread(self.files.delete, path)
            if await self.store.deleted(recording.id):
                deleted += 1
                log.info("recording of call %s deleted (retention)", recording.call_id)
        return deleted

    async def visible(
        self,
        who: Principal,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[Recording]:
        """The recordings ``who`` may hear (an agent: their own)."""
        mine = who.job_number if who.role.value == "agent" else None
        if who.role.value == "agent" and mine is None:
            return []
        found = await self.store.listing(mine, since, until, limit)
        return [r for r in found if may_hear(who, r)]

    async def open_for(
        self, who: Principal, recording_id: int, side: str, byte_range: str | None
    ) -> tuple[Recording | None, str]:
        """The recording if ``who`` may hear it, with the audit written: ``served``,
        ``refused`` (someone else's call) or ``gone`` (deleted, failed). Unknown: None."""
        recording = await self.store.get(recording_id)
        if recording is None:
            return None, "missing"
        if not may_hear(who, recording):
            outcome = "refused"
        elif recording.state is not RecordingState.COMPLETE:
            outcome = "gone"
        else:
            outcome = "served"
        await self.store.audit(
            recording.id, who.name, who.role.value, who.job_number, side, byte_range, outcome
        )
        if outcome == "refused":
            log.warning(
                "%s (%s) refused the recording of call %s",
                who.name,
                who.role.value,
                recording.call_id,
            )
        return recording, outcome

    async def _link_key(self) -> bytes:
        if self._secret is None:
            if self.link_secret is None:
                raise RuntimeError("no playback-link secret wired")
            self._secret = await self.link_secret()
        return self._secret

    async def playback_link(self, who: Principal, recording_id: int) -> PlaybackLink | None:
        """A signed link for ``who`` to play a recording they may hear (the pages' player);
        None if the recording does not exist. ``PermissionError`` for someone else's call
        (audited as refused)."""
        recording = await self.store.get(recording_id)
        if recording is None:
            return None
        if not may_hear(who, recording):
            await self.store.audit(
                recording.id, who.name, who.role.value, who.job_number, "link", None, "refused"
            )
            log.warning(
                "%s (%s) refused a playback link for call %s",
                who.name,
                who.role.value,
                recording.call_id,
            )
            raise PermissionError("this recording is not yours to hear")
        return sign(await self._link_key(), recording.id, who, self._clock(), self.link_lifetime_s)

    async def link_viewer(self, recording_id: int, query: dict[str, str]) -> Principal:
        """The viewer a signed link names (``BadLink`` if it is not a good link now,
        ``ViewerGone`` if the token it was made for is no longer live)."""
        viewer = verify(await self._link_key(), recording_id, query, self._clock())
        if self.viewer_live is None or not await self.viewer_live(viewer):
            log.warning(
                "a playback link of %s (%s) used after its token ended",
                viewer.name,
                viewer.role.value,
            )
            raise ViewerGone("the token this link was made for is no longer valid")
        return viewer


async def file_size(service: RecordingService, path: str) -> int | None:
    return await asyncio.to_thread(service.files.size, path)


async def read_part(service: RecordingService, path: str, start: int, length: int) -> bytes:
    return await asyncio.to_thread(service.files.read, path, start, length)


class RecordingKeeper(BackgroundLoop):
    """Seals ended recordings soon after their end; every ``interval_s`` (and at start) files
    recordings found on disk with no row and deletes expired ones (poked when a call ends)."""

    def __init__(self, service: RecordingService, timing: KeeperTiming) -> None:
        super().__init__(
            task_name="recording-keeper",
            round_name="recording keeper",
            retry=RetryTiming(first_s=1.0, max_s=60.0),
        )
        self.service = service
        self.timing = timing
        self._last_expiry: datetime | None = None

    async def _round(self) -> float:
        await self.service.replay_spooled()  # first: a spooled start is what gets sealed
        waiting = await self.service.seal_due(self.timing)
        now = self.service.now()
        interval = timedelta(seconds=self.timing.interval_s)
        if self._last_expiry is None or now - self._last_expiry >= interval:
            await self.service.adopt_orphans(self.timing.stuck_after_s)
            await self.service.delete_expired(self.timing.retention_days)
            self._last_expiry = now
        if waiting:  # look again once their files should be closed
            return min(self.timing.finish_grace_s + 0.5, self.timing.interval_s)
        return self.timing.interval_s  # until the next sweep, or a call's end pokes us
