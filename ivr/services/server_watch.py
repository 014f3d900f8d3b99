"""The server watch: this bridge's heartbeat, and closing what a lost server took with it.

Every bridge says it is alive (``asterisk.heartbeat_s``) while it can follow its Asterisk (AMI
logged in). When no bridge of some other server has been alive for ``asterisk.lost_after_s``
(its heartbeats stopped changing, timed on this bridge's clock: ``SilenceWatch``),
that Asterisk or all its bridges are gone: its open calls and queue visits are closed as
``lost`` with the reason, so the figures stop counting them as live, and the leases of its
unfinished outbound attempts are ended: any bridge's dialer or dispatcher recovers them at its
next round, exactly once, and places the work again through its own server
(``ivr.db.leases``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ivr.domain.servers import SilenceWatch
from ivr.ports import ServerRegister
from ivr.services.background_loop import BackgroundLoop, RetryTiming

log = logging.getLogger(__name__)


class ServerWatch(BackgroundLoop):
    def __init__(
        self,
        store: ServerRegister,
        owner: str,
        server: str,
        heartbeat_s: float,
        lost_after_s: float,
        clock: Callable[[], datetime],
        alive: Callable[[], bool],
    ) -> None:
        super().__init__(
            task_name="server-watch",
            round_name="server watch",
            retry=RetryTiming(first_s=heartbeat_s, max_s=max(heartbeat_s, 30.0)),
        )
        self._store = store
        self.owner = owner
        self._server = server
        self._heartbeat_s = heartbeat_s
        self._lost_after = timedelta(seconds=lost_after_s)
        self._silence = SilenceWatch(self._lost_after, server)
        self._clock = clock
        self._alive = alive  # can this bridge follow its Asterisk now?
        self._started_at = clock()

    async def _round(self) -> float:
        await self.run_once()
        return self._heartbeat_s

    async def run_once(self) -> list[str]:
        """Beat (if alive), then close every lost server's calls; the servers closed now."""
        if self._alive():
            await self._store.beat(self.owner, self._started_at)
        now = self._clock()
        closed = []
        lost = self._silence.lost(await self._store.heartbeats(), now)
        for server, newest in lost.items():
            counts = await self._store.close_lost_server(server, newest)
            if counts is None:
                continue  # another bridge did it, or the server came back
            closed.append(server)
            log.warning(
                "server %s lost (no bridge of it alive for %.0f s): %d calls and %d queue "
                "visits closed as lost; the leases of its outbound calls ended for recovery",
                server,
                self._lost_after.total_seconds(),
                *counts,
            )
        return closed

    async def leave(self) -> None:
        """Stopped on purpose: the heartbeat goes, so the server is not taken for lost."""
        await self.stop()
        await self._store.leave(self.owner)
