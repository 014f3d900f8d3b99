"""The AMI link goes silent without closing (half-open) under a running bridge.

A proxy between the bridge and the real sandboxed Asterisk stops forwarding either way and
sends no FIN: nothing tells the bridge's socket that the peer is gone. With the shipped
settings (a Ping every 10 s, its answer awaited 10 s) the bridge must notice, drop the link,
log in again and resync — and a caller who joined a queue while the link was silent (whose
``QueueCallerJoin`` was lost in the proxy) must be in the tracker's picture after that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ivr.app import Bridge
from ivr.config import AgiSettings, AmiSettings, DatabaseSettings, Settings, SpeechSettings
from ivr_sandbox.simulation import SimulatedCaller, place_queue_call
from tests.integration.ami_proxy import SilentLink

pytestmark = pytest.mark.integration

CALLER = "13500000313"
QUEUE = "q-t-7"
log = logging.getLogger(__name__)


@pytest.fixture
async def proxied_bridge(sandbox, tmp_path: Path) -> AsyncIterator[tuple[Bridge, SilentLink]]:  # type: ignore[no-untyped-def]
    proxy = SilentLink(upstream=(sandbox.host, sandbox.port))
    port = await proxy.start()
    defaults = AmiSettings()
    settings = Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'silent.db'}"),
        agi=AgiSettings(port=0),
        speech=SpeechSettings(recognition=False),
        ami=AmiSettings(
            host="127.0.0.1",
            port=port,
            username=sandbox.username,
            secret=sandbox.secret,
            # the shipped watch: a silent link is noticed within 10 + 10 s
            ping_interval_s=defaults.ping_interval_s,
            ping_timeout_s=defaults.ping_timeout_s,
        ),
    )
    bridge = Bridge(settings)
    await bridge.start()
    try:
        yield bridge, proxy
    finally:
        await bridge.stop()
        await proxy.close()


async def test_a_silent_ami_link_is_dropped_reconnected_and_resynced(
    proxied_bridge: tuple[Bridge, SilentLink], ami
) -> None:  # type: ignore[no-untyped-def]
    bridge, proxy = proxied_bridge
    client, _ = ami
    assert bridge.ami is not None and bridge.link is not None
    await asyncio.wait_for(bridge.link.resynced.wait(), 30)
    logins = bridge.ami.logins
    noticed: list[float] = []
    bridge.ami.on_disconnect(lambda: noticed.append(time.monotonic()))

    proxy.go_silent()
    silent_at = time.monotonic()
    # while nobody hears Asterisk, a caller joins a queue
    await place_queue_call(client, SimulatedCaller(CALLER, pause_s=0, hold_s=60), QUEUE)

    deadline = time.monotonic() + 90  # a wait, not a figure: the figure is logged below
    while not (bridge.ami.logins > logins and bridge.link.resynced.is_set()):
        assert time.monotonic() < deadline, "the silent link was never noticed"
        await asyncio.sleep(0.2)

    assert bridge.ami.silent_drops == 1  # noticed by the unanswered Ping, not by chance
    assert proxy.connections == 2  # it logged in again through the proxy
    assert CALLER in {v.caller_number for v in bridge.tracking.waiting()}
    log.warning("silent AMI link noticed after %.1f s", noticed[0] - silent_at)
    print(f"\nsilent AMI link noticed after {noticed[0] - silent_at:.1f} s")
