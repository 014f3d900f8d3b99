"""The wiring agrees with the dialplan we ship: every AGI route Asterisk calls is served."""

from __future__ import annotations

import re
from pathlib import Path

from ivr.app import Bridge
from ivr.config import DatabaseSettings, Settings

CONF = Path(__file__).parents[2] / "asterisk_conf" / "extensions.conf"


def test_every_route_the_dialplan_calls_is_served(tmp_path: Path) -> None:
    called = set(re.findall(r"AGI\(\$\{IVR_[A-Z_]+\}/([a-z-]+)", CONF.read_text("utf-8")))
    assert {"inbound", "call-ended", "callback", "agent-greeting", "dispatch"} <= called
    bridge = Bridge(Settings(database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/x")))
    assert called <= set(bridge.routes)
    assert all(callable(route) for route in bridge.routes.values())
