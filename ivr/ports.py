"""The interfaces the flows, services and web handlers depend on; adapters implement them.

``ivr.db`` (SQLAlchemy), ``ivr.speech`` and ``ivr.asterisk`` provide the implementations, and
only ``ivr.app`` / ``ivr.cli`` choose which: nothing above the domain imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ivr.domain.agent_state import StateChange
from ivr.domain.agents import Agent
from ivr.domain.alert_push import OutboxItem
from ivr.domain.alerts import Alert, AlertLevel
from ivr.domain.call_search import CallFilter, CallPage, FoundCall
from ivr.domain.callbacks import AttemptResult, CallbackContext, Claim, Conversation
from ivr.domain.calls import CallRecord, CallStep, SpooledCall
from ivr.domain.deadline_watch import OpenDeadline, WatchedDeadline, Window
from ivr.domain.dispatch import (
    AtRisk,
    CallResult,
    Crew,
    CrewView,
    DispatchClaim,
    DispatchContext,
    ShiftView,
)
from ivr.domain.do_not_call import DoNotCallEntry
from ivr.domain.inspection import Candidate, Inspection, Scored
from ivr.domain.live_picture import BridgePicture
from ivr.domain.outage_files import PlannedOutage
from ivr.domain.outages import (
    Customer,
    Notice,
    Outage,
    OutageChange,
    OutageKind,
    OutageState,
)
from ivr.domain.phone import PhoneNumber
from ivr.domain.queue_calls import QueueVisit
from ivr.domain.recompute import RecomputeResult
from ivr.domain.recording_findings import Finding, FindingRules
from ivr.domain.recordings import Recording, RecordingEvent, RecordingFile, RecordingKind
from ivr.domain.servers import Heartbeat
from ivr.domain.speech import Grammar, Hypothesis
from ivr.domain.transfers import CallTransfer
from ivr.domain.virtual_hold import CallBackClaim, KeptPlaceView, QueueLine
from ivr.domain.workorders import NewOrder, OrderKind, OrderStatus, OrderView
from ivr.domain.workspace import CallContext, MyOrder, PriorOrder


class Channel(Protocol):
    """One live call as a flow sees it. Raises ``CallerHungUp`` / ``ChannelError``."""

    async def answer(self) -> None: ...

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        """Play a prompt (path without extension); return the key that interrupted it, if any."""
        ...

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one key; ``None`` on timeout."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def record(
        self, path: Path, escape_digits: str, timeout_ms: int, silence_s: int, beep: bool = False
    ) -> str | None:
        """Record the caller into ``path`` + ``.wav`` (8 kHz 16-bit mono) until ``silence_s``
        seconds of silence, ``timeout_ms``, or a key in ``escape_digits`` (returned). ``beep``
        first when the caller is asked to leave a message."""
        ...

    async def hangup(self) -> None: ...


class Recognizer(Protocol):
    """Speech to words within one question's grammar. Blocking engines run off the loop."""

    async def recognize(self, recording: Path, grammar: Grammar) -> Hypothesis:
        """What was said in ``recording``; raises ``TimeoutError`` if the engine is too slow."""
        ...


class PromptLibrary(Protocol):
    """Turns prompt text into a file Asterisk can play (8 kHz, 16-bit mono WAV)."""

    async def prompt_path(self, text: str) -> Path:
        """Path *without* extension, as Asterisk's STREAM FILE wants it. Renders on a miss."""
        ...

    def personal(self, text: str) -> AbstractAsyncContextManager[Path]:
        """A prompt that speaks personal data (an address, a phone number), for one call:
        the path (without extension) of a file rendered for it alone, never cached, readable
        only by the bridge and Asterisk, and deleted when the block ends."""
        ...


