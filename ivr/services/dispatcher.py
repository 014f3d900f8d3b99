"""The repair dispatcher: calls the crew on duty for every recorded repair order, and raises an
alert when the 5-minute dispatch limit is at risk.

Any number of bridges may run it against one database: whom to call is decided inside the
database's serialised claim round (``DispatchStore.claim``), so a crew is never rung twice for
one call, and a bridge that dies leaves leases that the others recover. Results come back as
AMI events (no answer, busy) or from the conversation (accepted, no key, hung up); each one
wakes the dispatcher, so the next crew is rung at once. The round loop is
``ivr.services.leased_loop``, shared with the callback dialer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ivr.domain.alerts import Alert, AlertLevel
from ivr.domain.deadline_watch import alert_key
from ivr.domain.dispatch import AtRisk, CallResult, DispatchClaim
from ivr.domain.privacy import mask_number
from ivr.ports import AlertSink, DispatchOriginator, DispatchStore, OriginateUnconfirmed
from ivr.services.leased_loop import LeasedCallLoop

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatcherLimits:
    poll_interval_s: float = 1.0
    claim_lease_s: float = 15.0
    max_claims: int = 20  # calls started per round (one live call per order in any case)


def at_risk_alert(risk: AtRisk, now: datetime) -> Alert:
    """One alert per order, ever, whatever the reason it was first raised for. The key is the
    time-limit watch's warning for the same ``dispatch`` deadline, so whichever of the two sees
    the risk first raises it and the other is a no-op: supervisors get one warning, not two."""
    return Alert(
        key=alert_key(risk.order_id, "dispatch", AlertLevel.WARNING),
        level=AlertLevel.WARNING,
        kind="dispatch",
        message=f"repair order {risk.order_no}: dispatch limit at risk ({risk.reason})",
        raised_at=now,
        order_id=risk.order_id,
        order_no=risk.order_no,
        deadline="dispatch",
        due_at=risk.due_at,
        details={"reason": risk.reason},
    )


class Dispatcher(LeasedCallLoop[DispatchClaim]):
    def __init__(
        self,
        store: DispatchStore,
        originator: DispatchOriginator,
        alerts: AlertSink,
        limits: DispatcherLimits,
        clock: Callable[[], datetime],
        owner: str | None = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(
            task_name="repair-dispatcher",
            round_name="dispatch",
            placing_prefix="dispatch",
            poll_interval_s=limits.poll_interval_s,
            owner=owner,
            ready=ready,
        )
        self._store = store
        self._originator = originator
        self._alerts = alerts
        self._limits = limits
        self._clock = clock

    async def _recover(self) -> None:
        await self._store.recover()

    async def _claim(self) -> list[DispatchClaim]:
        return await self._store.claim(
            self.owner, self._limits.claim_lease_s, self._limits.max_claims
        )

    async def _after_claims(self) -> None:
        """Raise the at-risk alerts, even while calls cannot be placed (AMI down), so an
        outage that eats a job's 5 minutes is reported."""
        for risk in await self._store.at_risk():
            if await self._alerts.raise_alert(at_risk_alert(risk, self._clock())):
                log.warning("dispatch of order %s at risk: %s", risk.order_no, risk.reason)
            await self._store.alerted(risk.job_id)

    async def _place(self, claim: DispatchClaim) -> None:
        lease = claim.ring_timeout_s + 30.0  # Asterisk answers every originate within its ring
        if not await self._store.start_originate(claim.action_id, self.owner, lease):
            log.warning("dispatch claim %s was taken back before dialling", claim.action_id)
            return
        log.info(
            "order %s: calling %s %s (ring %d s)",
            claim.order_no,
            claim.target.value,
            mask_number(claim.phone.digits),
            claim.ring_timeout_s,
        )
        try:
            await self._originator.originate(claim)
        except OriginateUnconfirmed as exc:
            log.warning(
                "dispatch %s: %s; left to Asterisk's answer or the lease", claim.action_id, exc
            )
            return
        except Exception as exc:
            log.warning("dispatch %s: originate refused: %s", claim.action_id, exc)
            await self._store.finish(
                claim.action_id, CallResult.FAILED, f"originate refused: {exc}"[:200]
            )
            self.poke()
