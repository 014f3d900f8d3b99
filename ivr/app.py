"""Wiring and lifecycle: the only module that knows every adapter.

One process runs the FastAGI server and the web app on one asyncio loop; aiohttp's
``cleanup_ctx`` starts the bridge before the first request and stops it after the last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.asterisk.agi_routes import (
    agent_greeting_route,
    call_ended_route,
    callback_route,
    inbound_route,
)
from ivr.asterisk.agi_server import FastAgiServer
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.callbacks import AmiOriginator, watch_callback_events
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.calendar_cn import china_is_workday, known_years
from ivr.config import CallbackSettings, Settings
from ivr.db.callbacks import SqlCallbacks
from ivr.db.engine import create_engine, normalize_url, sqlite_file
from ivr.db.follow_ups import SqlFollowUps
from ivr.db.migrate import upgrade
from ivr.db.repository import SqlCallRepository
from ivr.db.spool import FileSpool
from ivr.db.tokens import SqlTokenStore
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.db.workorders import SqlWorkOrders
from ivr.domain.agents import greeting_text
from ivr.domain.callbacks import SCRIPTS, CallbackPolicy, CallingWindow, RetryPolicy
from ivr.flows.agent_greeting import GreetingDeps
from ivr.flows.callback import CallbackDeps
from ivr.flows.inbound import InboundDeps, SpeechDeps, utc_now
from ivr.menu_file import load_menu
from ivr.services.agent_control import AgentControl
from ivr.services.call_journal import CallJournal
from ivr.services.call_tracking import CallTracking
from ivr.services.dashboard import DashboardSource
from ivr.services.dialer import Dialer, DialerLimits
from ivr.speech.asr import ModelMissing, VoskRecognizer
from ivr.speech.grammars import default_grammar_dir, load_grammars
from ivr.speech.prompts import PromptCache
from ivr.web import follow_ups as follow_ups_api
from ivr.web import workorders as workorders_api
from ivr.web.agents_api import add_agent_routes
from ivr.web.auth import auth_middleware, public
from ivr.web.dashboard import add_dashboard_routes

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
        self.menu = load_menu(settings.menu.file)  # a bad menu file stops us here, not on a call
        self.engine = create_engine(settings.database.url, echo=settings.database.echo)
        self.repository = SqlCallRepository(self.engine)
        self.tokens = SqlTokenStore(self.engine)
        self.journal = CallJournal(
            self.repository, settings.database.journal_max_calls, journal_spool(settings)
        )
        self.prompts = PromptCache.from_settings(settings.speech)
        self.agents = SqlAgentDirectory(self.engine)
        self.visits = SqlVisitRepository(self.engine)
        self.tracking = CallTracking(
            self.visits, now_us, settings.tracking.short_abandon_s, calls=self.repository
        )
        self.ami: AmiClient | None = None  # the tracker's AMI link, when a secret is set
        self.link: TrackerLink | None = None
        self.control = AgentControl(self.agents, None)  # refuses (503) until AMI is set up
        self.dashboard = DashboardSource(
            self.tracking, self.agents, ZoneInfo(settings.tracking.timezone)
        )
        self.grammars = load_grammars(settings.speech.grammar_dir or default_grammar_dir())
        self.menu.check_grammars(self.grammars)  # also a start-up error, not a call's
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
        deps = InboundDeps(self.menu, self.prompts, self.journal, utc_now, self.speech)
        policy = callback_policy(settings.callback)
        self.work_orders = SqlWorkOrders(self.engine, china_is_workday, policy, utc_now)
        self.callbacks = SqlCallbacks(self.engine, policy, utc_now)
        self.follow_ups = SqlFollowUps(self.engine, policy, utc_now)
        callback_deps = CallbackDeps(
            self.callbacks,
            self.prompts,
            settings.sandbox.recordings_dir,
            max_call_s=settings.callback.max_call_s,
        )
        self.routes = {
            "inbound": inbound_route(deps),
            "call-ended": call_ended_route(self.journal, utc_now),
            "callback": callback_route(callback_deps),
            "agent-greeting": agent_greeting_route(GreetingDeps(self.agents, self.prompts)),
        }
        self.agi = FastAgiServer(settings.agi, self.routes)
        self.dialer: Dialer | None = None

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
                "SPEECH DISABLED: %s. Callers use keys only. Install the model as the README "
                "says (section Speech) or set speech.model_dir.",
                exc,
            )
            return None

    async def start(self) -> None:
        if self.recognizer is not None:
            await self.recognizer.start()  # seconds, in the recogniser's thread
            self.recognizer.prepare(self.grammars)  # a word the model lacks stops us here
            log.info(
                "speech on: model %s, grammars %s",
                self.recognizer.model_dir,
                ", ".join(sorted(self.grammars)),
            )
        await upgrade(self.settings.database.url)
        await self.journal.start()  # what a previous run could not write, before new calls
        texts = set(self.menu.prompt_texts()) | set(SCRIPTS)
        texts |= {greeting_text(a.job_number) for a in await self.agents.all()}
        rendered = await self.prompts.prerender(sorted(texts))
        log.info("%d prompts ready in %s", len(rendered), self.settings.speech.cache_dir)
        years = known_years()
        log.info("working-day calendar known for %d-%d", years.start, years.stop - 1)
        await self.tracking.start()
        ami = self.settings.ami
        if ami.secret.get_secret_value():
            self.ami = AmiClient(ami.host, ami.port, ami.username, ami.secret.get_secret_value())
            self.link = TrackerLink(self.ami, self.tracking)
            self.control.queues = self.ami
            await self.ami.connect(give_up=False)
        else:
            log.warning("no AMI secret configured: no call tracking, agents API or dashboard data")
        await self.agi.start()
        if self.settings.callback.dialer:
            await self._start_dialer()

    async def _start_dialer(self) -> None:
        cb = self.settings.callback
        if self.ami is None:
            raise RuntimeError("callback.dialer needs [ami] with its secret")
        self.dialer = Dialer(
            self.callbacks,
            AmiOriginator(self.ami, cb),
            DialerLimits(
                cb.max_concurrent,
                cb.rate_per_s,
                cb.ring_timeout_s,
                cb.claim_lease_s,
                cb.poll_interval_s,
            ),
            utc_now,
            ready=lambda: self.ami is not None and self.ami.logged_in,
        )
        watch_callback_events(self.ami, self.callbacks, cb, self.dialer.poke)
        self.dialer.start()
        log.info("callback dialer %s running", self.dialer.owner)

    async def stop(self) -> None:
        if self.dialer is not None:
            await self.dialer.stop()
        if self.link is not None:
            await self.link.stop()
        if self.ami is not None:
            await self.ami.close()
        await self.agi.stop()
        await self.journal.close()
        if self.recognizer is not None:
            await self.recognizer.close()
        await self.tracking.stop()
        await self.prompts.close()
        await self.engine.dispose()


def make_web_app(bridge: Bridge, manage_bridge: bool = True) -> web.Application:
    """The web app; ``manage_bridge=False`` when the bridge is started elsewhere (tests)."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[auth_middleware(bridge.tokens)])

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await bridge.start()
        yield
        await bridge.stop()

    @public
    async def health(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "agi_port": bridge.agi.port,
                "calls_in_menu": bridge.agi.active_sessions,
            }
        )

    if manage_bridge:
        app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/health", health)
    workorders_api.add_routes(app, bridge.work_orders)
    follow_ups_api.add_routes(app, bridge.follow_ups)
    add_dashboard_routes(app, bridge.dashboard)
    add_agent_routes(app, bridge.agents, bridge.agents, bridge.control, bridge.tracking)
    return app


async def serve(settings: Settings) -> None:
    """Run the bridge until SIGINT/SIGTERM."""
    bridge = Bridge(settings)
    runner = web.AppRunner(make_web_app(bridge))
    await runner.setup()
    site = web.TCPSite(runner, settings.web.host, settings.web.port)
    await site.start()
    log.info("bridge up: web on %s:%d", settings.web.host, settings.web.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
