"""Wiring and lifecycle: the only module that knows every adapter.

One process runs the FastAGI server and the web app on one asyncio loop; aiohttp's
``cleanup_ctx`` starts the bridge before the first request and stops it after the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ivr.asterisk.agi_routes import (
    agent_greeting_route,
    call_ended_route,
    callback_route,
    dispatch_route,
    inbound_route,
)
from ivr.asterisk.agi_server import FastAgiServer
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.call_back_legs import CallBackOriginatorAmi, watch_call_back_events
from ivr.asterisk.callback_legs import callback_originator, watch_callback_events
from ivr.asterisk.dispatch_legs import dispatch_originator, watch_dispatch_events
from ivr.asterisk.queue_whisper import AmiWhisper
from ivr.asterisk.recording_events import watch_recordings
from ivr.asterisk.seat_conf import AmiPjsipReloader, FileSeatConfig
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.calendar_cn import load_calendar, log_sources
from ivr.config import (
    AlertsSettings,
    CallbackSettings,
    DispatchSettings,
    LiveSettings,
    OutageSettings,
    RecordingSettings,
    SeatSettings,
    Settings,
    StartupError,
    VirtualHoldSettings,
    setting_source,
)
from ivr.db import instance_lock
from ivr.db.agent_states import SqlAgentStates, SqlCallTransfers
from ivr.db.alerts import SqlAlerts
from ivr.db.call_search import SqlCallSearch
from ivr.db.callback_store import SqlCallbacks
from ivr.db.calls import SqlCallRepository
from ivr.db.centre_secrets import SqlCentreSecrets
from ivr.db.deadline_source import SqlDeadlineSource
from ivr.db.dispatch_store import SqlDispatch
from ivr.db.do_not_call import SqlDoNotCall
from ivr.db.duty_roster import SqlDutyRoster
from ivr.db.engine import create_engine, normalize_url, sqlite_file
from ivr.db.follow_ups import SqlFollowUps
from ivr.db.inspections import SqlInspections
from ivr.db.live_state import SqlLivePictures
from ivr.db.migrate import upgrade
from ivr.db.monitoring import SqlMonitoring
from ivr.db.notify import PgChangeFeed
from ivr.db.outages import SqlCustomers, SqlOutages
from ivr.db.outcome_counts import SqlOutcomeCounts
from ivr.db.recompute import SqlDeadlineRecompute
from ivr.db.recordings import SqlRecordings
from ivr.db.report_rows import SqlReportRows
from ivr.db.seats import SqlSeatStore
from ivr.db.servers import SqlServers
from ivr.db.spool import FileSpool, RecordingEventSpool
from ivr.db.tokens import SqlTokenStore
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.db.virtual_hold import SqlKeptPlaces
from ivr.db.workorders import SqlWorkOrders
from ivr.db.workspace_store import SqlWorkspaceLookup
from ivr.domain.agents import greeting_text
from ivr.domain.alert_push import Backoff
from ivr.domain.callbacks import (
    SCRIPTS,
    CallbackPolicy,
    CallingWindow,
    RetryPolicy,
    check_grammars,
)
from ivr.domain.deadline_watch import WarningPolicy
from ivr.domain.dispatch import SCRIPTS as DISPATCH_SCRIPTS
from ivr.domain.dispatch import DispatchPolicy, worst_case_plan
from ivr.domain.inspection import SamplePer
from ivr.domain.leg_keys import LegKeys
from ivr.domain.live_picture import BridgePicture
from ivr.domain.phone import PhoneNumber
from ivr.domain.queue_calls import QueueVisit
from ivr.domain.recording_findings import FindingRules
from ivr.domain.servers import Placement
from ivr.domain.virtual_hold import CALLBACK_GREETING, CallBackRules
from ivr.domain.virtual_hold import texts as call_back_texts
from ivr.flows import outage_notice
from ivr.flows.agent_greeting import GreetingDeps
from ivr.flows.callback_call import CallbackDeps
from ivr.flows.dispatch_call import DispatchDeps
from ivr.flows.inbound import CallBackDeps, InboundDeps, utc_now
from ivr.flows.listen import SpeechDeps
from ivr.flows.outage_notice import NoticeDeps
from ivr.logging_setup import register_secret
from ivr.menu_file import load_menu
from ivr.recording_files import RecordingFilesOnDisk
from ivr.services.agent_control import AgentControl
from ivr.services.agent_feed import AgentFeed
from ivr.services.alert_push import AlertPusher, PushLimits
from ivr.services.calendar import recompute_provisional
from ivr.services.call_journal import CallJournal
from ivr.services.call_tracking import CallTracking
from ivr.services.call_transfer import CallTransferService
from ivr.services.dashboard import DashboardSource
from ivr.services.deadline_watch import DeadlineWatch, WatchTiming
from ivr.services.dialer import Dialer, DialerLimits
from ivr.services.dispatcher import Dispatcher, DispatcherLimits
from ivr.services.inspections import InspectionService, SamplingRule
from ivr.services.leased_loop import bridge_identity
from ivr.services.live_share import LiveShare, LiveTiming
from ivr.services.metrics import BridgeMetrics
from ivr.services.monthly_reports import MonthlyReports
from ivr.services.order_news import OrderNews
from ivr.services.outages import OutageNotices, OutageService
from ivr.services.queue_announce import QueueAnnouncer
from ivr.services.readiness import PartState, Readiness
from ivr.services.recordings import KeeperTiming, RecordingKeeper, RecordingService
from ivr.services.schema_migration import SchemaMigration
from ivr.services.seats import SeatService
from ivr.services.security_events import FAILURES as SECURITY_FAILURES
from ivr.services.security_events import SecurityEvents
from ivr.services.server_watch import ServerWatch
from ivr.services.supervisor_monitor import SupervisorMonitor
from ivr.services.virtual_hold import CallBackDesk, CallBackLoop
from ivr.services.work_orders import OrderWakeups, WorkOrderService
from ivr.services.wrap_up import WrapUp
from ivr.speech.asr import ModelMissing, VoskRecognizer
from ivr.speech.grammars import default_grammar_dir, load_grammars
from ivr.speech.prompts import PromptCache
from ivr.web import (
    alerts_api,
    call_orders_api,
    calls_api,
    do_not_call_api,
    duty_roster_api,
    follow_ups_api,
    outages_api,
    work_orders_api,
)
from ivr.web.agent_me_api import MeDeps, add_me_routes
from ivr.web.agents_api import add_agent_routes
from ivr.web.auth import auth_middleware, public
from ivr.web.connection_guard import GuardedTCPSite, descriptors_needed
from ivr.web.dashboard import add_dashboard_routes
from ivr.web.errors import MAX_BODY_BYTES, json_errors
from ivr.web.health import add_health_routes
from ivr.web.inspection_page import add_inspection_page
from ivr.web.inspections_api import add_inspection_routes
from ivr.web.json_body import json_response, set_centre_timezone
from ivr.web.metrics import add_metrics_route
from ivr.web.monitor_api import add_monitor_routes
from ivr.web.openapi import add_openapi_route
from ivr.web.recordings_api import add_recording_routes
from ivr.web.reports_api import add_report_routes
from ivr.web.seats_api import add_seat_routes
from ivr.web.webhook import AiohttpWebhookSender
from ivr.web.workspace import add_workspace_routes

log = logging.getLogger(__name__)


def callback_policy(settings: CallbackSettings) -> CallbackPolicy:
    return CallbackPolicy(
        window=CallingWindow(
            time.fromisoformat(settings.window_start),
            time.max if settings.window_end == "24:00" else time.fromisoformat(settings.window_end),
            ZoneInfo(settings.timezone),
        ),
        retry=RetryPolicy(
            settings.max_attempts, tuple(timedelta(seconds=s) for s in settings.retry_spacing_s)
        ),
        after_close=timedelta(hours=settings.after_close_hours),
    )


def dialer_limits(settings: CallbackSettings) -> DialerLimits:
    """The outbound customer-call limits: the 回访 dialer and the virtual-hold call-backs share
    them (one global live-call limit and one rate)."""
    return DialerLimits(
        settings.max_concurrent,
        settings.rate_per_s,
        settings.ring_timeout_s,
        settings.claim_lease_s,
        settings.poll_interval_s,
    )


def warning_policy(settings: AlertsSettings) -> WarningPolicy:
    return WarningPolicy(
        lead_fraction=settings.lead_fraction,
        min_lead=timedelta(seconds=settings.min_lead_s),
        max_lead=timedelta(seconds=settings.max_lead_s),
        leads={name: timedelta(seconds=s) for name, s in settings.lead_s.items()},
    )


def dispatch_policy(settings: DispatchSettings) -> DispatchPolicy:
    """The planner's policy; a bad combination (a call that cannot fit the limit, a bad
    escalation number) stops the bridge at start, not at the first repair."""
    return DispatchPolicy(
        limit=timedelta(seconds=settings.limit_s),
        ring_timeout=timedelta(seconds=settings.ring_timeout_s),
        min_ring=timedelta(seconds=settings.min_ring_s),
        talk_budget=timedelta(seconds=settings.talk_budget_s),
        risk_after=timedelta(seconds=settings.risk_after_s),
        escalate_after=timedelta(seconds=settings.escalate_after_s),
        escalation_phone=PhoneNumber(settings.escalation_phone)
        if settings.escalation_phone
        else None,
        rounds=settings.rounds,
        max_plays=settings.max_plays,
    )


def seat_service(settings: SeatSettings, engine: AsyncEngine) -> SeatService:
    """Seats from the table; changing them needs ``conf_dir`` and the seats' AMI secret (the
    secret joins the log filter's list as soon as it is read)."""
    config = reloader = None
    secret = settings.ami.secret_value()
    if secret:
        register_secret(secret)
    if settings.conf_dir is not None and secret:
        config = FileSeatConfig(settings.conf_dir)
        a = settings.ami
        reloader = AmiPjsipReloader(a.host, a.port, a.username, secret)
    return SeatService(SqlSeatStore(engine, utc_now), config, reloader, settings.realm, utc_now)


