"""The callback dialer: claims due attempts from the database and places them.

Any number of bridges may run it against one database. The limits are global because they live
in the claim (``CallbackStore.claim``): at most ``max_concurrent`` live attempts across every
bridge, and originate slots ``1 / rate_per_s`` apart. Results arrive as AMI events (any bridge
may record them) or from the conversation; a bridge that dies leaves leases that expire and are
recovered by the others, never dialled twice (see ``ivr.db.callback_store``). The round loop is
``ivr.services.leased_loop``, shared with the repair dispatcher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.domain.callbacks import AttemptResult, Claim
from ivr.domain.privacy import mask_number
from ivr.ports import CallbackStore, OriginateUnconfirmed, Originator
from ivr.services.leased_loop import LeasedCallLoop

log = logging.getLogger(__name__)


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


class Dialer(LeasedCallLoop[Claim]):
    def __init__(
        self,
        store: CallbackStore,
        originator: Originator,
        limits: DialerLimits,
        clock: Callable[[], datetime],
        owner: str | None = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(
            task_name="callback-dialer",
            round_name="dialer",
            placing_prefix="originate",
            poll_interval_s=limits.poll_interval_s,
            owner=owner,
            ready=ready,
        )
        self._store = store
        self._originator = originator
        self._limits = limits
        self._clock = clock

    async def _recover(self) -> None:
        await self._store.recover()

    async def _claim(self) -> list[Claim]:
        """What is due, each with its rate slot (a claim's task is given back by ``recover``
        if it is not dialled)."""
        return await self._store.claim(
            self.owner,
            self._limits.max_concurrent,
            1.0 / self._limits.rate_per_s,
            self._limits.claim_lease_s,
            limit=self._limits.max_concurrent,
        )

    async def _place(self, claim: Claim) -> None:
        if not await self._still_ready_at(
            claim.originate_at, self._clock(), f"callback {claim.action_id}"
        ):
            return
        if not await self._store.start_originate(
            claim.action_id, self.owner, self._limits.originate_lease_s
        ):
            log.warning("claim %s was taken back before dialling; skipped", claim.action_id)
            return
        log.info("callback %s: dialling %s", claim.action_id, mask_number(claim.phone.digits))
        try:
            await self._originator.originate(claim)
        except OriginateUnconfirmed as exc:
            log.warning(
                "callback %s: %s; left to Asterisk's answer or the lease", claim.action_id, exc
            )
            return
        except Exception as exc:
            log.warning("callback %s: originate refused: %s", claim.action_id, exc)
            await self._store.originate_failed(
                claim.action_id, AttemptResult.FAILED, f"originate refused: {exc}"[:200]
            )
