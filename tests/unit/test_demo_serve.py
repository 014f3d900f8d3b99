"""``scripts/demo --serve``: after the loop the bridge keeps running and prints, for a person to
open, the URLs of the dashboard (a supervisor's token) and the workspace (agent 1001's token, an
agent's role bound to that 工号), the token in the URL's fragment; Ctrl-C or SIGTERM ends it."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from ivr.domain.access import Role
from ivr_sandbox.demo import WebSite, _serve


class Tokens:
    """The bridge's token store as _serve uses it: what was asked for, and a token each."""

    def __init__(self) -> None:
        self.made: list[tuple[str, Role, str | None]] = []

    async def create(self, name: str, role: Role, job_number: str | None = None) -> str:
        self.made.append((name, role, job_number))
        return f"tok{len(self.made)}"


class FakeBridge:
    def __init__(self) -> None:
        self.tokens = Tokens()


async def serve_until_printed(site: WebSite, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    bridge = FakeBridge()
    task = asyncio.create_task(_serve(bridge, site))  # type: ignore[arg-type]
    out = ""
    for _ in range(200):
        await asyncio.sleep(0.01)
        out += capsys.readouterr().out
        if "tokens" in out:
            break
    assert not task.done()  # it keeps running
    os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler: ends _serve, not the process
    await asyncio.wait_for(task, 5)
    return bridge, out


async def test_serve_prints_the_workspace_and_dashboard_urls_and_stops_on_a_signal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bridge, out = await serve_until_printed(WebSite("http://127.0.0.1:8080", True), capsys)
    assert bridge.tokens.made == [
        ("demo-supervisor", Role.SUPERVISOR, None),
        ("demo-agent-1001", Role.AGENT, "1001"),
    ]
    assert "dashboard   http://127.0.0.1:8080/dashboard#token=tok1" in out
    assert "workspace   http://127.0.0.1:8080/workspace#token=tok2   (agent 1001)" in out
    assert "http://127.0.0.1:8080/api/openapi.json" in out


async def test_serve_names_no_workspace_a_web_app_does_not_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out = await serve_until_printed(WebSite("http://127.0.0.1:8080", False), capsys)
    assert "/dashboard#token=" in out and "/workspace" not in out
