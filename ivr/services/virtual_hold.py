"""Virtual hold (queue callback): the offer to callers about to wait long, and the loop that
calls kept places back when their turn comes.

``CallBackDesk`` answers the inbound flow from memory (the live tracker and a count of open
kept places refreshed every round): no database read before the offer. ``CallBackLoop`` is a
leased outbound loop like the 回访 dialer (``ivr.services.leased_loop``): any number of bridges
run it against one database; whose turn it is is decided in the serialised claim from what the
claiming bridge's tracker sees of the queues (``ivr.domain.virtual_hold.turns``), and each
claim is dialled by the bridge that still holds it, once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ivr.domain.agents import MemberState
from ivr.domain.callbacks import AttemptResult
from ivr.domain.privacy import mask_number
from ivr.domain.queue_calls import QueueEvent, QueueVisit, VisitOutcome
from ivr.domain.virtual_hold import (
    QUEUE_NAME,
    CallBackClaim,
    CallBackRules,
    QueueLine,
    callable_number,
    estimated_wait_s,
    offer_text,
    should_offer,
)
from ivr.ports import CallBackOriginator, KeptPlaceStore, OriginateUnconfirmed
from ivr.services.call_tracking import CallTracking
from ivr.services.dialer import DialerLimits
from ivr.services.leased_loop import LeasedCallLoop

log = logging.getLogger(__name__)

RECENT_TALKS = 50  # finished calls of a queue its handle time is averaged over
_OFF_DUTY = (MemberState.UNAVAILABLE, MemberState.INVALID)


class CallBackDesk:
    """What the inbound flow asks: is this caller offered the call-back, and keep their place.

    ``queues`` empty: every queue the menu routes to may offer it."""

    def __init__(
        self,
        store: KeptPlaceStore,
        tracking: CallTracking,
        rules: CallBackRules,
        threshold_s: float,
        handle_s: float,
        queues: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._tracking = tracking
        self._rules = rules
        self._threshold_s = threshold_s
        self._handle_s = handle_s
        self._queues = queues
        self._open: dict[str, int] = {}  # kept places not yet served, per queue
        # callers whose menu this bridge served, now waiting: unique id -> when (monotonic)
        self.handed_over: dict[str, float] = {}
        self.announcing = False  # a QueueAnnouncer reads ``handed_over``

    def waits(self, unique_id: str) -> None:
        if self.announcing and unique_id:
            self.handed_over[unique_id] = time.monotonic()

    def note_open(self, counts: dict[str, int]) -> None:
        self._open = dict(counts)

    def lines(self) -> dict[str, QueueLine]:
        """Each queue as the tracker sees it now: the oldest waiting caller, agents on duty."""
        earliest: dict[str, int] = {}
        for visit in self._tracking.waiting():
            if visit.queue not in earliest or visit.joined_us < earliest[visit.queue]:
                earliest[visit.queue] = visit.joined_us
        on_duty: dict[str, int] = defaultdict(int)
        for member in self._tracking.board.members.values():
            if not member.paused and member.state not in _OFF_DUTY:
                on_duty[member.queue] += 1
        return {
            queue: QueueLine(
                queue,
                datetime.fromtimestamp(earliest[queue] / 1e6, UTC) if queue in earliest else None,
                on_duty.get(queue, 0),
            )
            for queue in set(earliest) | set(on_duty)
        }

    def estimate_s(self, queue: str) -> float:
        """Expected wait of a caller joining ``queue`` now (``estimated_wait_s``)."""
        waiting = sum(1 for v in self._tracking.waiting() if v.queue == queue)
        return self.wait_for(queue, waiting + self._open.get(queue, 0))

    def wait_for(self, queue: str, ahead: int) -> float:
        """Expected wait of a caller with ``ahead`` others before them in ``queue``."""
        line = self.lines().get(queue)
        on_duty = line.on_duty if line is not None else 0
        return estimated_wait_s(ahead, on_duty, self._handle_time_s(queue))

    def offer(self, queue: str, caller_number: str, now: datetime) -> str | None:
        if self._queues and queue not in self._queues:
            return None
        if not QUEUE_NAME.match(queue) or callable_number(caller_number) is None:
            return None  # a withheld or foreign number cannot be called back
        estimate = self.estimate_s(queue)
        if not should_offer(estimate, self._threshold_s, self._rules.window, now):
            return None
        return offer_text(estimate)

    async def keep(
        self, queue: str, caller_number: str, call_id: str | None, arrived_at: datetime
    ) -> bool:
        phone = callable_number(caller_number)
        if phone is None or not QUEUE_NAME.match(queue):
            return False
        place = await self._store.keep(queue, phone, call_id, arrived_at)
        self._open[queue] = self._open.get(queue, 0) + 1
        log.info("place %d kept in %s for %s", place, queue, mask_number(phone.digits))
        return True

    def _handle_time_s(self, queue: str) -> float:
        talks = [
            v.talk_ms / 1000
            for v in self._tracking.recent()[-RECENT_TALKS * 4 :]
            if v.queue == queue and v.outcome is VisitOutcome.ANSWERED and v.talk_ms
        ][-RECENT_TALKS:]
        return sum(talks) / len(talks) if talks else self._handle_s


class CallBackLoop(LeasedCallLoop[CallBackClaim]):
    """Claims the call-backs whose turn it is and dials them (within the dialer's limits)."""

    def __init__(
        self,
        store: KeptPlaceStore,
        desk: CallBackDesk,
        originator: CallBackOriginator,
        limits: DialerLimits,
        clock: Callable[[], datetime],
        owner: str | None = None,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(
            task_name="call-back-loop",
            round_name="call-back",
            placing_prefix="call-back",
            poll_interval_s=limits.poll_interval_s,
            owner=owner,
            ready=ready,  # AMI logged in and the tracker resynced: the lines are true
        )
        self._store = store
        self._desk = desk
        self._originator = originator
        self._limits = limits
        self._clock = clock

    def tracker_changed(self, event: QueueEvent | None, visits: Sequence[QueueVisit]) -> None:
        """A caller left the line or an agent's state changed: someone's turn may have come."""
        if event is None or any(v.outcome is not VisitOutcome.WAITING for v in visits):
            self.poke()

    async def _recover(self) -> None:
        await self._store.recover()
        self._desk.note_open(await self._store.open_by_queue())

    async def _claim(self) -> list[CallBackClaim]:
        return await self._store.claim(
            self.owner,
            self._desk.lines(),
            self._limits.max_concurrent,
            1.0 / self._limits.rate_per_s,
            self._limits.claim_lease_s,
        )

    async def _place(self, claim: CallBackClaim) -> None:
        if not await self._still_ready_at(
            claim.originate_at, self._clock(), f"call-back {claim.action_id}"
        ):
            return
        if not await self._store.start_originate(
            claim.action_id, self.owner, self._limits.originate_lease_s
        ):
            log.warning("call-back %s was taken back before dialling; skipped", claim.action_id)
            return
        log.info(
            "call-back %s: dialling %s for %s (position %d)",
            claim.action_id,
            mask_number(claim.phone.digits),
            claim.queue,
            claim.position,
        )
        try:
            await self._originator.originate(claim)
        except OriginateUnconfirmed as exc:
            log.warning("call-back %s: %s; left to Asterisk or the lease", claim.action_id, exc)
        except Exception as exc:
            log.warning("call-back %s: originate refused: %s", claim.action_id, exc)
            await self._store.originate_failed(
                claim.action_id, AttemptResult.FAILED, f"originate refused: {exc}"[:200]
            )