class CallRepository(Protocol):
    """Where call records live. Every method is safe to call concurrently from many calls."""

    async def add(self, record: CallRecord) -> None:
        """Insert a new call (with any steps it already has)."""
        ...

    async def add_steps(self, call_id: str, steps: Sequence[CallStep]) -> None: ...

    async def save(self, record: CallRecord) -> None:
        """Idempotent write of a whole snapshot: insert or update the row and append only the
        steps not yet stored; a snapshot with fewer steps than stored changes nothing."""
        ...

    async def update(self, record: CallRecord) -> None:
        """Store the call's outcome, route, choice, path, keys and end (not its steps)."""
        ...

    async def mark_ended(
        self,
        call_id: str,
        ended_at: datetime,
        queue_status: str | None,
        agent_interface: str | None,
    ) -> bool:
        """Asterisk says the channel is gone. Keeps an earlier ``ended_at`` if one is stored;
        False if the call is unknown."""
        ...

    async def get(self, call_id: str) -> CallRecord | None:
        """The call with its steps in order, or ``None``."""
        ...

    async def list_since(self, since: datetime) -> list[CallRecord]:
        """Calls started at or after ``since``, oldest first, with their steps."""
        ...

    async def close_lost(
        self,
        present_uids: set[str],
        started_before: datetime,
        at: datetime,
        cut_since: datetime | None = None,
    ) -> int:
        """Close as ``lost`` the calls started before ``started_before`` whose channel is not in
        ``present_uids`` and whose end is unknown (or, after an Asterisk restart, came after
        ``cut_since``); how many."""
        ...


class CallSearch(Protocol):
    """Finding stored calls for the API (``GET /api/calls``), read only."""

    async def find(self, criteria: CallFilter) -> CallPage:
        """Calls matching ``criteria``, newest first, one page of at most ``criteria.limit``."""
        ...

    async def get(self, call_id: str, agent_job_number: str | None = None) -> FoundCall | None:
        """One call with its steps and queue stays; with ``agent_job_number`` only if that
        agent answered it."""
        ...


class CallSpool(Protocol):
    """Call records kept outside the database while it cannot take them (a local file)."""

    def append(self, entry: SpooledCall) -> None: ...

    def load(self) -> list[SpooledCall]: ...

    def replace(self, entries: Sequence[SpooledCall]) -> None:
        """Keep exactly ``entries`` (none: the spool is removed)."""
        ...

    def empty(self) -> bool: ...


class VisitStore(Protocol):
    """Where queue visits (``ivr.domain.queue_calls.QueueVisit``) live."""

    async def save(self, visit: QueueVisit) -> None:
        """Insert or replace the visit (keyed by caller Uniqueid and join instant)."""
        ...

    async def save_many(self, batch: Sequence[QueueVisit]) -> None:
        """``save`` for each, in one transaction: all stored or none (the last state of a
        visit given twice wins)."""
        ...

    async def between(self, start: datetime, end: datetime) -> list[QueueVisit]: ...

    async def open_visits(self) -> list[QueueVisit]: ...


class AgentDirectory(Protocol):
    """Agents and their job numbers (工号)."""

    async def by_interface(self, interface: str) -> Agent | None: ...

    async def get(self, job_number: str) -> Agent | None: ...

    async def all(self) -> list[Agent]: ...


class CallbackStore(Protocol):
    """Callback tasks and attempts, shared by every bridge (see ``ivr.db.callback_store``)."""

    async def claim(
        self, owner: str, max_live: int, min_gap_s: float, lease_s: float, limit: int
    ) -> list[Claim]: ...

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool: ...

    async def originate_failed(
        self, action_id: str, result: AttemptResult, detail: str
    ) -> None: ...

    async def recover(self) -> int: ...

    async def context(self, action_id: str) -> CallbackContext | None: ...

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool:
        """The customer answered (AMI or the conversation says so); False if the attempt is
        no longer live (its lease expired and it was given up)."""
        ...

    async def conversation_done(self, action_id: str, conversation: Conversation) -> None: ...


class OriginateUnconfirmed(Exception):
    """The Originate went out but Asterisk's answer did not come back (timed out, or the link
    dropped first): the call may be ringing all the same. Not a failed attempt, since dialling
    again could reach the person twice: ``OriginateResponse``, the conversation or the
    attempt's lease settles it."""


class Originator(Protocol):
    """Places one callback call (AMI Originate); results arrive later as events. Raises
    ``OriginateUnconfirmed`` when it cannot tell whether Asterisk took the call."""

    async def originate(self, claim: Claim) -> None: ...


class AlertSink(Protocol):
    """Where alerts go (stored, shown on the dashboard, pushed to a webhook).

    ``raise_alert`` is idempotent on ``alert.key`` and returns False when the key was already
    raised, so callers may raise on every tick without flooding anyone.
    """

    async def raise_alert(self, alert: Alert) -> bool: ...


