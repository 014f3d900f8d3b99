"""``scripts/screenshots``: the pictures in docs/, regenerated from a real sandbox run.

The sandboxed Asterisk, the bridge on a throwaway SQLite file, simulated agents and callers,
the bridge's own web app, and headless Chromium (``ivr_sandbox.browser``) taking the picture:
nothing is mocked, so a picture shows what the product shows.

Each picture is one *shot*: an async function taking the :class:`Stage` (bridge, AMI, the
web app's address, a browser, tokens) that sets up its calls, waits until the page shows
them, and saves its PNG. Add one with ``@shot("name")`` in this module (or a module imported
below); ``scripts/screenshots`` takes them all, ``scripts/screenshots name …`` some.

    scripts/screenshots            # every shot into docs/images/
    scripts/screenshots wallboard  # docs/images/wallboard.png only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web

from ivr.app import Bridge, make_web_app
from ivr.asterisk.ami import AmiClient
from ivr.config import AmiSettings, Settings
from ivr.domain.access import Role
from ivr.domain.agents import Agent, greeting_text
from ivr_sandbox.asterisk import AsteriskSandbox
from ivr_sandbox.browser import Browser, missing_programs
from ivr_sandbox.simulation import (
    SimulatedCaller,
    log_in_agent,
    log_out_agent,
    place_call,
    place_queue_call,
)

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
WIDTH, HEIGHT = 1280, 860  # the pictures' size: readable in the docs, small in git


@dataclass
class Stage:
    """What a shot works with; ``cleanups`` run after it (log agents out, …)."""

    bridge: Bridge
    ami: AmiClient
    base_url: str
    browser: Browser
    out_dir: Path
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def token(self, role: Role, job_number: str | None = None) -> str:
        return await self.bridge.tokens.create(
            f"screenshots-{role.value}-{time.monotonic_ns()}", role, job_number
        )

    async def agent(
        self, job: str, name: str, queues: list[str], answer_after_s: float | str, talk_s: float
    ) -> str:
        """A simulated agent in the directory (工号, name) and logged in to ``queues``."""
        interface = f"Local/{job}@sim-agents/n"
        await self.bridge.agents.put(Agent(job, name, interface, tuple(queues)))
        await self.bridge.prompts.prompt_path(greeting_text(job))
        self.bridge.tracking.agents_changed()
        await log_in_agent(self.ami, job, queues, answer_after_s, talk_s)
        self.cleanups.append(lambda: log_out_agent(self.ami, interface, queues))
        return interface

    async def dashboard(self, token: str) -> dict[str, Any]:
        async with (
            ClientSession() as http,
            http.get(
                self.base_url + "/api/dashboard", headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            return dict(await response.json())

    async def until(
        self, check: Callable[[], Awaitable[bool]], timeout_s: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not await check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"not within {timeout_s:g} s: {what}")
            await asyncio.sleep(0.5)

    async def save(self, name: str) -> Path:
        path = self.out_dir / f"{name}.png"
        await asyncio.to_thread(self.browser.screenshot, path, WIDTH, HEIGHT)
        return path


Shot = Callable[[Stage], Awaitable[Path]]
SHOTS: dict[str, Shot] = {}


def shot(name: str) -> Callable[[Shot], Shot]:
    def register(function: Shot) -> Shot:
        SHOTS[name] = function
        return function

    return register


# ------------------------------------------------------------------------------ the shots


@shot("wallboard")
async def wallboard(stage: Stage) -> Path:
    """The supervisors' wallboard with a morning behind it and calls on it now: agents
    talking, one being rung (he never answers: his rings run out, against him), one paused,
    callers waiting."""
    queues = ["q-repair", "q-billing"]
    talkers = ["1001", "1002"]
    await stage.agent("1001", "李明", queues, 1.0, talk_s=2)
    await stage.agent("1002", "王芳", queues, 2.0, talk_s=2)
    late = await stage.agent("1003", "张伟", queues, "never", talk_s=1)
    paused = await stage.agent("1004", "陈静", queues, 1.0, talk_s=40)
    await stage.ami.queue_pause(None, paused, True, "培训")
    token = await stage.token(Role.SUPERVISOR)
    # the calls behind today's figures: short conversations, some rung first at 1003
    for n in range(4):
        caller = SimulatedCaller(f"1380000020{n}", pause_s=0, hold_s=40)
        await place_queue_call(stage.ami, caller, queues[n % 2])
        await asyncio.sleep(1.0)

    async def finished() -> bool:
        return int((await stage.dashboard(token))["today"]["total"]["offered"]) >= 4

    await stage.until(finished, 90, "the first four calls finished")
    for job in talkers:  # now they stay on the line
        await stage.ami.action(
            {"Action": "Setvar", "Variable": f"SIM_AGENT_TALK_{job}", "Value": "40"}
        )
    for n, queue in enumerate(["q-repair", "q-billing", "q-repair", "q-repair", "q-billing"]):
        caller = SimulatedCaller(f"1380000010{n}", pause_s=0, hold_s=45)
        await place_queue_call(stage.ami, caller, queue)
        await asyncio.sleep(1.5)
    # the callers leave with the shot (the next run on this sandbox must find the queues empty)
    stage.cleanups.append(lambda: hang_up(stage.ami, r"^Local/q-(repair|billing)@sim-queue-entry"))

    async def busy() -> bool:
        d = await stage.dashboard(token)
        ringing = any(a["interface"] == late and a["state"] == "ringing" for a in d["agents"])
        return len(d["talking"]) >= 2 and len(d["waiting"]) >= 1 and ringing

    await stage.until(busy, 60, "two calls talking, one waiting, 1003 being rung")
    await asyncio.to_thread(stage.browser.open, f"{stage.base_url}/dashboard#token={token}")

    async def drawn() -> bool:
        text = await asyncio.to_thread(stage.browser.text, "agents")
        return "振铃中" in text and "通话中" in text

    await stage.until(drawn, 20, "the page shows the agents")
    return await stage.save("wallboard")


@shot("workspace")
async def workspace(stage: Stage) -> Path:
    """The agent's workspace on a repeat caller's repair call, answered: the pop (number, menu
    choice and path, ring-to-answer, the caller's open order, the repeat flag) and the order
    form prefilled from the call with the repair's reminders, partly typed."""
    job, caller = "1011", "13800000301"
    await stage.agent(job, "李明", ["q-repair"], 3.0, talk_s=90)
    token = await stage.token(Role.AGENT, job)
    earlier = {
        "kind": "repair",
        "customer": {"surname": "王", "title": "女士", "phone": caller},
        "summary": "单元楼道灯不亮",
        "address": "幸福路12号3单元",
    }
    async with (
        ClientSession() as http,
        http.post(
            stage.base_url + "/api/work-orders",
            json=earlier,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        if response.status != 201:
            raise RuntimeError(f"the earlier order: {response.status} {await response.text()}")
    await asyncio.to_thread(stage.browser.open, f"{stage.base_url}/workspace#token={token}")

    async def live() -> bool:
        return "live" in await asyncio.to_thread(stage.browser.text, "link")

    await stage.until(live, 20, "the page's feed is live")
    await place_call(stage.ami, SimulatedCaller(caller, "1ww1", hold_s=90))
    stage.cleanups.append(lambda: hang_up(stage.ami, r"^Local/95598@from-pstn"))

    async def answered() -> bool:
        state = await asyncio.to_thread(stage.browser.text, "call-state")
        choice = await asyncio.to_thread(stage.browser.text, "choice")
        return "talking" in state and choice == "repair.no_power"

    await stage.until(answered, 60, "the call popped and answered")
    await asyncio.to_thread(
        stage.browser.js,
        "for (const [id, v] of [['f-surname', '王'], ['f-address', '幸福路12号3单元'],"
        " ['f-fault', '家中全部停电'], ['f-summary', '家中停电，邻居有电']]) {"
        " document.getElementById(id).value = v; }"
        " document.getElementById('f-title').value = '女士';",
    )
    return await stage.save("workspace")


# ------------------------------------------------------------------------------ running


async def hang_up(ami: AmiClient, channel_regex: str) -> None:
    """Hang up every channel whose name matches (AMI ``Hangup`` takes ``/regex/``)."""
    await ami.action({"Action": "Hangup", "Channel": f"/{channel_regex}/"})


@contextlib.asynccontextmanager
async def _web(bridge: Bridge) -> AsyncIterator[str]:
    runner = web.AppRunner(make_web_app(bridge, manage_bridge=False))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def take(names: list[str], out_dir: Path) -> list[Path]:
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="ivr-screenshots-") as scratch:
        settings.database.url = f"sqlite+aiosqlite:///{scratch}/screenshots.db"
        sandbox = AsteriskSandbox.from_settings(settings)
        with sandbox.exclusive():  # before up(): it installs this checkout's configuration
            endpoint = await asyncio.to_thread(sandbox.up)
            settings.ami = AmiSettings(
                host=endpoint.host,
                port=endpoint.port,
                username=endpoint.username,
                secret=endpoint.secret,  # type: ignore[arg-type]
            )
            bridge = Bridge(settings)
            await bridge.start()
            ami = AmiClient(endpoint.host, endpoint.port, endpoint.username, endpoint.secret)
            await ami.connect()
            saved = []
            try:
                async with _web(bridge) as base_url:
                    for name in names:
                        saved.append(await _one(name, bridge, ami, base_url, out_dir))
            finally:
                await ami.close()
                await bridge.stop()
    return saved


async def _one(name: str, bridge: Bridge, ami: AmiClient, base_url: str, out: Path) -> Path:
    browser = await asyncio.to_thread(Browser, WIDTH, HEIGHT)
    stage = Stage(bridge, ami, base_url, browser, out)
    try:
        path = await SHOTS[name](stage)
        print(f"{name}: {path} ({path.stat().st_size // 1024} KiB)", flush=True)
        return path
    finally:
        await asyncio.to_thread(browser.close)
        for cleanup in reversed(stage.cleanups):
            with contextlib.suppress(Exception):
                await cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="regenerate the screenshots in docs/images")
    parser.add_argument("names", nargs="*", help=f"shots to take (default: all of {list(SHOTS)})")
    parser.add_argument("--out", type=Path, default=IMAGES, help="directory for the PNG files")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        parser.error(f"no shot {', '.join(unknown)}; there are: {', '.join(SHOTS)}")
    missing = missing_programs()
    if missing:
        print(f"screenshots need {missing} (apt-get install chromium chromium-driver)")
        return 2
    asyncio.run(take(args.names or list(SHOTS), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
