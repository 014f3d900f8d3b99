"""The loop every leased outbound caller runs (the callback dialer, the repair dispatcher).

Each round recovers expired leases, claims what is due in the database's serialised claim and
starts placing each claim; a round also runs at once when something is poked (a call ended, an
order was recorded) instead of waiting for the next poll. What a round claims and how a claim is
placed is the subclass's; starting, stopping, waking and the failed-round policy are
``ivr.services.background_loop``'s, shared with the watch and the webhook pusher.

The "can we place calls now" guard (AMI logged in) lives here, once: while it says no, a round
claims nothing and a claim waiting for its slot is not dialled, since each originate would fail
at once and use up an attempt (a customer's, or a crew's turn).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from ivr.services.background_loop import BackgroundLoop, RetryTiming

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 15.0  # longest pause between rounds while they keep failing


class _Claim(Protocol):
    @property
    def action_id(self) -> str: ...


ClaimT = TypeVar("ClaimT", bound=_Claim)


def bridge_identity() -> str:
    """Who holds a claim: host, pid and a random part (pids are reused after restarts)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedCallLoop(BackgroundLoop, Generic[ClaimT]):
    """The round loop (``BackgroundLoop``) with claims placed in their own tasks; subclasses
    give ``_recover``, ``_claim`` and ``_place`` (and ``_after_claims`` if a round does more).

    ``ready`` says whether calls can be placed now (AMI logged in)."""

    def __init__(
        self,
        *,
        task_name: str,
        round_name: str,
        placing_prefix: str,
        poll_interval_s: float,
        owner: str | None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(
            task_name=task_name,
            round_name=round_name,
            retry=RetryTiming(first_s=poll_interval_s * 2, max_s=MAX_BACKOFF_S),
        )
        self.owner = owner or bridge_identity()
        self._poll_interval_s = poll_interval_s
        self._placing_prefix = placing_prefix
        self._ready = ready
        self._placing: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        await super().stop()
        for task in list(self._placing):
            task.cancel()
        await asyncio.gather(*self._placing, return_exceptions=True)

    async def run_once(self) -> int:
        """One round: recover, then (only while calls can be placed) claim what is due and
        start placing it, then ``_after_claims``; returns how many were claimed."""
        await self._recover()
        claims = list(await self._claim()) if self._ready() else []
        self._start_placing(claims, self._placing_prefix)
        await self._after_claims()
        return len(claims)

    @abstractmethod
    async def _recover(self) -> None:
        """What a round does first, whether or not calls can be placed (expired leases)."""

    @abstractmethod
    async def _claim(self) -> Sequence[ClaimT]:
        """Claim what is due (only called while calls can be placed)."""

    async def _after_claims(self) -> None:
        """What a round does last, whether or not calls could be placed; nothing by default."""

    @abstractmethod
    async def _place(self, claim: ClaimT) -> None:
        """Dial one claim (in its own task; ``stop`` cancels it)."""

    async def _still_ready_at(self, slot: datetime, now: datetime, what: str) -> bool:
        """Wait for a claim's originate slot; False (and logged) if calls cannot be placed
        then: not dialled, the claim expires and recovery gives it back."""
        delay = (slot - now).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)  # the shared rate slot this claim was given
        if not self._ready():
            log.warning("%s: AMI down at its slot; claim left to expire", what)
            return False
        return True

    def _start_placing(self, claims: Iterable[ClaimT], task_prefix: str) -> None:
        for claim in claims:
            task = asyncio.create_task(self._place(claim), name=f"{task_prefix}-{claim.action_id}")
            self._placing.add(task)
            task.add_done_callback(self._placing.discard)

    async def _round(self) -> float:
        await self.run_once()
        return self._poll_interval_s