class DeadlineSource(Protocol):
    """The deadlines the time-limit watch must look at (see ``ivr.db.deadline_source``)."""

    async def watched(self, met_late_since: datetime, until: Window) -> list[WatchedDeadline]:
        """Every deadline not yet breached that is open and may need an alert by
        ``until`` (``Window``), or was met late at or after ``met_late_since``; each says
        whether its warning was raised."""
        ...

    async def settle_warnings(self, now: datetime) -> int:
        """Acknowledge open warnings whose deadline has since been met; how many."""
        ...


class DeadlineRecompute(Protocol):
    """Provisional deadlines made exact once their year is known (see ``ivr.db.recompute``)."""

    async def recompute(self) -> RecomputeResult:
        """Recompute every open provisional deadline; safe to run on many bridges at once."""
        ...


class AlertOutbox(Protocol):
    """Alerts waiting for the webhook, shared by every bridge (see ``ivr.db.alerts``)."""

    async def claim(self, lease_s: float, limit: int) -> list[OutboxItem]:
        """Take due items; each is hidden from other bridges for ``lease_s``."""
        ...

    async def delivered(self, alert_id: int) -> None: ...

    async def failed(self, alert_id: int, retry_in: timedelta, error: str) -> None: ...

    async def next_try(self) -> datetime | None:
        """When the earliest undelivered item becomes due."""
        ...


class WebhookSender(Protocol):
    async def send(self, item: OutboxItem) -> None:
        """Deliver one alert; raises ``WebhookError`` unless the receiver answered 2xx."""
        ...


class DispatchStore(Protocol):
    """Repair dispatch jobs and calls, shared by every bridge (see ``ivr.db.dispatch_store``)."""

    async def claim(self, owner: str, lease_s: float, limit: int) -> list[DispatchClaim]: ...

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool: ...

    async def finish(
        self, action_id: str, result: CallResult, detail: str | None, plays: int | None = None
    ) -> bool: ...

    async def recover(self) -> int: ...

    async def at_risk(self) -> list[AtRisk]: ...

    async def alerted(self, job_id: int) -> None: ...


class DispatchConversation(Protocol):
    """What the crew's call needs: the order's essentials, and where acceptance is written."""

    async def context(self, action_id: str) -> DispatchContext | None: ...

    async def accept(self, action_id: str, plays: int) -> datetime | None: ...

    async def finish(
        self, action_id: str, result: CallResult, detail: str | None, plays: int | None = None
    ) -> bool: ...

    async def conversation_over(self, action_id: str, plays: int) -> None: ...


class DispatchOriginator(Protocol):
    """Places one call to a crew (AMI Originate); results arrive later as events. Raises
    ``OriginateUnconfirmed`` as ``Originator`` does."""

    async def originate(self, claim: DispatchClaim) -> None: ...


class CallJournal(Protocol):
    """Where a call's record goes as it happens; never blocks or fails the call (see
    ``ivr.services.call_journal``, which writes behind and spools while the database is away)."""

    def opened(self, record: CallRecord) -> None: ...

    def closed(self, record: CallRecord) -> None: ...

    def ended(
        self, call_id: str, ended_at: datetime, queue_status: str | None, agent: str | None
    ) -> None: ...


class CallbackLegStore(Protocol):
    """What AMI events about callback legs change (see ``ivr.asterisk.callback_legs``)."""

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool: ...

    async def originate_failed(
        self, action_id: str, result: AttemptResult, detail: str
    ) -> None: ...

    async def channel_ended(self, unique_id: str, grace_s: float) -> None: ...

    async def legs_gone(
        self, present_uids: set[str], answered_before: datetime, grace_s: float
    ) -> int:
        """Finish the answered legs Asterisk no longer has (their Hangup came while AMI was
        away); how many."""
        ...


class DispatchLegStore(Protocol):
    """What AMI events about calls to crews change (see ``ivr.asterisk.dispatch_legs``)."""

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> None: ...

    async def finish(
        self, action_id: str, result: CallResult, detail: str | None, plays: int | None = None
    ) -> bool: ...

    async def channel_ended(self, unique_id: str, grace_s: float) -> None: ...


