#!/usr/bin/env python3
"""Classic AGI entry point, for sites that cannot reach a FastAGI server.

Asterisk starts one process per call (``AGI(/path/ivr_agi.py,inbound[,settings.toml])``: the
first argument names the route, the optional second a settings file, since Asterisk passes the
script no environment of ours). The process serves that one session with the same routes and
flows as the FastAGI server, keys only. It pays Python's start-up, the imports, the database
connection and the menu load on every call, so FastAGI is the default; prompts must have been
rendered ahead (``ivr prompts render``).

It imports only what the inbound menu needs (SQLAlchemy, pydantic, panoramisk's AGI parser,
tenacity):
none of aiohttp, vosk or pyttsx3, so it also runs with the Debian python3 that the sandbox
installs in Asterisk's chroot (``ivr_sandbox/classic_agi.py``), from a copy of the package
beside this directory.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

# The package beside agi_scripts/ (a checkout, or the copy in the sandbox root) comes first.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def serve_stdio() -> int:
    from ivr import logging_setup
    from ivr.asterisk.agi_routes import call_ended_route, inbound_route
    from ivr.asterisk.agi_server import serve_session
    from ivr.config import load_settings
    from ivr.db.calls import SqlCallRepository
    from ivr.db.engine import create_engine
    from ivr.flows.inbound import InboundDeps, utc_now
    from ivr.menu_file import load_menu
    from ivr.services.call_journal import CallJournal
    from ivr.speech.prompts import PromptCache

    # Asterisk sends SIGHUP when the caller hangs up; its default action would kill us before
    # the call's record is finished. The hangup also comes back as the next command's result.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logging_setup.configure("WARNING")  # stdout is the AGI channel: logs go to stderr only
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4096)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    settings = load_settings(Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    engine = create_engine(settings.database.url)
    journal = CallJournal(SqlCallRepository(engine))
    prompts = PromptCache.from_settings(settings.speech)
    deps = InboundDeps(load_menu(settings.menu.file), prompts, journal, utc_now)
    routes = {"inbound": inbound_route(deps), "call-ended": call_ended_route(journal, utc_now)}
    try:
        route = sys.argv[1] if len(sys.argv) > 1 else "inbound"
        served = await serve_session(reader, writer, routes, settings.agi, route)
    finally:
        await journal.close()
        await prompts.close()
        await engine.dispose()
    return 0 if served else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(serve_stdio()))
