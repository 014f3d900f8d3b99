"""The loop every leased outbound caller runs (the callback dialer, the repair dispatcher).

Each round recovers expired leases, claims what is due in the database's serialised claim and
starts placing each claim; a round also runs at once when something is poked (a call ended, an
order was recorded) instead of waiting for the next poll. What a round claims and how a claim is
placed is the subclass's; starting, stopping, waking and the failed-round policy are
``ivr.services.background_loop``'s, shared with the watch and the webhook pusher.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from abc import abstractmethod
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from ivr.services.background_loop import BackgroundLoop, RetryTiming

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
    give ``run_once`` and ``_place``."""

    def __init__(
        self, *, task_name: str, round_name: str, poll_interval_s: float, owner: str | None
    ) -> None:
        super().__init__(
            task_name=task_name,
            round_name=round_name,
            retry=RetryTiming(first_s=poll_interval_s * 2, max_s=MAX_BACKOFF_S),
        )
        self.owner = owner or bridge_identity()
        self._poll_interval_s = poll_interval_s
        self._placing: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        await super().stop()
        for task in list(self._placing):
            task.cancel()
        await asyncio.gather(*self._placing, return_exceptions=True)

    @abstractmethod
    async def run_once(self) -> int:
        """One round: recover, claim, start placing (``_start_placing``); returns claims."""

    @abstractmethod
    async def _place(self, claim: ClaimT) -> None:
        """Dial one claim (in its own task; ``stop`` cancels it)."""

    def _start_placing(self, claims: Iterable[ClaimT], task_prefix: str) -> None:
        for claim in claims:
            task = asyncio.create_task(self._place(claim), name=f"{task_prefix}-{claim.action_id}")
            self._placing.add(task)
            task.add_done_callback(self._placing.discard)

    async def _round(self) -> float:
        await self.run_once()
        return self._poll_interval_s
