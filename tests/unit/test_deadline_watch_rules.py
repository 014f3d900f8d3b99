"""The time-limit watch's pure rules on a hand-built set of deadlines: warning and breach
moments, targets, deadlines met in time or late, provisional flags, and the next wake-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.domain.alert_push import Backoff, OutboxItem, body_of, sign, verify
from ivr.domain.alerts import AlertLevel
from ivr.domain.deadline_watch import (
    DeadlineState,
    WarningPolicy,
    WatchedDeadline,
    Window,
    alerts_due,
    next_moment,
    state_of,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Beijing
POLICY = WarningPolicy()  # 25 % of the window, 2 min .. 24 h; dispatch 2 min


def deadline(name: str, due: timedelta, **kw: object) -> WatchedDeadline:
    base: dict[str, object] = dict(
        order_id=7, order_no="ABCDEF0123456789ABCD", order_kind="repair", created_at=T0,
        name=name, due_at=T0 + due, provisional=False,
    )  # fmt: skip
    base.update(kw)
    return WatchedDeadline(**base)  # type: ignore[arg-type]


DISPATCH = deadline("dispatch", timedelta(minutes=5))
REPLY_72H = deadline("reply", timedelta(hours=72), order_kind="consultation", order_id=8)
PASS_ON = deadline("pass_on", timedelta(hours=24), order_kind="complaint", order_id=9)
CONNECTION = deadline(
    "connection", timedelta(days=3), order_kind="connection", order_id=10,
    target_at=T0 + timedelta(days=2),
)  # fmt: skip


def test_warning_moments_from_lead_fraction_minimum_maximum_and_target() -> None:
    assert POLICY.warn_at(DISPATCH) == T0 + timedelta(minutes=3)  # configured 2 min lead
    assert POLICY.warn_at(PASS_ON) == T0 + timedelta(hours=18)  # 25 % of 24 h
    assert POLICY.warn_at(REPLY_72H) == T0 + timedelta(hours=54)  # 25 % of 72 h = 18 h
    assert POLICY.warn_at(CONNECTION) == T0 + timedelta(days=2)  # the target
    long = deadline("supply_plan_reply", timedelta(days=42))
    assert POLICY.warn_at(long) == long.due_at - timedelta(hours=24)  # capped at max_lead
    short = deadline("other", timedelta(minutes=4))
    assert POLICY.warn_at(short) == T0 + timedelta(minutes=2)  # min_lead beats 25 % of 4 min
    tiny = deadline("other", timedelta(minutes=1))
    assert POLICY.warn_at(tiny) == T0  # never before the order existed
    custom = WarningPolicy(lead_fraction=0.5, leads={})
    assert custom.warn_at(DISPATCH) == T0 + timedelta(seconds=150)


def test_dispatch_warns_at_three_minutes_then_breaches_at_five() -> None:
    assert alerts_due([DISPATCH], T0 + timedelta(seconds=179), POLICY) == []
    [warning] = alerts_due([DISPATCH], T0 + timedelta(minutes=3), POLICY)
    assert warning.level is AlertLevel.WARNING
    assert warning.key == "deadline:7:dispatch:warning"
    assert warning.deadline == "dispatch" and warning.due_at == DISPATCH.due_at
    assert "due in 2 min" in warning.message and "ABCDEF0123456789ABCD" in warning.message
    assert warning.details["provisional"] == "false"
    warned = deadline("dispatch", timedelta(minutes=5), warned=True)
    assert alerts_due([warned], T0 + timedelta(minutes=4), POLICY) == []  # once
    [breach] = alerts_due([warned], T0 + timedelta(minutes=5), POLICY)
    assert breach.level is AlertLevel.BREACH and breach.key == "deadline:7:dispatch:breach"
    assert "overdue by 0 s" in breach.message
    breached = deadline("dispatch", timedelta(minutes=5), warned=True, breached=True)
    assert alerts_due([breached], T0 + timedelta(hours=1), POLICY) == []


def test_a_watch_that_first_looks_after_the_limit_raises_only_the_breach() -> None:
    [breach] = alerts_due([DISPATCH], T0 + timedelta(minutes=7), POLICY)
    assert breach.level is AlertLevel.BREACH and "overdue by 2 min" in breach.message


def test_met_in_time_raises_nothing_met_late_raises_one_breach() -> None:
    met = deadline("dispatch", timedelta(minutes=5), met_at=T0 + timedelta(minutes=4))
    assert state_of(met, T0 + timedelta(minutes=10), POLICY) is DeadlineState.MET
    assert alerts_due([met], T0 + timedelta(minutes=10), POLICY) == []
    late = deadline("dispatch", timedelta(minutes=5), met_at=T0 + timedelta(minutes=6, seconds=30))
    assert state_of(late, T0 + timedelta(minutes=10), POLICY) is DeadlineState.MET_LATE
    [breach] = alerts_due([late], T0 + timedelta(minutes=10), POLICY)
    assert breach.level is AlertLevel.BREACH and "met 1 min late" in breach.message
    assert breach.details["late_by_s"] == "90"
    # met late but the breach was already raised while it was overdue: nothing more
    seen = deadline(
        "dispatch", timedelta(minutes=5), met_at=T0 + timedelta(minutes=6), breached=True
    )
    assert alerts_due([seen], T0 + timedelta(minutes=10), POLICY) == []


def test_target_passed_is_the_warning_and_only_the_limit_is_a_breach() -> None:
    day = timedelta(days=1)
    assert state_of(CONNECTION, T0 + 2 * day - timedelta(seconds=1), POLICY) is (
        DeadlineState.ON_TRACK
    )
    [warning] = alerts_due([CONNECTION], T0 + 2 * day, POLICY)
    assert warning.level is AlertLevel.WARNING and "target passed" in warning.message
    assert warning.details["target_at"] == CONNECTION.target_at.isoformat()  # type: ignore[union-attr]
    assert state_of(CONNECTION, T0 + 3 * day, POLICY) is DeadlineState.OVERDUE


def test_provisional_deadlines_are_flagged_in_the_alert() -> None:
    guess = deadline("reply", timedelta(hours=72), provisional=True, order_kind="report")
    [warning] = alerts_due([guess], T0 + timedelta(hours=60), POLICY)
    assert warning.details["provisional"] == "true"
    assert "provisional" in warning.message


def test_next_moment_is_the_earliest_future_warning_or_limit() -> None:
    both = [DISPATCH, PASS_ON, CONNECTION]
    assert next_moment(both, T0, POLICY) == T0 + timedelta(minutes=3)
    at_warning = T0 + timedelta(minutes=3)
    assert next_moment(both, at_warning, POLICY) == T0 + timedelta(minutes=5)
    warned = deadline("dispatch", timedelta(minutes=5), warned=True)
    assert next_moment([warned, PASS_ON], T0, POLICY) == T0 + timedelta(minutes=5)
    met = deadline("dispatch", timedelta(minutes=5), met_at=T0)
    assert next_moment([met], T0, POLICY) is None
    assert next_moment([], T0, POLICY) is None


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        WarningPolicy(lead_fraction=1.5)
    with pytest.raises(ValueError):
        WarningPolicy(min_lead=timedelta(hours=2), max_lead=timedelta(hours=1))


def test_signature_and_backoff() -> None:
    item = OutboxItem(1, "deadline:7:dispatch:breach", 1, {"key": "k", "message": "逾期"})
    body = body_of(item)
    signature = sign(b"s3cret", 1700000000, body)
    now = 1700000000 + 10
    assert verify(b"s3cret", "1700000000", body, signature, now=now)
    assert not verify(b"other", "1700000000", body, signature, now=now)
    assert not verify(b"s3cret", "1700000001", body, signature, now=now)
    assert not verify(b"s3cret", "1700000000", body + b" ", signature, now=now)
    # a replay: the same signed request, presented outside the window either way
    assert verify(b"s3cret", "1700000000", body, signature, now=1700000000 + 300)
    assert not verify(b"s3cret", "1700000000", body, signature, now=1700000000 + 301)
    assert not verify(b"s3cret", "1700000000", body, signature, now=1700000000 - 301)
    assert not verify(b"s3cret", "+1700000000", body, signature, now=now)
    assert not verify(b"s3cret", "1" * 40, body, signature, now=now)
    backoff = Backoff(timedelta(seconds=2), 2.0, timedelta(seconds=30))
    assert [backoff.after(n).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == [2, 4, 8, 16, 30, 30]


def test_the_read_window_covers_every_moment_before_the_next_look() -> None:
    window = Window.ahead(T0, timedelta(seconds=30), POLICY)
    assert window.at == T0 + timedelta(seconds=30)
    assert window.due_by == window.at + timedelta(hours=24)  # max_lead is the longest lead
    assert WarningPolicy(leads={"x": timedelta(days=3)}).longest_lead == timedelta(days=3)
    # a deadline outside the window has both its moments after window.at
    outside = deadline("reply", timedelta(hours=24, seconds=31))
    assert outside.due_at > window.due_by and POLICY.warn_at(outside) > window.at
