"""What we record of an inbound call: its steps through the menu and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class CallerHungUp(Exception):
    """The caller left (or Asterisk dropped the channel) while we were talking to it."""


class ChannelError(Exception):
    """Asterisk answered an AGI command with an error, or the AGI link broke."""


class CallOutcome(StrEnum):
    IN_MENU = "in_menu"  # still in the menu (live call, or the bridge died mid-call)
    ROUTED = "routed"  # handed to an agent queue
    ABANDONED_IN_MENU = "abandoned_in_menu"  # caller hung up before a route was chosen
    FAILED = "failed"  # the bridge failed; the dialplan sends the caller to the fallback queue
    LOST = "lost"  # ended unseen (dead bridge, link down) or cut by an Asterisk restart: resync


class StepKind(StrEnum):
    PROMPT = "prompt"  # a menu was offered
    KEY = "key"  # a valid key moved the caller on
    REPLAY = "replay"  # '*': the menu was read again
    BACK = "back"  # '#': back to the main menu
    INVALID = "invalid"  # a key the menu does not offer
    TIMEOUT = "timeout"  # no key within the time allowed
    DEFAULT = "default"  # retries exhausted: routed to the default queue
    ROUTE = "route"  # sent to a queue
    HANGUP = "hangup"  # caller hung up in the menu
    ERROR = "error"  # bridge-side fault
    SPEECH = "speech"  # the caller's spoken answer: detail says what was heard and meant


@dataclass(frozen=True, slots=True)
class CallStep:
    at: datetime
    kind: StepKind
    node: str | None = None
    key: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class CallRecord:
    """One inbound call as the bridge saw it. ``call_id`` is ours; ``unique_id`` is Asterisk's."""

    call_id: str
    unique_id: str
    caller_number: str
    dialed_number: str
    channel_name: str
    started_at: datetime
    outcome: CallOutcome = CallOutcome.IN_MENU
    ended_at: datetime | None = None
    route: str | None = None  # queue name
    choice: str | None = None  # the leaf option chosen, e.g. "repair.outage"
    menu_path: list[str] = field(default_factory=list)  # node ids in the order visited
    keys: str = ""  # every key pressed, in order, valid or not
    queue_status: str | None = None  # Asterisk's QUEUESTATUS after the queue, if any
    agent_interface: str | None = None  # the queue member who answered, if any
    outage_id: int | None = None  # the outage whose notice the caller heard
    informed: bool = False  # heard the notice and hung up: served by it (deflected)
    steps: list[CallStep] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CallEnd:
    """What the dialplan's hangup handler told us: when the call ended and who answered."""

    ended_at: datetime
    queue_status: str | None = None
    agent: str | None = None

    def merged(self, later: CallEnd) -> CallEnd:
        """Both reports in one, as the repository would store them: the earliest end, and a
        non-empty status or agent over an empty one."""
        return CallEnd(
            min(self.ended_at, later.ended_at),
            later.queue_status or self.queue_status,
            later.agent or self.agent,
        )


@dataclass(frozen=True, slots=True)
class SpooledCall:
    """An unwritten call kept outside the database (the journal's spool)."""

    call_id: str
    record: CallRecord | None
    end: CallEnd | None