def database_place(url: str) -> str:
    """Where the database is, for a log line: host, port and name (never the password)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite {parsed.database}"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def finding_rules(settings: RecordingSettings) -> FindingRules:
    return FindingRules(
        short_call_s=settings.short_call_s,
        opening_window_s=settings.opening_window_s,
        long_silence_s=settings.long_silence_s,
        over_talk_s=settings.over_talk_s,
    )


def keeper_timing(settings: RecordingSettings) -> KeeperTiming:
    return KeeperTiming(
        retention_days=settings.retention_days,
        interval_s=settings.keeper_interval_s,
        finish_grace_s=settings.finish_grace_s,
        stuck_after_s=settings.stuck_after_s,
    )


def journal_spool(settings: Settings) -> FileSpool | None:
    """Where unwritten call records wait: the configured file, or beside a SQLite database."""
    if settings.database.spool_file is not None:
        return FileSpool(settings.database.spool_file)
    path = sqlite_file(normalize_url(settings.database.url))
    return None if path is None else FileSpool(path.with_name(path.name + ".spool.jsonl"))


class Bridge:
    """The bridge's parts, started in dependency order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.order_news: OrderNews | None = None  # set by _setup_sharing on PostgreSQL
        self.menu = load_menu(settings.menu.file)  # a bad menu file stops us here, not on a call
        self.calendar = load_calendar(settings.calendar.schedule_file)  # so does a bad schedule
        self.is_workday = self.calendar.is_workday
        self.engine = create_engine(settings.database.url, echo=settings.database.echo)
        here = settings.asterisk
        # who this bridge is (its claims, its heartbeat) and the Asterisk it serves
        self.owner = bridge_identity()
        self.placement = Placement(here.server_name, here.max_outbound)
        self.repository = SqlCallRepository(self.engine, here.server_name)
        self.call_search = SqlCallSearch(self.engine)
        self.tokens = SqlTokenStore(self.engine)
        self.seats = seat_service(settings.seats, self.engine)
        spool = journal_spool(settings)
        self.journal_spool_path = spool.path if spool is not None else None
        self.journal = CallJournal(self.repository, settings.database.journal_max_calls, spool)
        self._held = contextlib.ExitStack()  # the instance locks, released at stop
        self.prompts = PromptCache.from_settings(settings.speech)
        self.agents = SqlAgentDirectory(self.engine)
        self.visits = SqlVisitRepository(self.engine, here.server_name)
        self.metrics = BridgeMetrics()  # this bridge's own registry (/metrics)
        self.outcome_counts = SqlOutcomeCounts(self.engine)
        self.tracking = CallTracking(
            self.visits,
            now_us,
            settings.tracking.short_abandon_s,
            calls=self.repository,
            agents=self.agents,
            on_finished=self._visits_finished,
        )
        self.ami: AmiClient | None = None  # the tracker's AMI link, when a secret is set
        self.link: TrackerLink | None = None
        # refuses (503) until AMI is set up; a login tells the tracker who the member is
        self.agent_states = SqlAgentStates(self.engine)
        self.control = AgentControl(
            self.agents,
            None,
            logging_in=self.tracking.agent_noted,
            states=self.agent_states,
            clock=utc_now,
        )
        self.control.test_member_context = settings.sandbox.simulated_agents
        # after-call work (话后处理) after every answered queue call; blind transfers
        self.wrap_up = WrapUp(self.control, self.tracking, settings.agents.wrapup_s)
        self.call_transfers = SqlCallTransfers(self.engine)
        self.transfers = CallTransferService(
            self.control,
            self.tracking,
            self.call_transfers,
            frozenset(settings.agents.transfer_queues),
            utc_now,
        )
        self.monitor = SupervisorMonitor(
            self.tracking,
            self.repository,
            SqlMonitoring(self.engine, utc_now),
            utc_now,
            settings.monitor.tell_agent,
        )
        self.security = SecurityEvents()  # failed SIP logins etc., from AMI (class security)
        self.dashboard = DashboardSource(
            self.tracking,
            self.agents,
            ZoneInfo(settings.tracking.timezone),
            security=self.security,
            rules=settings.dashboard.rules(),
            call_ids=self.repository.call_ids_of,
        )
        self.grammars = load_grammars(settings.speech.grammar_dir or default_grammar_dir())
        self.menu.check_grammars(self.grammars)  # also a start-up error, not a call's
        check_grammars(self.grammars)  # the 回访's questions, likewise
        self.recognizer = self._recognizer()
        self.speech = None
        if self.recognizer is not None:
            s = settings.speech
            self.speech = SpeechDeps(
                recognizer=self.recognizer,
                grammars=self.grammars,
                recordings_dir=s.recordings_dir,
                listen_max_ms=round(s.listen_max_s * 1000),
                end_silence_s=s.end_silence_s,
                min_confidence=s.min_confidence,
                keep_recordings=s.keep_recordings,
            )
        policy = callback_policy(settings.callback)
        order_store = SqlWorkOrders(self.engine, self.is_workday, policy, utc_now)
        self._setup_outages(settings.outages, order_store)
        self._setup_virtual_hold(settings.virtual_hold, policy)
        deps = InboundDeps(
            self.menu,
            self.prompts,
            self.journal,
            utc_now,
            self.speech,
            self.notice_deps,
            self.call_back_deps,
        )
        self.callbacks = SqlCallbacks(self.engine, policy, utc_now, self.placement)
        self.follow_ups = SqlFollowUps(self.engine, policy, utc_now)
        self.do_not_call = SqlDoNotCall(self.engine, utc_now)
        self.reports = MonthlyReports(
            SqlReportRows(self.engine),
            ZoneInfo(settings.tracking.timezone),
            utc_now,
            settings.tracking.short_abandon_s,
        )
        callback_deps = CallbackDeps(
            self.callbacks,
            self.prompts,
            settings.sandbox.recordings_dir,
            reasks=settings.callback.reasks,
            max_call_s=settings.callback.max_call_s,
            speech=self.speech,  # the 回访 listens as the menu does
        )
        dp = settings.dispatch
        self.roster = SqlDutyRoster(self.engine, utc_now)
        self.dispatch = SqlDispatch(
            self.engine,
            self.roster,
            dispatch_policy(dp),
            utc_now,
            timedelta(seconds=dp.max_order_age_s),
            self.placement,
        )
        dispatch_deps = DispatchDeps(
            self.dispatch, self.prompts, dp.max_plays, round(dp.digit_timeout_s * 1000)
        )
        # the web API's door to orders: each change wakes the watch, dispatcher and dialer
        self.work_orders = WorkOrderService(
            order_store,
            OrderWakeups(
                self._told_too("deadlines", self.poke_watch),
                self._told_too("dispatch", self.poke_dispatcher),
                self._told_too("callbacks", self._poke_dialer),
            ),
            acceptances=self.dispatch,
            agents=self.agents,
        )
        self.leg_keys = LegKeys()  # its secret is read from the database at start
        self._setup_recordings(settings.recording)
        self.routes = {
            "inbound": inbound_route(deps),
            "call-ended": call_ended_route(self.journal, utc_now),
            "callback": callback_route(callback_deps, self.leg_keys),
            "dispatch": dispatch_route(dispatch_deps, self.leg_keys),
            "agent-greeting": agent_greeting_route(GreetingDeps(self.agents, self.prompts)),
        }
        self.agi = FastAgiServer(settings.agi, self.routes, self.metrics)
        self.server_watch = ServerWatch(
            SqlServers(self.engine, utc_now, here.server_name),
            self.owner,
            here.server_name,
            here.heartbeat_s,
            here.lost_after_s,
            utc_now,
            alive=lambda: self.ami is None or self.ami.logged_in,
        )
        self.dialer: Dialer | None = None
        self.dispatcher: Dispatcher | None = None
        self._setup_alerts(settings.alerts)
        # the agents' workspace: its reads, and the live feed the call tracker drives
        self.workspace = SqlWorkspaceLookup(self.engine, self.warning_policy, utc_now)
        self.feed = AgentFeed(self.tracking, self.workspace, self.agents, utc_now)
        self._setup_sharing(settings.live)
        self.recompute = SqlDeadlineRecompute(
            self.engine, self.is_workday, self.warning_policy, utc_now
        )
        # the database may be down at start: calls are served anyway, the schema comes later
        self.schema = SchemaMigration(
            lambda: upgrade(settings.database.url),
            self._start_database_work,
            setting=f"database.url ({setting_source('database.url')}) "
            f"{database_place(settings.database.url)}",
        )
        self.readiness = Readiness(
            {"ami": self._ami_state, "database": self._database_state, "agi": self._agi_state}
        )

    def _setup_sharing(self, live: LiveSettings) -> None:
        """Several bridges on PostgreSQL: the live picture shared, order changes announced
        (docs/several-bridges.md). On SQLite there is one bridge and nothing to share."""
        self.bridge_id = live.bridge_id or bridge_identity()
        self.dashboard.bridge = self.bridge_id
        # several bridges may serve one Asterisk: its name, not the AMI address, says which
        self.dashboard.server = live.server or self.settings.asterisk.server_name
        self.change_feed: PgChangeFeed | None = None
        self.live: LiveShare | None = None
        if self.engine.dialect.name != "postgresql" or not live.share:
            return
        self.change_feed = PgChangeFeed(self.engine)
        self.live = LiveShare(
            self.bridge_id,
            SqlLivePictures(self.engine, utc_now, live.expire_s),
            self.change_feed,
            self._local_picture,
            LiveTiming(live.publish_interval_s, live.heartbeat_s, live.expire_s),
        )
        self.dashboard.shared = self.live
        self.feed.centre = self.dashboard.centre
        self.live.listeners.append(self.feed.others_changed)
        share = self.live
        self.tracking.listeners.append(lambda _event, _visits: share.changed())
        self.order_news = OrderNews(
            self.bridge_id,
            self.change_feed,
            {
                "deadlines": self.poke_watch,
                "dispatch": self.poke_dispatcher,
                "callbacks": self._poke_dialer,
            },
        )

    async def _local_picture(self) -> BridgePicture:
        await self.dashboard.directory_current()
        return self.dashboard.local_picture()

    def _told_too(self, loop: str, poke: Callable[[], None]) -> Callable[[], None]:
        """``poke`` this bridge's loop, and announce it so the other bridges poke theirs."""

        def wake() -> None:
            poke()
            if self.order_news is not None:
                self.order_news.tell(loop)

        return wake

    def _setup_outages(self, o: OutageSettings, order_store: SqlWorkOrders) -> None:
        """The customer and outage registers; the notice index when notices are on."""
        self.customers = SqlCustomers(self.engine, utc_now)
        self.outage_register = SqlOutages(self.engine, order_store, utc_now)
        self.notices: OutageNotices | None = None
        self.notice_deps: NoticeDeps | None = None
        if o.notices:
            self.notices = OutageNotices(
                self.outage_register,
                self.customers,
                self.prompts,
                ZoneInfo(self.settings.tracking.timezone),
                utc_now,
                o.refresh_s,
            )
            self.notice_deps = NoticeDeps(
                self.notices, o.menu_choice, round(o.digit_timeout_s * 1000), o.max_plays
            )
        self.outages = OutageService(
            self.outage_register, self.customers, self.notices, self._poke_dialer
        )
        self.dashboard.outages = self.outage_register

    def _setup_virtual_hold(self, v: VirtualHoldSettings, policy: CallbackPolicy) -> None:
        """Kept places (virtual hold): the store, and the desk the inbound flow asks."""
        rules = CallBackRules(policy.window, v.max_attempts, timedelta(seconds=v.retry_spacing_s))
        self.kept_places = SqlKeptPlaces(self.engine, rules, utc_now, self.placement)
        self.call_back_desk: CallBackDesk | None = None
        self.call_back_deps: CallBackDeps | None = None
        self.call_back_loop: CallBackLoop | None = None
        self.queue_announcer: QueueAnnouncer | None = None
        if v.enabled:
            self.dashboard.kept_places = self.kept_places
            self.call_back_desk = CallBackDesk(
                self.kept_places,
                self.tracking,
                rules,
                v.threshold_s,
                v.handle_s,
                frozenset(v.queues),
            )
            self.call_back_deps = CallBackDeps(self.call_back_desk, round(v.digit_timeout_s * 1000))

    def _start_call_backs(self) -> None:
        v, cb = self.settings.virtual_hold, self.settings.callback
        if self.ami is None or self.call_back_desk is None:
            raise RuntimeError("virtual_hold needs [ami] with its secret")
        self.call_back_loop = CallBackLoop(
            self.kept_places,
            self.call_back_desk,
            CallBackOriginatorAmi(
                self.ami,
                cb,
                self.leg_keys,
                lambda: self.prompts.prompt_path(CALLBACK_GREETING),
            ),
            dialer_limits(cb),
            utc_now,
            owner=self.owner,
            # the lines are true only once the tracker has resynced
            ready=lambda: self._ami_up() and self.link is not None and self.link.resynced.is_set(),
        )
        watch_call_back_events(
            self.ami, self.kept_places, cb, v.max_call_s, self.call_back_loop.poke
        )
        self.tracking.listeners.append(self.call_back_loop.tracker_changed)
        self.call_back_loop.start()
        log.info("virtual hold: call-backs placed by %s", self.call_back_loop.owner)

    def _start_queue_announcer(self) -> None:
        v = self.settings.virtual_hold
        if self.ami is None or self.call_back_desk is None or not v.announce_interval_s:
            return
        self.call_back_desk.announcing = True
        self.queue_announcer = QueueAnnouncer(
            self.call_back_desk,
            self.tracking,
            self.prompts,
            AmiWhisper(self.ami),
            v.announce_interval_s,
        )
        self.queue_announcer.start()

    def _setup_alerts(self, a: AlertsSettings) -> None:
        """The alert sink (for the watch and the dispatcher), the watch, and the webhook."""
        self.alerts = SqlAlerts(self.engine, utc_now, push=bool(a.webhook_url))
        self.deadline_source = SqlDeadlineSource(self.engine)
        self.warning_policy = warning_policy(a)
        self.watch: DeadlineWatch | None = None
        if a.watch:
            timing = WatchTiming(a.max_sleep_s, a.retry_s, timedelta(hours=a.met_late_horizon_h))
            self.watch = DeadlineWatch(
                self.deadline_source, self.alerts, self.warning_policy, utc_now, timing
            )
        self.webhook: AiohttpWebhookSender | None = None
        self.pusher: AlertPusher | None = None
        if a.webhook_url:
            self.webhook = AiohttpWebhookSender(a.webhook_url, a.webhook_key(), a.webhook_timeout_s)
            backoff = Backoff(
                timedelta(seconds=a.webhook_backoff_first_s),
                cap=timedelta(seconds=a.webhook_backoff_max_s),
            )
            limits = PushLimits(
                a.webhook_batch,
                lease_s=a.webhook_timeout_s * 2 + 5,
                jitter_s=a.webhook_backoff_first_s,
            )
            self.pusher = AlertPusher(self.alerts, self.webhook, utc_now, backoff, limits)
            self.alerts.on_raised = self.pusher.poke

    def _setup_recordings(self, r: RecordingSettings) -> None:
        """Recordings: the store, the files, the service the AMI events and the API use,
        and the keeper (seals, flags and deletes) started with the database work."""
        self.recordings = RecordingService(
            SqlRecordings(self.engine, utc_now, self.settings.asterisk.server_name),
            RecordingFilesOnDisk(),
            self.agents,
            r.dir,
            finding_rules(r),
            self._greeting_file,
            utc_now,
            RecordingEventSpool(r.spool_file or r.dir / ".events.spool.jsonl"),
        )
        self.recording_keeper = RecordingKeeper(self.recordings, keeper_timing(r))
        self.recordings.on_ended = self.recording_keeper.poke
        secrets = SqlCentreSecrets(self.engine)
        self.recordings.link_secret = secrets.playback_secret
        self.recordings.link_lifetime_s = r.playback_link_s
        self.recordings.viewer_live = self.tokens.still_holds
        i = self.settings.inspection
        self.inspections = InspectionService(
            SqlInspections(self.engine, utc_now),
            self.recordings.store,
            i.standard(),
            SamplingRule(i.sample_share, SamplePer(i.sample_per)),
            ZoneInfo(self.settings.tracking.timezone),
            secrets.playback_secret,
            utc_now,
        )

    async def _greeting_file(self, job_number: str) -> Path | None:
        """The opening as rendered for this agent (what the no_opening finding looks for)."""
        try:
            return (await self.prompts.prompt_path(greeting_text(job_number))).with_suffix(".wav")
        except Exception:
            log.exception("no greeting prompt for agent %s: no_opening not judged", job_number)
            return None

    def _visits_finished(self, visits: Sequence[QueueVisit]) -> None:
        """Every queue visit as it finishes: the metrics count it, after-call work starts."""
        self.metrics.visits_finished(visits)
        self.wrap_up.calls_ended(visits)

    def poke_watch(self) -> None:
        """Deadlines moved: the watch looks again now (cheap; a no-op without one)."""
        if self.watch is not None:
            self.watch.poke()

    def poke_dispatcher(self) -> None:
        """A repair order was recorded or moved on: the dispatcher claims it now."""
        if self.dispatcher is not None:
            self.dispatcher.poke()

    def _poke_dialer(self) -> None:
        """An order was closed (its callback may be due): the dialer looks again now."""
        if self.dialer is not None:
            self.dialer.poke()

    def _recognizer(self) -> VoskRecognizer | None:
        """The recogniser, or None (with a warning saying why) when speech stays off."""
        s = self.settings.speech
        if not s.recognition:
            log.info("speech recognition off (speech.recognition = false): keys only")
            return None
        if not self.menu.grammars():
            return None
        try:
            return VoskRecognizer(s.model_dir, s.workers, s.recognition_timeout_s)
        except ModelMissing as exc:
            log.warning(
                "SPEECH DISABLED: %s. Callers use keys only. Install the model as docs/speech.md "
                "says (section Speech) or set speech.model_dir.",
                exc,
            )
            return None

    async def start(self) -> None:
        """Start what calls need first (FastAGI, the menu's prompts), then the schema (now, or
        in the background while the database is down) and the AMI link (in the background:
        nothing waits for its login)."""
        ami = self.settings.ami
        secret = ami.secret_value()
        if not secret and (self.settings.callback.dialer or self.settings.dispatch.dispatcher):
            raise RuntimeError("callback.dialer and dispatch.dispatcher need [ami] with its secret")
        if self.recognizer is not None:
            await self.recognizer.start()  # seconds, in the recogniser's thread
            self.recognizer.prepare(self.grammars)  # a word the model lacks stops us here
            log.info(
                "speech on: model %s, grammars %s",
                self.recognizer.model_dir,
                ", ".join(sorted(self.grammars)),
            )
        self._hold_files()
        await self.journal.start()  # what a previous run could not write, before new calls
        # a killed bridge may have left a dispatch prompt (an address, a phone number) behind
        await asyncio.to_thread(self.prompts.remove_personal_leftovers)
        texts = set(self.menu.prompt_texts()) | set(SCRIPTS) | set(DISPATCH_SCRIPTS)
        if self.notices is not None:
            texts |= outage_notice.texts()
        if self.call_back_desk is not None:
            texts |= call_back_texts()
        rendered = await self.prompts.prerender(sorted(texts))
        log.info("%d prompts ready in %s", len(rendered), self.settings.speech.cache_dir)
        log_sources(self.calendar, log)
        try:
            await self.agi.start()
        except OSError as exc:
            raise listen_error("agi", self.settings.agi.host, self.settings.agi.port, exc) from None
        if secret:
            register_secret(secret)  # the log filter replaces it wherever it would appear
            self.ami = AmiClient(
                ami.host,
                ami.port,
                ami.username,
                secret,
                ping_interval_s=ami.ping_interval_s,
                ping_timeout_s=ami.ping_timeout_s,
                reconnect_max_s=ami.reconnect_max_s,
            )
            self.link = TrackerLink(self.ami, self.tracking)
            for name in SECURITY_FAILURES:
                self.ami.on_event(name, self.security.observe)
            self.control.queues = self.ami
            self.transfers.channels = self.ami
            self.monitor.channels = self.ami
            self.wrap_up.start()
            rec = self.settings.recording
            watch_recordings(
                self.ami,
                self.recordings if rec.enabled else None,
                rec.dir if rec.enabled else None,
            )
        else:
            log.warning("no AMI secret configured: no call tracking, agents API or dashboard data")
        await self.schema.start()  # on success (now or later): _start_database_work
        await self.tracking.start()  # reads the agents; retries by itself while the db is down
        if self.ami is not None:
            self.ami.start()  # in the background: calls and the web never wait on AMI

    async def _start_database_work(self) -> None:
        """What needs the schema: the legs' key, agents' greetings, deadline recompute, dialer,
        watch …"""
        self.leg_keys.set_secret(await SqlCentreSecrets(self.engine).leg_secret())
        if self.change_feed is not None:
            self.change_feed.start()  # LISTEN before the loops start: no announcement missed
        if self.live is not None:
            self.live.start()
        try:
            greetings = {greeting_text(a.job_number) for a in await self.agents.all()}
            await self.prompts.prerender(sorted(greetings))
        except Exception:  # rendered at the first greeting instead
            log.exception("could not render the agents' greetings ahead of time")
        try:  # before the watch starts: its first round judges the new due times
            await recompute_provisional(self.recompute, self.poke_watch)
        except Exception:  # idempotent: the next start or `ivr calendar recompute` does it
            log.exception("recomputing provisional deadlines failed; the bridge runs on")
        if self.notices is not None:
            self.notices.start()  # its first round loads the active outages
        if self.settings.callback.dialer:
            await self._start_dialer()
        if self.call_back_desk is not None and self.settings.virtual_hold.dialer:
            self._start_call_backs()
        self._start_queue_announcer()
        if self.watch is not None:
            self.watch.start()
            log.info("time-limit watch running")
        if self.pusher is not None:
            self.pusher.start()
            log.info("alerts pushed to the webhook %s", self.webhook)
        if self.settings.dispatch.dispatcher:
            self._start_dispatcher()
        if self.settings.recording.enabled:
            self.recording_keeper.start()
        self.server_watch.start()

    def _ami_up(self) -> bool:
        """Can calls be placed now (AMI logged in)? Every leased call loop asks before it
        claims: an originate while AMI is down would fail and use up an attempt."""
        return self.ami is not None and self.ami.logged_in

    async def _ami_state(self) -> PartState:
        if self.ami is None:
            return PartState(True, "not configured")
        if not self.ami.logged_in:
            return PartState(False, "login refused" if self.ami.refused else "not connected")
        if self.link is not None and not self.link.resynced.is_set():
            return PartState(False, "resyncing")
        return PartState(True, "logged in")

    async def _database_state(self) -> PartState:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return PartState(False, "unreachable")
        if not self.schema.done.is_set():
            return PartState(False, "not migrated yet")
        return PartState(True, "reachable")

    async def _agi_state(self) -> PartState:
        return PartState(True, "listening") if self.agi.listening else PartState(False, "stopped")

    async def _start_dialer(self) -> None:
        cb = self.settings.callback
        if self.ami is None:
            raise RuntimeError("callback.dialer needs [ami] with its secret")
        self.dialer = Dialer(
            self.callbacks,
            callback_originator(self.ami, cb, self.leg_keys),
            dialer_limits(cb),
            utc_now,
            owner=self.owner,
            ready=self._ami_up,
        )
        watch_callback_events(self.ami, self.callbacks, cb, self.dialer.poke)
        self.dialer.start()
        log.info("callback dialer %s running", self.dialer.owner)

    def _start_dispatcher(self) -> None:
        dp = self.settings.dispatch
        if self.ami is None:
            raise RuntimeError("dispatch.dispatcher needs [ami] with its secret")
        self.dispatcher = Dispatcher(
            self.dispatch,
            dispatch_originator(self.ami, dp, self.leg_keys),
            self.alerts,
            DispatcherLimits(dp.poll_interval_s, dp.claim_lease_s),
            utc_now,
            owner=self.owner,
            ready=self._ami_up,
        )
        watch_dispatch_events(self.ami, self.dispatch, dp, self.dispatcher.poke)
        self.dispatcher.start()
        plan = worst_case_plan(self.dispatch.policy, 2)
        log.info(
            "repair dispatcher %s running; nobody answering, two crews on duty are called at %s",
            self.dispatcher.owner,
            ", ".join(f"{int(at.total_seconds())} s ({target.value})" for target, at in plan),
        )

    def _hold_files(self) -> None:
        """One bridge per SQLite file and per spool file (see ``ivr.db.instance_lock``)."""
        database = sqlite_file(normalize_url(self.settings.database.url))
        if database is not None:
            self._held.enter_context(
                instance_lock.hold(
                    instance_lock.lock_path(database),
                    "database.url",
                    "SQLite serves one bridge: run several bridges on PostgreSQL"
                    " (postgresql+asyncpg://…), each with its own database.spool_file.",
                )
            )
        spool = self.journal_spool_path
        if spool is not None:
            self._held.enter_context(
                instance_lock.hold(
                    instance_lock.lock_path(spool),
                    "database.spool_file",
                    "Give each bridge its own spool file.",
                )
            )

    async def stop(self) -> None:
        await self.schema.stop()
        if self.notices is not None:
            await self.notices.stop()
        await self.recording_keeper.stop()
        if self.watch is not None:
            await self.watch.stop()
        if self.pusher is not None:
            await self.pusher.stop()
        if self.webhook is not None:
            await self.webhook.close()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.dialer is not None:
            await self.dialer.stop()
        if self.call_back_loop is not None:
            await self.call_back_loop.stop()
        if self.queue_announcer is not None:
            await self.queue_announcer.stop()
        if self.schema.done.is_set():
            try:  # a few seconds at most: stopping never waits on an absent database
                await asyncio.wait_for(self.server_watch.leave(), LEAVE_TIMEOUT_S)
            except Exception as exc:  # the database is away: the heartbeat simply grows old
                log.warning("this bridge's heartbeat stays behind (%s)", type(exc).__name__)
        else:
            await self.server_watch.stop()
        await self.wrap_up.stop()
        if self.link is not None:
            await self.link.stop()
        if self.ami is not None:
            await self.ami.close()
        await self.agi.stop()
        await self.journal.close()
        if self.recognizer is not None:
            await self.recognizer.close()
        await self.feed.stop()
        if self.live is not None:
            await self.live.stop()  # its row goes: the others drop this bridge at once
        if self.order_news is not None:
            await self.order_news.stop()
        if self.change_feed is not None:
            await self.change_feed.stop()
        await self.tracking.stop()
        await self.prompts.close()
        await self.engine.dispose()
        self._held.close()


