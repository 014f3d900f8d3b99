"""Virtual hold (queue callback): who may keep their place, and whose turn it is to be called.

A caller offered the call-back who presses 1 keeps their place in the line: their original
arrival time. Their turn comes when nobody who arrived before them is still waiting in the
queue (everyone earlier has been answered or has left) and an agent of that queue is on duty
and not already held for another call-back. Then the bridge calls them and, once they answer,
puts them into the queue at the head (``position``), ahead of everyone who arrived after them:
never ahead of an earlier caller, never holding a later one back beyond their own turn, and
never more call-backs in flight than agents to take them.

Pure: the database adapter (``ivr.db.virtual_hold``) and the loop that places the calls
(``ivr.services.virtual_hold``) act on what these functions decide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ivr.domain.callbacks import AttemptResult, CallingWindow
from ivr.domain.phone import InvalidPhone, PhoneNumber

QUEUE_NAME = re.compile(r"^q-[a-z0-9-]{1,30}$")  # what the dialplan accepts, checked first
CALL_ID = re.compile(r"^[0-9a-f]{32}$")
KEEP_KEY = "1"  # the key that keeps the place
OFFER_KEYS = "12"
MAX_SPOKEN_MINUTES = 120  # a longer estimate is said as 超过两小时 (an estimate, not a promise)

KEPT_CONFIRM = "已为您保留排队位置，轮到您时我们将回电至您的来电号码，请挂机等候。"
CALLBACK_GREETING = (
    "您好，这里是95598供电服务热线，您预约的回电已到，正在为您接通客服代表，请稍候。"
)


class KeptState(StrEnum):
    """Where a kept place stands."""

    KEPT = "kept"  # waiting for its turn (or for its next attempt)
    CLAIMED = "claimed"  # a bridge took it this round; not dialled yet
    ORIGINATING = "originating"  # the customer's phone is ringing
    ANSWERED = "answered"  # the customer picked up and is at the head of the queue
    CONNECTED = "connected"  # an agent answered: the call-back did its job
    FAILED = "failed"  # not reached after the last attempt, or left before the agent
    CANCELLED = "cancelled"  # the number cannot be dialled (or a supervisor's decision)


IN_FLIGHT = (KeptState.CLAIMED, KeptState.ORIGINATING, KeptState.ANSWERED)
LEASED = ("claimed", "originating", "answered")  # the states that hold a lease
FINAL = (KeptState.CONNECTED, KeptState.FAILED, KeptState.CANCELLED)

# an unanswered call is tried again; an answered one that left before the agent is final
RETRIED = frozenset(
    {AttemptResult.NO_ANSWER, AttemptResult.BUSY, AttemptResult.FAILED, AttemptResult.MACHINE}
)


@dataclass(frozen=True, slots=True)
class QueueLine:
    """What the live tracker says of one queue now."""

    queue: str
    earliest_waiting: datetime | None  # arrival of the longest-waiting caller still in line
    on_duty: int  # agents logged in to the queue and not paused


@dataclass(frozen=True, slots=True)
class Candidate:
    """A kept place that is due (its next attempt's time has come), as the claim reads it."""

    id: int
    queue: str
    arrived_at: datetime


@dataclass(frozen=True, slots=True)
class KeptPlaceView:
    """One kept place as the dashboard lists it (the number already masked)."""

    id: int
    queue: str
    phone_masked: str
    arrived_at: datetime
    state: str
    attempts: int
    result: str | None


@dataclass(frozen=True, slots=True)
class Turn:
    """A kept place whose turn it is: call it, and queue the answered call at ``position``."""

    candidate: Candidate
    position: int


def turns(
    due: Iterable[Candidate],
    lines: Mapping[str, QueueLine],
    in_flight: Mapping[str, Iterable[datetime]],
    room: int,
) -> list[Turn]:
    """The kept places to call now, oldest arrival first, at most ``room`` in all.

    Per queue: a place is called only if nobody who arrived before it is still waiting in the
    line, and while the queue has fewer call-backs in flight than agents on duty. ``in_flight``
    holds the arrival times of the queue's call-backs already being placed; the answered call
    goes in behind those that arrived earlier (``position``)."""
    chosen: list[Turn] = []
    taken: dict[str, list[datetime]] = {q: sorted(a) for q, a in in_flight.items()}
    blocked: set[str] = set()
    for place in sorted(due, key=lambda c: (c.arrived_at, c.id)):
        if len(chosen) >= room:
            break
        line = lines.get(place.queue)
        if line is None or place.queue in blocked:
            continue
        busy = taken.setdefault(place.queue, [])
        if line.earliest_waiting is not None and line.earliest_waiting < place.arrived_at:
            blocked.add(place.queue)  # someone earlier is still waiting: later places wait too
            continue
        if len(busy) >= line.on_duty:
            blocked.add(place.queue)
            continue
        position = 1 + sum(1 for at in busy if at <= place.arrived_at)
        busy.append(place.arrived_at)
        chosen.append(Turn(place, position))
    return chosen


def callable_number(raw: str) -> PhoneNumber | None:
    """The caller's number as one we may dial back (``ivr.domain.phone``), with a country
    prefix (+86, 0086, 86) dropped; None when it is not a mainland number (withheld, foreign,
    malformed): such a caller is not offered the call-back."""
    for prefix in ("+86", "0086", "86", ""):
        if raw.startswith(prefix):
            try:
                return PhoneNumber(raw[len(prefix) :])
            except InvalidPhone:
                continue
    return None


def estimated_wait_s(ahead: int, on_duty: int, handle_s: float) -> float:
    """The wait of a caller joining behind ``ahead`` others (waiting callers and kept
    places): each agent on duty takes one call per ``handle_s`` on average. No agent on duty:
    as long as the whole line with one agent (the line does not move until one logs in)."""
    if ahead <= 0 and on_duty > 0:
        return 0.0
    return (ahead + 1) * handle_s / max(on_duty, 1)


def should_offer(
    estimate_s: float, threshold_s: float, window: CallingWindow, now: datetime
) -> bool:
    """Offer the call-back when the wait passes the threshold and the call-back would fall
    inside the calling hours (a place kept at 19:55 must not be called back at night)."""
    if estimate_s < threshold_s:
        return False
    return window.contains(now) and window.contains(now + timedelta(seconds=estimate_s))


def offer_text(estimate_s: float) -> str:
    """The offer, with the expected wait in whole minutes (at least one)."""
    minutes = max(1, math.ceil(estimate_s / 60))
    wait = "超过两小时" if minutes > MAX_SPOKEN_MINUTES else f"约{minutes}分钟"
    return (
        f"当前排队人数较多，预计等待时间{wait}。"
        "如需保留您的排队位置并挂机等候回电，请按1；继续等待请按2。"
    )


def position_text(position: int, estimate_s: float) -> str:
    """What a waiting caller is told of their place (the announcement in the queue)."""
    minutes = max(1, math.ceil(estimate_s / 60))
    return f"您前面还有{max(position - 1, 0)}位客户，预计等待时间约{minutes}分钟，请耐心等候。"


@dataclass(frozen=True, slots=True)
class CallBackRules:
    """The dialer's calling hours, and how often an unanswered call-back is tried again."""

    window: CallingWindow
    max_attempts: int = 2
    retry_spacing: timedelta = timedelta(seconds=60)

    def after_attempt(
        self, result: AttemptResult, attempt_no: int, now: datetime
    ) -> tuple[KeptState, datetime | None]:
        """Where a kept place goes after an attempt that did not reach an agent: tried again
        (its arrival, hence its place, unchanged) after the spacing, inside calling hours, or
        failed after the last attempt; answered and then gone before the agent is final."""
        if result in RETRIED and attempt_no < self.max_attempts:
            return KeptState.KEPT, self.window.next_open(now + self.retry_spacing)
        return KeptState.FAILED, None


@dataclass(frozen=True, slots=True)
class CallBackClaim:
    """One call-back a bridge claimed: dial ``phone`` at ``originate_at`` (the shared rate
    slot); the answered call joins ``queue`` at ``position``."""

    action_id: str
    phone: PhoneNumber
    originate_at: datetime
    queue: str
    position: int
    call_id: str | None = None


def counts_by_state(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Every state present, zero where there is none (for metrics and the dashboard)."""
    out = {state.value: 0 for state in KeptState}
    for state, count in rows:
        if state in out:
            out[state] += count
    return out


def texts(max_minutes: int = 10) -> set[str]:
    """The fixed texts, and the offers of the usual waits, rendered at start."""
    return {KEPT_CONFIRM, CALLBACK_GREETING} | {
        offer_text(m * 60) for m in range(1, max_minutes + 1)
    }
