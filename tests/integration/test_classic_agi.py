"""The classic (stdin/stdout) AGI entry point runs the same flow as the FastAGI server."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from ivr.db.calls import SqlCallRepository
from ivr.db.engine import create_engine
from ivr.db.migrate import upgrade
from ivr.domain.calls import CallOutcome

SCRIPT = Path(__file__).parents[2] / "agi_scripts" / "ivr_agi.py"
ENV = (
    b"agi_request: ivr_agi.py\n"
    b"agi_channel: PJSIP/trunk-00000001\n"
    b"agi_uniqueid: 1795346540.99\n"
    b"agi_callerid: 13600000001\n"
    b"agi_extension: 95598\n"
    b"agi_arg_1: inbound\n"
    b"\n"
)


async def test_a_classic_agi_call_is_routed_and_recorded(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'classic.db'}"
    await upgrade(url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "inbound",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={"IVR_DATABASE__URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert process.stdin and process.stdout
    process.stdin.write(ENV)
    commands: list[str] = []
    while line := await asyncio.wait_for(process.stdout.readline(), 60):
        command = line.decode().strip()
        commands.append(command)
        # the caller presses 0 (a human) during the greeting; everything else just succeeds
        reply = b"200 result=48 endpos=100\n" if len(commands) == 2 else b"200 result=0\n"
        process.stdin.write(reply)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert commands[0].startswith('SET VARIABLE "__IVR_CALL_ID"')
    assert commands[-1] == 'SET VARIABLE "IVR_QUEUE" "q-general"'

    engine = create_engine(url)
    try:
        (record,) = await SqlCallRepository(engine).list_since(datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        await engine.dispose()
    assert (record.outcome, record.route, record.keys) == (CallOutcome.ROUTED, "q-general", "0")
    assert (record.caller_number, record.unique_id) == ("13600000001", "1795346540.99")