LEAVE_TIMEOUT_S = 5.0  # for removing this bridge's heartbeat at stop


def make_web_app(bridge: Bridge, manage_bridge: bool = True) -> web.Application:
    """The web app; ``manage_bridge=False`` when the bridge is started elsewhere (tests)."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[auth_middleware(bridge.tokens), json_errors]
    )

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await bridge.start()
        yield
        await bridge.stop()

    @public
    async def health(request: web.Request) -> web.Response:
        return json_response(
            request,
            {
                "status": "ok",
                "agi_port": bridge.agi.port,
                "calls_in_menu": bridge.agi.active_sessions,
            },
        )

    set_centre_timezone(app, ZoneInfo(bridge.settings.tracking.timezone))
    if manage_bridge:
        app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/health", health)
    add_health_routes(app, bridge.readiness)
    work_orders_api.add_routes(app, bridge.work_orders)
    follow_ups_api.add_routes(app, bridge.follow_ups)
    do_not_call_api.add_routes(app, bridge.do_not_call)
    calls_api.add_routes(app, bridge.call_search, bridge.call_transfers)
    duty_roster_api.add_routes(app, bridge.roster, bridge.dispatch, bridge.poke_dispatcher)
    add_dashboard_routes(app, bridge.dashboard)
    add_metrics_route(app, bridge.metrics, bridge.dashboard.snapshot, bridge.outcome_counts)
    alerts_api.add_routes(
        app,
        alerts_api.AlertsDeps(
            bridge.alerts, bridge.deadline_source, bridge.warning_policy, utc_now
        ),
    )
    add_report_routes(app, bridge.reports)
    add_me_routes(  # before /api/agents/{job}: "me" is no job number
        app,
        MeDeps(
            bridge.control,
            bridge.tracking,
            bridge.wrap_up,
            bridge.transfers,
            bridge.agent_states,
            tuple(bridge.settings.agents.pause_reasons),
        ),
    )
    add_agent_routes(
        app, bridge.agents, bridge.agents, bridge.control, bridge.tracking, bridge.seats
    )
    add_seat_routes(app, bridge.seats)
    outages_api.add_routes(app, bridge.outages)
    add_recording_routes(app, bridge.recordings)
    add_monitor_routes(app, bridge.monitor)
    add_inspection_routes(app, bridge.inspections)
    add_inspection_page(app)
    call_orders_api.add_routes(app, bridge.workspace)
    add_workspace_routes(app, bridge.feed, bridge.tokens, bridge.workspace, utc_now)
    add_openapi_route(app)
    return app


def listen_error(section: str, host: str, port: int, exc: OSError) -> StartupError:
    """Why the bridge cannot listen on ``section``'s host and port, and what to do."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError(
            f"{section}.port",
            f"{where} is already in use by another program: stop it (ss -ltnp 'sport = :{port}' "
            f"shows which) or set {section}.port to a free port",
        )
    if exc.errno == errno.EACCES:
        return StartupError(
            f"{section}.port", f"{where} needs privileges this user lacks: use a port above 1023"
        )
    return StartupError(
        f"{section}.host",
        f"cannot listen on {where} ({exc.strerror or exc}): correct {section}.host or "
        f"{section}.port",
    )


def raise_file_limit(max_web_connections: int) -> None:
    """Use the hard limit on open files that the service manager allows (systemd's
    ``LimitNOFILE``): calls, AMI, the database and web clients all need descriptors. Warn,
    naming the setting, when even that limit cannot hold a full web side beside the calls."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    needed = descriptors_needed(max_web_connections)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open-files limit %d is below the %d that web.max_connections=%d needs; lower "
            "web.max_connections or raise LimitNOFILE",
            soft,
            needed,
            max_web_connections,
        )


async def serve(settings: Settings) -> None:
    """Run the bridge until SIGINT/SIGTERM."""
    bridge = Bridge(settings)
    runner = web.AppRunner(make_web_app(bridge))
    try:
        await runner.setup()
    except StartupError:
        await bridge.stop()  # what the start had opened (aiohttp stops only a finished start)
        raise
    raise_file_limit(settings.web.max_connections)
    site = GuardedTCPSite(
        runner,
        settings.web.host,
        settings.web.port,
        max_connections=settings.web.max_connections,
        header_timeout_s=settings.web.header_timeout_s,
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise listen_error("web", settings.web.host, settings.web.port, exc) from None
    log.info("bridge up: web on %s:%d", settings.web.host, settings.web.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