class WorkOrderStore(Protocol):
    """Work orders, their deadlines and history (see ``ivr.db.workorders``). Raises
    ``OrderNotFound`` / ``OrderConflict`` / ``TransitionError`` (``ivr.domain.workorders``)."""

    async def create(
        self,
        new: NewOrder,
        actor: str,
        create_key: str | None,
        request_hash: str | None = None,
    ) -> tuple[OrderView, bool]:
        """The order, and True if this call created it (False: the key was seen before)."""
        ...

    async def update(
        self,
        order_no: str,
        actor: str,
        status: OrderStatus | None = None,
        summary: str | None = None,
        note: str | None = None,
    ) -> OrderView: ...

    async def close(
        self,
        order_no: str,
        result: str,
        actor: str,
        close_key: str | None,
        request_hash: str | None = None,
    ) -> OrderView:
        """Close; ``request_hash`` as for ``create`` (the close key again with another body
        raises ``KeyReused``)."""
        ...

    async def get(self, order_no: str) -> OrderView: ...

    async def reassign(self, order_no: str, owner: str, reason: str, actor: str) -> OrderView:
        """A new owner (a supervisor's decision, with its reason in the order's history)."""
        ...

    async def list(
        self,
        status: OrderStatus | None = None,
        kind: OrderKind | None = None,
        overdue: bool | None = None,
        owner: str | None = None,
        limit: int = 100,
    ) -> list[OrderView]: ...


