"""The callback dialer: claims due attempts from the database and places them.

Any number of bridges may run it against one database. The limits are global because they live
in the claim (``CallbackStore.claim``): at most ``max_concurrent`` live attempts across every
bridge, and originate slots ``1 / rate_per_s`` apart. Results arrive as AMI events (any bridge
may record them) or from the conversation; a bridge that dies leaves leases that expire and are
recovered by the others, never dialled twice (see ``ivr.db.callbacks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.domain.callbacks import AttemptResult, Claim
from ivr.domain.privacy import mask_number
from ivr.ports import CallbackStore, Originator

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 15.0  # longest pause between dialer rounds while they keep failing


@dataclass(frozen=True, slots=True)
class DialerLimits:
    max_concurrent: int
    rate_per_s: float
    ring_timeout_s: float
    claim_lease_s: float
    poll_interval_s: float

    @property
    def originate_lease_s(self) -> float:
        """How long an originate may go without Asterisk's answer before it counts as lost."""
        return self.ring_timeout_s + 30.0


def bridge_identity() -> str:
    """Who holds a claim: host, pid and a random part (pids are reused after restarts)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dialer:
    def __init__(
        self,
        store: CallbackStore,
        originator: Originator,
        limits: DialerLimits,
        clock: Callable[[], datetime],
        owner: str | None = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._store = store
        self._originator = originator
        self._limits = limits
        self._clock = clock
        self._ready = ready  # can we place calls now (AMI logged in)?
        self.owner = owner or bridge_identity()
        self._placing: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="callback-dialer")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._placing):
            task.cancel()
        await asyncio.gather(*self._placing, return_exceptions=True)

    def poke(self) -> None:
        """Something finished or became due: look again now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Recover expired leases, claim what is due and start placing it; returns claims.

        Nothing is claimed while calls cannot be placed (AMI down): each claim would fail at
        once and use up one of the customer's attempts."""
        await self._store.recover()
        if not self._ready():
            return 0
        claims = await self._store.claim(
            self.owner,
            self._limits.max_concurrent,
            1.0 / self._limits.rate_per_s,
            self._limits.claim_lease_s,
            limit=self._limits.max_concurrent,
        )
        for claim in claims:
            task = asyncio.create_task(self._place(claim), name=f"originate-{claim.action_id}")
            self._placing.add(task)
            task.add_done_callback(self._placing.discard)
        return len(claims)

    async def _run(self) -> None:
        failures = 0
        while True:
            wait = self._limits.poll_interval_s
            try:
                await self.run_once()
                if failures:
                    log.warning("dialer rounds work again after %d failures", failures)
                failures = 0
            except Exception as exc:
                # the database (usually) is away: back off instead of spinning, log once in full
                failures += 1
                wait = min(MAX_BACKOFF_S, wait * 2**failures)
                if failures == 1:
                    log.exception("dialer round failed; retrying with backoff")
                else:
                    log.warning("dialer round failed again (%s); next in %.0f s", exc, wait)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _place(self, claim: Claim) -> None:
        delay = (claim.originate_at - self._clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)  # the shared rate slot this claim was given
        if not self._ready():
            # AMI went down meanwhile: an originate now would fail and count as an attempt.
            # Not dialled, the claim expires and its task is given back (``recover``).
            log.warning("callback %s: AMI down at its slot; claim left to expire", claim.action_id)
            return
        if not await self._store.start_originate(
            claim.action_id, self.owner, self._limits.originate_lease_s
        ):
            log.warning("claim %s was taken back before dialling; skipped", claim.action_id)
            return
        log.info("callback %s: dialling %s", claim.action_id, mask_number(claim.phone.digits))
        try:
            await self._originator.originate(claim)
        except Exception as exc:
            log.warning("callback %s: originate refused: %s", claim.action_id, exc)
            await self._store.originate_failed(
                claim.action_id, AttemptResult.FAILED, f"originate refused: {exc}"[:200]
            )
