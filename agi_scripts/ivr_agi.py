#!/usr/bin/env python3
"""Classic AGI entry point, for sites that cannot reach a FastAGI server.

Asterisk starts one process per call (``AGI(/path/ivr_agi.py,inbound)``: the first argument
names the route) and talks to it on stdin/stdout. The process serves that one session with
exactly the routes and flows of the FastAGI server. It pays Python's start-up, the database
connection and the menu load on every call, so FastAGI is the default; prompts must have been
rendered ahead (``ivr prompts render``).
"""

from __future__ import annotations

import asyncio
import sys


async def serve_stdio() -> int:
    from ivr import logging_setup
    from ivr.app import Bridge
    from ivr.asterisk.agi_server import serve_session
    from ivr.config import load_settings

    logging_setup.configure("WARNING")  # stdout is the AGI channel: logs go to stderr only
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4096)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    settings = load_settings()
    bridge = Bridge(settings)
    try:
        route = sys.argv[1] if len(sys.argv) > 1 else "inbound"
        served = await serve_session(reader, writer, bridge.routes, settings.agi, route)
    finally:
        await bridge.journal.close()
        await bridge.prompts.close()
        await bridge.engine.dispose()
    return 0 if served else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(serve_stdio()))
