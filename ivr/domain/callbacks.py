"""Callback (回访) policy: who is called back, by when, at what hours, and how often we retry.

Pure: every function takes the clock's ``now`` and returns decisions; the scheduler and the
repository carry them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ivr.domain import scripts
from ivr.domain.phone import PhoneNumber
from ivr.domain.speech import Grammar, GrammarError, check_answers
from ivr.domain.workorders import CustomerClass, Deadline, OrderKind


class AttemptResult(StrEnum):
    """What one call attempt came to."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # congestion, no route, channel unavailable, lost (bridge died)
    MACHINE = "machine"  # answered, but nobody pressed anything (voicemail, silence)
    WRONG_PERSON = "wrong_person"
    HUNG_UP = "hung_up"  # the customer left mid-script
    # confirmed, but no valid answer to the satisfaction question, asked again ``reasks`` times
    NO_VALID_ANSWER = "no_valid_answer"
    COMPLETED = "completed"  # confirmed and answered the satisfaction question


class TaskState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt time
    ACTIVE = "active"  # an attempt is being dialled or is on the line
    DONE = "done"  # the customer was reached and answered
    NEEDS_HUMAN = "needs_human"  # retries exhausted, wrong person, hung up: an agent calls
    CANCELLED = "cancelled"  # do-not-call, or the order went away


RETRYABLE = frozenset(
    {
        AttemptResult.NO_ANSWER,
        AttemptResult.BUSY,
        AttemptResult.FAILED,
        AttemptResult.MACHINE,
        AttemptResult.NO_VALID_ANSWER,
    }
)


class CallbackOutcome(StrEnum):
    """How an order's 回访 ended: a recorded satisfaction, or the reason there is none.

    Every order that needs a 回访 ends with one of these (``None`` only while it is still owed:
    waiting for an attempt, or on the line).
    """

    SATISFIED = "satisfied"
    DISSATISFIED = "dissatisfied"  # 不满意 (or only 一般): a supervisor's follow-up is opened
    NO_VALID_ANSWER = "no_valid_answer"  # reached, never a valid answer, after the last attempt
    REFUSED = "refused"  # hung up before answering the satisfaction question
    UNREACHABLE = "unreachable"  # not reached after the last attempt, wrong person, bad number
    DO_NOT_CALL = "do_not_call"  # the customer's number is on the do-not-call list


def outcome_of(
    state: TaskState, result: str | None, satisfied: bool | None
) -> CallbackOutcome | None:
    """The outcome of a callback task in ``state`` after ``result`` (None: still owed)."""
    if state is TaskState.DONE:
        if satisfied is None:  # a completed call always carries the answer; older rows may not
            return CallbackOutcome.NO_VALID_ANSWER
        return CallbackOutcome.SATISFIED if satisfied else CallbackOutcome.DISSATISFIED
    if state is TaskState.CANCELLED:
        return CallbackOutcome.DO_NOT_CALL
    if state is TaskState.NEEDS_HUMAN:
        if result == AttemptResult.NO_VALID_ANSWER.value:
            return CallbackOutcome.NO_VALID_ANSWER
        if result == AttemptResult.HUNG_UP.value:
            return CallbackOutcome.REFUSED
        return CallbackOutcome.UNREACHABLE
    return None


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Hours in which customers may be called, local time (no calls at night)."""

    start: time = time(8, 0)
    end: time = time(20, 0)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("the calling window must start before it ends (same day)")

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone).time()
        return self.start <= local < self.end

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if calls are allowed then, else the next opening of the window."""
        if self.contains(moment):
            return moment
        local = moment.astimezone(self.zone)
        day = local.date() if local.time() < self.start else local.date() + timedelta(days=1)
        opening = datetime.combine(day, self.start, tzinfo=self.zone)
        return opening.astimezone(moment.tzinfo)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    spacing: tuple[timedelta, ...] = (timedelta(minutes=30), timedelta(hours=2))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.spacing or any(s < timedelta(0) for s in self.spacing):
            raise ValueError("spacing needs at least one non-negative interval")

    def gap_after(self, attempts_made: int) -> timedelta:
        """Wait after the n-th failed attempt (the last interval repeats)."""
        return self.spacing[min(attempts_made - 1, len(self.spacing) - 1)]


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    window: CallingWindow = CallingWindow()
    retry: RetryPolicy = RetryPolicy()
    after_close: timedelta = timedelta(hours=24)  # repairs, high-voltage applications

    def callback_due(
        self,
        kind: OrderKind,
        customer_class: CustomerClass | None,
        closed_at: datetime,
        deadlines: list[Deadline],
    ) -> datetime | None:
        """When the callback must be done by, or ``None`` if this order gets none.

        Complaints and reports carry their own ``callback`` limit from creation; repairs and
        high-voltage applications are called within ``after_close`` of closing.
        """
        if kind in (OrderKind.COMPLAINT, OrderKind.REPORT):
            return next(d.due_at for d in deadlines if d.name == "callback")
        if kind is OrderKind.REPAIR or (
            kind is OrderKind.BUSINESS
            and customer_class is not None
            and customer_class.high_voltage
        ):
            return closed_at + self.after_close
        return None

    def first_attempt_at(self, closed_at: datetime) -> datetime:
        return self.window.next_open(closed_at)

    def after_attempt(
        self, result: AttemptResult, attempts_made: int, now: datetime
    ) -> tuple[TaskState, datetime | None]:
        """The task's next state and, if it is to be called again, when."""
        if result is AttemptResult.COMPLETED:
            return TaskState.DONE, None
        if result in RETRYABLE and attempts_made < self.retry.max_attempts:
            return TaskState.PENDING, self.window.next_open(
                now + self.retry.gap_after(attempts_made)
            )
        return TaskState.NEEDS_HUMAN, None


