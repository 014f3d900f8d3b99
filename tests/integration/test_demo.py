"""The demo end to end on the sandboxed Asterisk, once: simulated callers through the menu to
simulated agents, then the whole loop of a repair call — the answering agent's order recorded
through the REST API and linked to the call, dispatched to the crew on duty (the first crew
does not answer, the second accepts), closed, and the 回访 answered by the simulated customer,
its answers printed beside the order. Checked on the printed report and in the database."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.config import AgiSettings, DatabaseSettings, Settings, SpeechSettings, WebSettings
from ivr.db.engine import create_engine
from ivr.db.workorder_models import call_orders_table, orders_table, tasks_table
from ivr_sandbox.asterisk import AmiEndpoint
from ivr_sandbox.demo import run_on

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_demo_shows_the_whole_loop(
    sandbox: AmiEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(
        database=DatabaseSettings(url=url),
        agi=AgiSettings(port=4581),  # not the session bridge's; the demo's calls carry it
        web=WebSettings(port=free_port()),
        speech=SpeechSettings(recognition=False),
    )
    status = await run_on(settings, sandbox, calls=3)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "3 calls recorded." in out
    assert "recorded order" in out and "accepted by the crew" in out, out
    assert "NOT accepted" not in out
    assert "outcome         satisfied" in out and "power restored  yes" in out, out
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            [order] = (await conn.execute(select(orders_table))).all()
            task = (await conn.execute(select(tasks_table))).one()
            links = (await conn.execute(select(call_orders_table.c.call_id))).scalars().all()
    finally:
        await engine.dispose()
    assert links == [order.call_id] and order.call_id[:8] in out  # linked to the call
    assert f"owner {order.owner_job_number}" in out
    assert order.status == "callback_done"  # the 回访 happened
    assert (task.right_person, task.power_restored, task.satisfied, task.outcome) == (
        True,
        True,
        True,
        "satisfied",
    )
    assert order.customer_phone not in out  # numbers printed masked
