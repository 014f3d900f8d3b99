"""The supervisors' wallboard, read at a distance: pure rules (docs/dashboard.md).

* **Headline figures** with a colour each: green, amber or red against thresholds the centre
  sets per figure (``[dashboard.thresholds]``). Whether higher is better is the figure's own
  nature, fixed here, not a setting.
* **An agent's live state**, one word, from what the call tracker and Asterisk know: ringing
  (a caller's ring to this agent is open now), talking, after-call work, paused (with the
  reason), not answering (their last ring went unanswered and nothing happened since), idle,
  offline.
* **Labels** in the centre's language: Chinese by default, English available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from ivr.domain.agents import AFTER_CALL_WORK_REASON

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")


class Level(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    NONE = "none"  # no value yet (no calls today)


@dataclass(frozen=True, slots=True)
class Threshold:
    """``green``: the value at which (or beyond which) the figure is green; ``amber`` the same
    for amber; past amber it is red. For a figure where higher is better, green ≥ amber; where
    lower is better, green ≤ amber."""

    green: float
    amber: float


@dataclass(frozen=True, slots=True)
class Headline:
    key: str
    higher_is_better: bool
    unit: Literal["ratio", "seconds", "count"]
    default: Threshold
    labels: dict[str, str]


HEADLINES: tuple[Headline, ...] = (
    Headline("service_level", True, "ratio", Threshold(0.90, 0.80),
             {"zh": "服务水平（15秒接通）", "en": "service level (answered ≤ 15 s)"}),
    Headline("abandon_rate", False, "ratio", Threshold(0.05, 0.10),
             {"zh": "放弃率", "en": "abandon rate"}),
    Headline("asa_s", False, "seconds", Threshold(15.0, 30.0),
             {"zh": "平均应答速度", "en": "average speed of answer"}),
    Headline("waiting", False, "count", Threshold(2, 5),
             {"zh": "排队等待", "en": "callers waiting"}),
    Headline("longest_wait_s", False, "seconds", Threshold(30.0, 60.0),
             {"zh": "最长等待", "en": "longest wait"}),
    Headline("ring_service_level", True, "ratio", Threshold(0.95, 0.85),
             {"zh": "振铃15秒接听率", "en": "rings answered ≤ 15 s"}),
)  # fmt: skip
HEADLINE_KEYS = frozenset(h.key for h in HEADLINES)
_BY_KEY = {h.key: h for h in HEADLINES}


class BadThreshold(ValueError):
    """A threshold for a figure the wallboard does not show, or the wrong way round."""


def check_threshold(key: str, threshold: Threshold) -> None:
    headline = _BY_KEY.get(key)
    if headline is None:
        raise BadThreshold(f"no headline figure {key!r}; one of {', '.join(sorted(HEADLINE_KEYS))}")
    if headline.higher_is_better and threshold.green < threshold.amber:
        raise BadThreshold(f"{key}: higher is better, so green ({threshold.green}) must be ≥ "
                           f"amber ({threshold.amber})")  # fmt: skip
    if not headline.higher_is_better and threshold.green > threshold.amber:
        raise BadThreshold(f"{key}: lower is better, so green ({threshold.green}) must be ≤ "
                           f"amber ({threshold.amber})")  # fmt: skip


def level(key: str, value: float | None, threshold: Threshold | None = None) -> Level:
    """The colour of ``value`` for the headline figure ``key`` (its default threshold unless
    one is given). The boundary belongs to the better colour: 90.0 % against green 0.90 is
    green."""
    headline = _BY_KEY[key]
    if value is None:
        return Level.NONE
    t = threshold or headline.default
    if headline.higher_is_better:
        return Level.GREEN if value >= t.green else Level.AMBER if value >= t.amber else Level.RED
    return Level.GREEN if value <= t.green else Level.AMBER if value <= t.amber else Level.RED


def headline_label(key: str, language: Language) -> str:
    return _BY_KEY[key].labels[language]


class BoardState(StrEnum):
    RINGING = "ringing"
    TALKING = "talking"
    AFTER_CALL_WORK = "after_call_work"
    PAUSED = "paused"
    NOT_ANSWERING = "not_answering"
    IDLE = "idle"
    OFFLINE = "offline"


STATE_LABELS: dict[BoardState, dict[str, str]] = {
    BoardState.RINGING: {"zh": "振铃中", "en": "ringing"},
    BoardState.TALKING: {"zh": "通话中", "en": "talking"},
    BoardState.AFTER_CALL_WORK: {"zh": "话后处理", "en": "after-call work"},
    BoardState.PAUSED: {"zh": "暂停", "en": "paused"},
    BoardState.NOT_ANSWERING: {"zh": "未接听", "en": "not answering"},
    BoardState.IDLE: {"zh": "空闲", "en": "idle"},
    BoardState.OFFLINE: {"zh": "离线", "en": "offline"},
}


def state_label(state: BoardState, language: Language, pause_reason: str = "") -> str:
    label = STATE_LABELS[state][language]
    if state is BoardState.PAUSED and pause_reason:
        return f"{label}（{pause_reason}）" if language == "zh" else f"{label} ({pause_reason})"
    return label


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What is known about one agent (one member interface) at one instant."""

    being_rung: bool  # an open ring of a waiting caller to this interface
    talking: bool  # a queue call this interface answered is connected
    paused: bool
    pause_reason: str
    device: str  # Asterisk's member state (``MemberState`` value)
    seconds_since_call_ended: float | None  # their last answered call's end; None: none seen
    last_ring_missed_s_ago: float | None  # their last finished ring was missed, this long ago