TITLES = ("先生", "女士")  # how the script addresses the customer: 王先生 / 王女士


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt this bridge may place: dial ``phone`` no earlier than ``originate_at``."""

    action_id: str  # also the AMI ActionID; every bridge can match events to the attempt
    phone: PhoneNumber
    originate_at: datetime


@dataclass(frozen=True, slots=True)
class CallbackContext:
    """What the script needs to address the customer."""

    order_no: str
    kind: OrderKind
    surname: str
    title: str
    job_number: str


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the callback conversation came to (written back into the work order)."""

    result: AttemptResult
    right_person: bool | None = None
    power_restored: bool | None = None
    satisfied: bool | None = None
    suggestion_path: str | None = None
    detail: str | None = None


# AMI OriginateResponse "Reason" codes (Asterisk's AST_CONTROL_* values for the outcome).
_ORIGINATE_REASONS = {
    3: AttemptResult.NO_ANSWER,  # rang out
    5: AttemptResult.BUSY,
    8: AttemptResult.FAILED,  # congestion
    0: AttemptResult.FAILED,  # no such channel / could not dial
    1: AttemptResult.NO_ANSWER,  # hung up before answer
}


def result_of_originate_failure(reason: str | int | None) -> AttemptResult:
    try:
        return _ORIGINATE_REASONS.get(int(reason or 0), AttemptResult.FAILED)
    except ValueError:
        return AttemptResult.FAILED


def script_greeting(ctx: CallbackContext) -> str:
    """The standard callback opening (docs/standard.md), with the keys to answer."""
    opening = scripts.callback_opening(ctx.job_number, f"{ctx.surname}{ctx.title}")
    return opening + "是请按1，不是请按2。"


SCRIPT_POWER = "您那里的故障我们已经修复完毕，请问您用电正常了吗？正常请按1，不正常请按2。"
SCRIPT_SATISFIED = "请问您对我们的处理结果满意吗？满意请按1，不满意请按2。"
SCRIPT_SUGGESTION = (
    "欢迎您对我们的工作提出建议。需要留言请按1，在提示音后说话，说完请按井号键；不需要请按2。"
)
SCRIPT_THANKS = "您的建议我们已经记录。"
SCRIPT_GOODBYE = "感谢您的接听，再见。"
SCRIPT_WRONG_PERSON = "对不起，打扰您了，再见。"
SCRIPT_REPEAT = "对不起，没有听清您的回答。"
SCRIPTS = (
    SCRIPT_POWER,
    SCRIPT_SATISFIED,
    SCRIPT_SUGGESTION,
    SCRIPT_THANKS,
    SCRIPT_GOODBYE,
    SCRIPT_WRONG_PERSON,
    SCRIPT_REPEAT,
)


# --- spoken answers -------------------------------------------------------------------------
# With speech on, each question of the 回访 listens with one of the shipped grammars
# (grammars/answers.toml); a key means the same as its word.
YES_NO_GRAMMAR = "repair_fixed"  # 是 / 正常 / 不是 / 不正常 …: the person, and the power question
SATISFACTION_GRAMMAR = "satisfaction"  # 满意 / 一般 / 不满意
YES, NO = "yes", "no"
SATISFIED, NEUTRAL, UNSATISFIED = "satisfied", "neutral", "unsatisfied"
YES_NO_KEYS = {"1": YES, "2": NO}
SATISFACTION_KEYS = {"1": SATISFIED, "2": UNSATISFIED}
GRAMMAR_ANSWERS = {
    YES_NO_GRAMMAR: (YES, NO),
    SATISFACTION_GRAMMAR: (SATISFIED, NEUTRAL, UNSATISFIED),
}


def check_grammars(grammars: Mapping[str, Grammar]) -> None:
    """The grammars the 回访 listens with exist and answer only what its questions expect (a
    start-up error, not a call's)."""
    for name, allowed in GRAMMAR_ANSWERS.items():
        grammar = grammars.get(name)
        if grammar is None:
            raise GrammarError(f"the 回访 listens with grammar {name!r}, which is not loaded")
        check_answers(grammar, allowed, "回访")


def is_satisfied(answer: str) -> bool:
    """Only 满意 counts as satisfied; 一般 is valid but not satisfied (a follow-up asks why)."""
    return answer == SATISFIED
