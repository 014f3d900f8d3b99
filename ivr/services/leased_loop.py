"""The loop every leased outbound caller runs (the callback dialer, the repair dispatcher).

Each round recovers expired leases, claims what is due in the database's serialised claim and
starts placing each claim; a round also runs at once when something is poked (a call ended, an
order was recorded) instead of waiting for the next poll. What a round claims and how a claim is
placed is the subclass's; starting, stopping, waking and the failed-round policy are here, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

MAX_BACKOFF_S = 15.0  # longest pause between rounds while they keep failing


class _Claim(Protocol):
    @property
    def action_id(self) -> str: ...


ClaimT = TypeVar("ClaimT", bound=_Claim)


def bridge_identity() -> str:
    """Who holds a claim: host, pid and a random part (pids are reused after restarts)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedCallLoop(ABC, Generic[ClaimT]):
    """Start/stop/poke and the round loop; subclasses give ``run_once`` and ``_place``."""

    def __init__(
        self, *, task_name: str, round_name: str, poll_interval_s: float, owner: str | None
    ) -> None:
        self.owner = owner or bridge_identity()
        self._task_name = task_name
        self._round_name = round_name  # "dialer", "dispatch": in the failed-round log line
        self._poll_interval_s = poll_interval_s
        # the subclass's module logger, so log lines keep the name they always had
        self._log = logging.getLogger(type(self).__module__)
        self._placing: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=self._task_name)

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

    async def _run(self) -> None:
        failures = 0
        while True:
            wait = self._poll_interval_s
            try:
                await self.run_once()
                if failures:
                    self._log.warning(
                        "%s rounds work again after %d failures", self._round_name, failures
                    )
                failures = 0
            except Exception as exc:
                # the database (usually) is away: back off instead of spinning, log once in full
                failures += 1
                wait = min(MAX_BACKOFF_S, wait * 2**failures)
                if failures == 1:
                    self._log.exception("%s round failed; retrying with backoff", self._round_name)
                else:
                    self._log.warning(
                        "%s round failed again (%s); next in %.0f s", self._round_name, exc, wait
                    )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
