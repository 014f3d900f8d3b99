"""Wiring and lifecycle: the only module that knows every adapter.

One process runs the FastAGI server and the web app on one asyncio loop; aiohttp's
``cleanup_ctx`` starts the bridge before the first request and stops it after the last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr.asterisk.agi_routes import agent_greeting_route, call_ended_route, inbound_route
from ivr.asterisk.agi_server import FastAgiServer
from ivr.asterisk.ami import AmiClient
from ivr.asterisk.tracker_link import TrackerLink, now_us
from ivr.config import Settings
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.db.repository import SqlCallRepository
from ivr.db.tokens import SqlTokenStore
from ivr.db.tracking import SqlAgentDirectory, SqlVisitRepository
from ivr.domain.agents import greeting_text
from ivr.flows.agent_greeting import GreetingDeps
from ivr.flows.inbound import InboundDeps, utc_now
from ivr.menu_file import load_menu
from ivr.services.agent_control import AgentControl
from ivr.services.call_journal import CallJournal
from ivr.services.call_tracking import CallTracking
from ivr.services.dashboard import DashboardSource
from ivr.speech.prompts import PromptCache
from ivr.web.agents_api import add_agent_routes
from ivr.web.auth import auth_middleware, public
from ivr.web.dashboard import add_dashboard_routes

log = logging.getLogger(__name__)


class Bridge:
    """The bridge's parts, started in dependency order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.menu = load_menu(settings.menu.file)  # a bad menu file stops us here, not on a call
        self.engine = create_engine(settings.database.url, echo=settings.database.echo)
        self.repository = SqlCallRepository(self.engine)
        self.tokens = SqlTokenStore(self.engine)
        self.journal = CallJournal(self.repository)
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
        deps = InboundDeps(self.menu, self.prompts, self.journal, utc_now)
        self.routes = {
            "inbound": inbound_route(deps),
            "call-ended": call_ended_route(self.journal, utc_now),
            "agent-greeting": agent_greeting_route(GreetingDeps(self.agents, self.prompts)),
        }
        self.agi = FastAgiServer(settings.agi, self.routes)

    async def start(self) -> None:
        await upgrade(self.settings.database.url)
        texts = set(self.menu.prompt_texts())
        texts |= {greeting_text(a.job_number) for a in await self.agents.all()}
        rendered = await self.prompts.prerender(sorted(texts))
        log.info("%d prompts ready in %s", len(rendered), self.settings.speech.cache_dir)
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

    async def stop(self) -> None:
        await self.agi.stop()
        if self.link is not None:
            await self.link.stop()
        if self.ami is not None:
            await self.ami.close()
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
