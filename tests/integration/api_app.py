"""The bridge's real web app on a real (migrated SQLite) database, without Asterisk: for tests
of what the API accepts and who may call it. The bridge is built, not started."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from ivr.app import Bridge, make_web_app
from ivr.config import (
    AgiSettings,
    DatabaseSettings,
    RecordingSettings,
    Settings,
    SpeechSettings,
)
from ivr.db.migrate import upgrade
from ivr.domain.access import Role

AGENT_JOB = "7301"


@dataclass
class Api:
    bridge: Bridge
    client: TestClient
    tokens: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@asynccontextmanager
async def api_app(tmp_path: Path, url: str | None = None) -> AsyncIterator[Api]:
    """``url``: a migrated database (the ``db_url`` fixture); a fresh SQLite file if None."""
    if url is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
        await upgrade(url)
    settings = Settings(
        database=DatabaseSettings(url=url),
        agi=AgiSettings(port=0),
        speech=SpeechSettings(recognition=False, cache_dir=tmp_path / "prompts"),
        recording=RecordingSettings(dir=tmp_path / "recordings"),
    )
    bridge = Bridge(settings)
    tokens = {
        Role.AGENT: await bridge.tokens.create("t-agent", Role.AGENT, AGENT_JOB),
        Role.SUPERVISOR: await bridge.tokens.create("t-supervisor", Role.SUPERVISOR),
        Role.INSPECTOR: await bridge.tokens.create("t-inspector", Role.INSPECTOR),
        Role.INTEGRATION: await bridge.tokens.create("t-integration", Role.INTEGRATION),
        Role.ADMIN: await bridge.tokens.create("t-admin", Role.ADMIN),
    }
    app = make_web_app(bridge, manage_bridge=False)
    await bridge.agi.start()  # /health reports its port
    try:
        async with TestClient(TestServer(app)) as client:
            yield Api(bridge, client, tokens)
    finally:
        await bridge.agi.stop()
        await bridge.engine.dispose()
