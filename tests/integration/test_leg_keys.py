"""Who may answer for an outbound leg: a FastAGI peer that knows a 回访 attempt id but not its
leg key is hung up untouched, so it cannot fake a satisfied customer (or a crew's 接令); the
key set at Originate lets the real leg through. On the real bridge's routes and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from ivr.db.centre_secrets import SqlCentreSecrets
from ivr.db.workorder_models import attempts_table
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import NewOrder, OrderKind
from tests.integration.api_app import api_app


async def agi_session(port: int, script: str, *args: str) -> list[bytes]:
    """Play Asterisk for one AGI session; returns the commands the bridge sent (answering each
    with success) until it hangs up or closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = [
        b"agi_network: yes",
        f"agi_network_script: {script}".encode(),
        f"agi_request: agi://127.0.0.1/{script}".encode(),
        b"agi_channel: Local/13800138000@outbound-trunk-00000001;2",
        b"agi_uniqueid: 1733300000.7",
        *(f"agi_arg_{n}: {a}".encode() for n, a in enumerate(args, 1)),
    ]
    writer.write(b"\n".join(env) + b"\n\n")
    commands: list[bytes] = []
    try:
        while len(commands) < 3:
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                break
            commands.append(line.strip())
            if line.startswith(b"HANGUP"):
                break
            writer.write(b"200 result=0\n")  # e.g. no key pressed
    finally:
        writer.close()
    return commands


async def test_a_leg_without_its_key_is_hung_up_and_touches_nothing(tmp_path: Path) -> None:
    async with api_app(tmp_path) as api:
        bridge = api.bridge
        bridge.leg_keys.set_secret(await SqlCentreSecrets(bridge.engine).leg_secret())
        store = bridge.work_orders._store  # the order as an agent closed it
        order = NewOrder(
            OrderKind.REPAIR, None, "7301", "张", "先生", PhoneNumber("13800138000"), "停电"
        )
        view, _ = await store.create(order, "test", None)
        await store.close(view.order_no, "已修复", "test", None)
        midday = datetime.combine(datetime.now(UTC).date(), time(4), UTC)  # 12:00 in Beijing
        bridge.callbacks._clock = lambda: midday + timedelta(days=2)
        [claim] = await bridge.callbacks.claim("bridge-a", 5, 0.1, 60, 5)
        port = bridge.agi.port

        for args in ((claim.action_id,), (claim.action_id, "0" * 32), (claim.action_id, "x")):
            commands = await agi_session(port, "callback", *args)
            assert commands == [b"HANGUP"], (args, commands)
        async with bridge.engine.connect() as conn:
            [attempt] = (await conn.execute(select(attempts_table))).all()
        assert (attempt.state, attempt.result) == ("claimed", None)  # nothing written

        key = bridge.leg_keys.key_for(claim.action_id)
        commands = await agi_session(port, "callback", claim.action_id, key)
        assert commands and commands[0] != b"HANGUP", commands  # the 回访 script starts