class FollowUpDesk(Protocol):
    """Callbacks a person must finish (see ``ivr.db.follow_ups``); raises
    ``FollowUpNotFound`` / ``FollowUpConflict`` (``ivr.domain.follow_ups``)."""

    async def list(
        self, open_: bool | None = True, flagged: bool | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    async def get(self, follow_up_id: int) -> dict[str, Any]: ...

    async def resolve(self, follow_up_id: int, actor: str, note: str) -> dict[str, Any]: ...

    async def requeue(self, follow_up_id: int, actor: str, note: str | None) -> dict[str, Any]: ...


class DoNotCallList(Protocol):
    """The do-not-call list (see ``ivr.db.do_not_call``); raises ``NotOnTheList``
    (``ivr.domain.do_not_call``) and ``OrderNotFound`` for an unknown order number."""

    async def add(
        self, phone: PhoneNumber, request: str, order_no: str | None, actor: str
    ) -> tuple[DoNotCallEntry, bool]: ...

    async def remove(self, phone: PhoneNumber, reason: str, actor: str) -> DoNotCallEntry: ...

    async def list(self, current: bool | None = True, limit: int = 100) -> list[DoNotCallEntry]: ...


class DutyRoster(Protocol):
    """Repair crews and their shifts (see ``ivr.db.duty_roster``); raises ``RosterNotFound`` /
    ``RosterConflict`` (``ivr.domain.dispatch``)."""

    async def add_crew(self, name: str, phone: PhoneNumber, active: bool = True) -> CrewView: ...

    async def update_crew(
        self,
        crew_id: int,
        name: str | None = None,
        phone: PhoneNumber | None = None,
        active: bool | None = None,
    ) -> CrewView: ...

    async def crew(self, crew_id: int) -> CrewView: ...

    async def crews(self) -> list[CrewView]: ...

    async def add_shift(
        self, crew_id: int, starts_at: datetime, ends_at: datetime, priority: int
    ) -> ShiftView: ...

    async def remove_shift(self, shift_id: int) -> None: ...

    async def shifts(self, start: datetime, end: datetime) -> list[ShiftView]: ...

    async def on_duty(self, moment: datetime) -> list[Crew]: ...


class DispatchAcceptances(Protocol):
    """Acceptances a dispatcher records by hand (see ``ivr.db.dispatch_store``); raises
    ``OrderNotFound`` / ``OrderConflict`` (``ivr.domain.workorders``) or ``RosterNotFound``."""

    async def record_acceptance(
        self, order_no: str, actor: str, reason: str, crew_id: int | None
    ) -> datetime: ...


class DispatchHistory(Protocol):
    """A repair order's dispatch job and the calls made for it (see ``ivr.db.dispatch_store``)."""

    async def for_order(self, order_no: str) -> dict[str, Any] | None: ...


class AlertLog(Protocol):
    """Raised alerts as supervisors list and acknowledge them (see ``ivr.db.alerts``); raises
    ``AlertNotFound`` (``ivr.domain.alerts``)."""

    async def list(
        self,
        acknowledged: bool | None = False,
        level: AlertLevel | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...

    async def acknowledge(self, alert_id: int, by: str) -> dict[str, Any]: ...


class DeadlineBoard(Protocol):
    """Open deadlines with their order's status and owner (see ``ivr.db.deadline_source``)."""

    async def open_deadlines(self, order_no: str | None = None) -> list[OpenDeadline]: ...


class AgiObserver(Protocol):
    """Told of every AGI session and of our think time between commands (``/metrics``)."""

    def agi_session(self, route: str) -> None: ...

    def agi_think_time(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredOutcomeCounts:
    """Totals that only grow, counted in the shared tables (every bridge sees the same)."""

    callback_results: Mapping[tuple[str], int] = field(default_factory=dict)
    dispatch_results: Mapping[tuple[str], int] = field(default_factory=dict)
    alerts: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (level, kind)
    callers_informed: int = 0  # heard an outage notice and hung up


class StoredOutcomes(Protocol):
    """Counts of finished callback attempts, dispatch calls and alerts (for ``/metrics``)."""

    async def outcome_counts(self) -> StoredOutcomeCounts: ...


class AgentStateStore(Protocol):
    """Agents' state changes with their times (``ivr.db.agent_states``)."""

    async def record(self, change: StateChange) -> bool:
        """False when that very change is stored already (another bridge saw it too)."""
        ...

    async def latest(self, job_number: str) -> StateChange | None: ...


class CallTransferStore(Protocol):
    """Blind transfers, recorded on the call (``ivr.db.agent_states``)."""

    async def record(self, transfer: CallTransfer) -> None: ...

    async def of_call(self, call_id: str) -> list[CallTransfer]: ...


class CustomerRegister(Protocol):
    """The customer register (户号, phones, supply area and feeder)."""

    async def upsert(self, batch: Sequence[Customer]) -> int: ...

    async def get(self, account_no: str) -> Customer: ...

    async def by_phone(self, phone: str) -> list[Customer]: ...

    async def list(
        self, area: str | None = None, limit: int = 100, after: str | None = None
    ) -> list[Customer]: ...

    async def delete(self, account_no: str) -> None: ...

    async def signature(self, areas: Iterable[str], feeders: Iterable[str]) -> tuple[int, Any]: ...

    async def in_places(self, areas: Iterable[str], feeders: Iterable[str]) -> list[Customer]: ...


class OutageRegister(Protocol):
    """Outages (停电信息) with their history and linked repair orders."""

    async def create(
        self,
        kind: OutageKind,
        areas: Sequence[str],
        feeders: Sequence[str],
        starts_at: datetime,
        expected_at: datetime,
        cause: str,
        actor: str,
        ref: str | None = None,
    ) -> Outage: ...

    async def import_schedule(
        self, planned: Sequence[PlannedOutage], actor: str
    ) -> tuple[int, int, int]: ...

    async def update(self, outage_id: int, values: dict[str, Any], actor: str) -> Outage: ...

    async def close(
        self, outage_id: int, resolution: str, actor: str
    ) -> tuple[Outage, int, int]: ...

    async def cancel(self, outage_id: int, reason: str, actor: str) -> Outage: ...

    async def get(self, outage_id: int) -> Outage: ...

    async def list(self, state: OutageState | None = None, limit: int = 100) -> list[Outage]: ...

    async def open_outages(self) -> list[Outage]: ...

    async def history(self, outage_id: int) -> list[OutageChange]: ...

    async def linked_orders(self, outage_id: int) -> list[dict[str, Any]]: ...

    async def informed_counts(
        self, since: datetime | None = None, outage_ids: Sequence[int] | None = None
    ) -> dict[int, int]: ...

    async def informed_since(self, since: datetime) -> int: ...


class OutageLookup(Protocol):
    """What the menu asks about a caller: the notice for their number or 户号 (in memory)."""

    def for_phone(self, phone: str) -> Notice | None: ...

    def for_account(self, account_no: str) -> Notice | None: ...

    async def account_known(self, account_no: str) -> bool: ...


class RecordingStore(Protocol):
    """Recorded calls and the playback audit (see ``ivr.db.recordings``)."""

    async def started(
        self,
        call_id: str,
        kind: RecordingKind,
        job_number: str | None,
        agent_path: str,
        customer_path: str,
        failure: str | None = None,
        at: datetime | None = None,
    ) -> bool: ...

    async def ended(self, call_id: str, at: datetime | None = None) -> Recording | None: ...

    async def owner_from_call(self, call_id: str) -> str | None: ...

    async def finished(
        self,
        recording_id: int,
        agent: RecordingFile,
        customer: RecordingFile,
        findings: Sequence[Finding],
        job_number: str | None,
    ) -> bool: ...

    async def failed(self, recording_id: int, reason: str) -> bool: ...

    async def deleted(self, recording_id: int) -> bool: ...

    async def unfinished(
        self, ended_before: datetime, started_before: datetime
    ) -> list[Recording]: ...

    async def expired(self, cutoff: datetime, limit: int = ...) -> list[Recording]: ...

    async def get(self, recording_id: int) -> Recording | None: ...

    async def by_call(self, call_id: str) -> Recording | None: ...

    async def known(self, call_ids: Sequence[str]) -> set[str]:
        """Those of ``call_ids`` that have a recording row."""
        ...

    async def first_started(self) -> datetime | None:
        """When this database's first recording started (deleted ones included); None if none."""
        ...

    async def listing(
        self, job_number: str | None, since: datetime | None, until: datetime | None, limit: int
    ) -> list[Recording]: ...

    async def audit(
        self,
        recording_id: int,
        principal: str,
        role: str,
        job_number: str | None,
        side: str,
        byte_range: str | None,
        outcome: str,
    ) -> None: ...

    async def playbacks(self, recording_id: int) -> list[dict[str, Any]]: ...


class RecordingEventSpool(Protocol):
    """Recording events the database could not take yet, kept in order (``ivr.db.spool``)."""

    def append(self, event: RecordingEvent) -> None: ...

    def load(self) -> list[RecordingEvent]: ...

    def replace(self, events: Sequence[RecordingEvent]) -> None: ...

    def empty(self) -> bool: ...


class RecordingFiles(Protocol):
    """The recording files on disk (see ``ivr.recording_files``): measured, analysed, deleted."""

    def measure(self, path: str) -> RecordingFile | None:
        """Size, duration and SHA-256 of a closed file; ``None`` if missing or not a WAV."""
        ...

    def stable(self, path: str) -> bool:
        """The file exists and Asterisk is done writing it (its header is complete)."""
        ...

    def analyse(
        self, agent_path: str, customer_path: str, greeting: Path | None, rules: FindingRules
    ) -> list[Finding]: ...

    def delete(self, path: str) -> bool:
        """Remove the file; ``False`` if it was not there. Other errors raise."""
        ...

    def size(self, path: str) -> int | None:
        """Bytes on disk; ``None`` if the file is missing."""
        ...

    def read(self, path: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start`` (a player's range, one chunk at a time)."""
        ...

    def recorded_calls(self, directory: str, quiet_for_s: float) -> list[tuple[str, datetime]]:
        """Call ids with files in ``directory`` unwritten for ``quiet_for_s``, with the last
        write."""
        ...


class WorkspaceLookup(Protocol):
    """What the agent's workspace reads: the pop's call and history, a call's orders, an
    agent's own orders (``ivr.db.workspace_store``)."""

    async def call_context(self, unique_id: str) -> CallContext | None:
        """The menu's record of the caller channel ``unique_id`` (the latest, if reused)."""
        ...

    async def caller_orders(
        self, phone_digits: str, since: datetime, limit: int = 20
    ) -> list[PriorOrder]: ...

    async def call_orders(self, call_id: str) -> list[dict[str, Any]] | None:
        """The orders linked to a call (None: no such call)."""
        ...

    async def call_agents(self, call_id: str) -> set[str]:
        """The 工号 of everyone who answered the call or owns an order linked to it."""
        ...

    async def my_orders(self, job_number: str, closed_since: datetime) -> list[MyOrder]:
        """Open orders the agent owns, and those closed since ``closed_since``."""
        ...


class ServerRegister(Protocol):
    """The centre's bridges and their heartbeats (``ivr.db.servers``)."""

    async def beat(self, owner: str, started_at: datetime) -> None: ...

    async def leave(self, owner: str) -> None: ...

    async def heartbeats(self) -> list[Heartbeat]: ...

    async def close_lost_server(
        self, server: str, newest_seen: datetime
    ) -> tuple[int, int] | None: ...


class LivePictureStore(Protocol):
    """Each bridge's live picture, one row per bridge with its heartbeat (several bridges on
    one PostgreSQL; ``ivr.services.live_share``)."""

    async def publish(self, picture: BridgePicture) -> None:
        """Store this bridge's picture (its heartbeat is now) and announce the change."""
        ...

    async def others(self, bridge: str) -> list[BridgePicture]:
        """The other bridges' pictures whose heartbeat has not expired (expired rows are
        deleted by the next publish: a dead bridge leaves the table)."""
        ...

    async def withdraw(self, bridge: str) -> None:
        """This bridge stops: its row goes at once."""
        ...


class ChangeFeed(Protocol):
    """Short announcements between the bridges sharing one database (PostgreSQL
    ``LISTEN/NOTIFY``). Delivery is best effort: whoever listens keeps a poll as well."""

    def listen(self, channel: str, heard: Callable[[str | None], None]) -> None:
        """Call ``heard`` with each payload on ``channel``; with None after the listening
        connection was lost and is back (anything may have been missed)."""
        ...

    async def announce(self, channel: str, payload: str) -> None: ...


class CallBackDesk(Protocol):
    """Virtual hold seen from the inbound call (``ivr.services.virtual_hold.CallBackDesk``)."""

    def offer(self, queue: str, caller_number: str, now: datetime) -> str | None:
        """The offer to read to a caller about to join ``queue`` (None: no offer). In memory."""
        ...

    async def keep(
        self, queue: str, caller_number: str, call_id: str | None, arrived_at: datetime
    ) -> bool:
        """Keep the caller's place (their arrival in the line); False if it could not be."""
        ...

    def waits(self, unique_id: str) -> None:
        """The caller goes on to wait in the queue (their place is announced to them)."""
        ...


class KeptPlaceStore(Protocol):
    """Kept places in the database (``ivr.db.virtual_hold.SqlKeptPlaces``)."""

    async def keep(
        self, queue: str, phone: PhoneNumber, call_id: str | None, arrived_at: datetime
    ) -> int: ...

    async def open_by_queue(self) -> dict[str, int]: ...

    async def claim(
        self,
        owner: str,
        lines: Mapping[str, QueueLine],
        max_live: int,
        min_gap_s: float,
        lease_s: float,
    ) -> list[CallBackClaim]: ...

    async def start_originate(self, action_id: str, owner: str, lease_s: float) -> bool: ...

    async def originate_failed(
        self, action_id: str, result: AttemptResult, detail: str
    ) -> None: ...

    async def answered(self, action_id: str, unique_id: str, max_call_s: float) -> bool: ...

    async def connected(self, action_id: str) -> bool: ...

    async def channel_ended(self, unique_id: str, grace_s: float) -> None: ...

    async def legs_gone(
        self, present_uids: set[str], answered_before: datetime, grace_s: float
    ) -> int: ...

    async def recover(self) -> int: ...


class CallBackOriginator(Protocol):
    async def originate(self, claim: CallBackClaim) -> None:
        """Place the call-back; ``OriginateUnconfirmed`` if Asterisk never said."""
        ...


class KeptPlaceBoard(Protocol):
    """Kept places as the dashboard and ``/metrics`` read them (all bridges)."""

    async def counts(self, since: datetime | None = None) -> dict[str, int]: ...

    async def called_back(self, since: datetime | None = None) -> int: ...

    async def listing(self, limit: int = 50) -> list[KeptPlaceView]: ...

    async def open_by_queue(self) -> dict[str, int]: ...


class InspectionStore(Protocol):
    """Quality inspections (质检) and what sampling reads of recordings
    (``ivr.db.inspections``)."""

    async def add(
        self,
        recording_id: int,
        agent_job_number: str | None,
        inspector: str,
        scored: Scored,
        comment: str | None,
        findings_used: list[str],
        reasons: list[str],
        standard: dict[str, object],
    ) -> int:
        """The new inspection's id; ``AlreadyInspected`` if the recording has one."""
        ...

    async def get(self, inspection_id: int) -> Inspection | None: ...

    async def of_recordings(self, recording_ids: list[int]) -> dict[int, int]: ...

    async def listing(
        self,
        job_number: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[Inspection]: ...

    async def candidates(self, start: datetime, end: datetime) -> list[Candidate]: ...


class Whisperer(Protocol):
    async def whisper(self, unique_id: str, prompt: Path) -> bool:
        """Play ``prompt`` (a path without extension) to the caller channel ``unique_id``
        where it is (in a queue); False when that channel is not known here."""
        ...