def agent_state(facts: AgentFacts, after_call_work_s: float, not_answering_s: float) -> BoardState:
    """One state, the most urgent first: a ring in progress is shown even for a paused agent
    (a ring that should not be there is exactly what a supervisor must see)."""
    if facts.being_rung or facts.device in ("ringing", "ringing_in_call"):
        return BoardState.RINGING
    if facts.talking or facts.device in ("in_call", "busy", "on_hold"):
        return BoardState.TALKING
    if facts.paused and facts.pause_reason == AFTER_CALL_WORK_REASON:
        return BoardState.AFTER_CALL_WORK  # the bridge's own wrap-up pause ([agents] wrapup_s)
    if facts.paused:
        return BoardState.PAUSED
    if facts.device in ("unavailable", "invalid"):
        return BoardState.OFFLINE
    ended = facts.seconds_since_call_ended
    if ended is not None and ended < after_call_work_s:
        return BoardState.AFTER_CALL_WORK
    missed = facts.last_ring_missed_s_ago
    if missed is not None and missed < not_answering_s:
        return BoardState.NOT_ANSWERING
    return BoardState.IDLE


# --- storm days: queue alarms ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueAlarmLimit:
    """When one queue raises an alarm: today's service level below ``service_level``, or more
    than ``waiting`` callers waiting now. The limit itself is still fine (the boundary belongs
    to the better side, like the headline colours)."""

    service_level: float = 0.80
    waiting: int = 5


class AlarmFigure(StrEnum):
    SERVICE_LEVEL = "service_level"
    WAITING = "waiting"


@dataclass(frozen=True, slots=True)
class QueueAlarm:
    queue: str
    figure: AlarmFigure
    value: float
    limit: float


def queue_alarms(
    service_levels: dict[str, float | None],
    waiting: dict[str, int],
    limit_for: Callable[[str], QueueAlarmLimit],
) -> list[QueueAlarm]:
    """Every queue past one of its limits, by queue then figure. A queue without a service
    level today (no call offered) raises no service-level alarm."""
    alarms: list[QueueAlarm] = []
    for queue in sorted(set(service_levels) | set(waiting)):
        limit = limit_for(queue)
        level_now = service_levels.get(queue)
        if level_now is not None and level_now < limit.service_level:
            alarms.append(
                QueueAlarm(queue, AlarmFigure.SERVICE_LEVEL, level_now, limit.service_level)
            )
        count = waiting.get(queue, 0)
        if count > limit.waiting:
            alarms.append(QueueAlarm(queue, AlarmFigure.WAITING, count, limit.waiting))
    return alarms


@dataclass(frozen=True, slots=True)
class WallboardRules:
    """The centre's choices for the wallboard (from ``[dashboard]``)."""

    language: Language = "zh"
    thresholds: dict[str, Threshold] | None = None  # None: every figure's default
    after_call_work_s: float = 3.0
    not_answering_s: float = 300.0
    queue_alarm: QueueAlarmLimit = field(default_factory=QueueAlarmLimit)
    queue_alarms: dict[str, QueueAlarmLimit] | None = None  # per queue; None: all the default

    def threshold(self, key: str) -> Threshold:
        given = (self.thresholds or {}).get(key)
        return given or _BY_KEY[key].default

    def alarm_limit(self, queue: str) -> QueueAlarmLimit:
        return (self.queue_alarms or {}).get(queue) or self.queue_alarm
