"""Provisional → exact: the pure rules. A complaint made on Monday 28 Dec 2026 reaches 2027,
which chinesecalendar 1.11 does not know (weekday rule, provisional); once a (MADE UP) 2027
schedule is known, the same computation as at creation gives the exact due time. Also which
alerts a moved due time still justifies, and the revision in alert keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr.calendar_cn import china_is_workday
from ivr.domain.alerts import AlertLevel
from ivr.domain.deadline_watch import (
    WarningPolicy,
    WatchedDeadline,
    alert_key,
    alerts_due,
    justified,
)
from ivr.domain.holidays import combined, parse_schedule
from ivr.domain.recompute import StoredDeadline, recompute
from ivr.domain.workdays import CHINA
from ivr.domain.workorders import CustomerClass, OrderKind, deadlines_for

MON_28_DEC = datetime(2026, 12, 28, 9, 0, tzinfo=CHINA)
# MADE UP 2027: Fri 1 Jan and Mon 4 Jan off, Sat 9 Jan worked (not the State Council's schedule)
FAKE = parse_schedule(
    {"2027": {"holidays": ["2027-01-01", "2027-01-04"], "workdays": ["2027-01-09"]}}
)
KNOWN = combined(FAKE, china_is_workday)


def stored(kind: OrderKind, cls: CustomerClass | None = None, met: set[str] | None = None):  # type: ignore[no-untyped-def]
    return [
        StoredDeadline(
            d.name,
            d.due_at,
            d.target_at,
            d.provisional,
            MON_28_DEC if d.name in (met or ()) else None,
        )
        for d in deadlines_for(kind, cls, MON_28_DEC, china_is_workday)
    ]


def test_provisional_complaint_deadlines_become_exact() -> None:
    before = {s.name: s for s in stored(OrderKind.COMPLAINT)}
    # Tue 29, Wed 30, Thu 31, Fri 1 (weekday rule), Mon 4: due 00:00 Tue 5 Jan, provisional
    assert before["reply"].due_at == datetime(2027, 1, 5, tzinfo=CHINA)
    assert before["reply"].provisional and not before["contact"].provisional
    changes = recompute(OrderKind.COMPLAINT, None, MON_28_DEC, list(before.values()), KNOWN)
    assert {c.name for c in changes} == {"reply", "callback"}  # contact (29 Dec) was exact
    reply = next(c for c in changes if c.name == "reply")
    # with the made-up 2027: Tue 29, Wed 30, Thu 31, Tue 5, Wed 6: due 00:00 Thu 7 Jan
    assert reply.old_due == datetime(2027, 1, 5, tzinfo=CHINA)
    assert reply.new_due == datetime(2027, 1, 7, tzinfo=CHINA)
    assert not reply.provisional
    # exactly what creating the order with the calendar known would have stored
    fresh = {d.name: d for d in deadlines_for(OrderKind.COMPLAINT, None, MON_28_DEC, KNOWN)}
    assert all(c.new_due == fresh[c.name].due_at for c in changes)
    assert reply.note() == (
        "reply due 2027-01-05 00:00 → 2027-01-07 00:00 (recomputed: calendar year now known; exact)"
    )


def test_met_exact_and_unchanged_deadlines_are_left_alone() -> None:
    met = stored(OrderKind.COMPLAINT, met={"reply"})
    assert [c.name for c in recompute(OrderKind.COMPLAINT, None, MON_28_DEC, met, KNOWN)] == [
        "callback"
    ]
    consultation = stored(OrderKind.CONSULTATION)  # 72 h wall clock: never provisional
    assert recompute(OrderKind.CONSULTATION, None, MON_28_DEC, consultation, KNOWN) == []
    # the year still unknown: the same answer, nothing to change
    same = stored(OrderKind.COMPLAINT)
    assert recompute(OrderKind.COMPLAINT, None, MON_28_DEC, same, china_is_workday) == []


def test_same_due_time_still_turns_exact() -> None:
    # a calendar where 2027 is plain Monday-Friday: the guess was right, the flag goes
    site = parse_schedule({"2027": {"holidays": ["2027-05-03"], "workdays": []}})  # made up
    plain = combined(site, china_is_workday)
    before = stored(OrderKind.COMPLAINT)
    [reply, _] = recompute(OrderKind.COMPLAINT, None, MON_28_DEC, before, plain)
    assert reply.old_due == reply.new_due and not reply.provisional
    assert "2027-01-05 00:00 → 2027-01-05 00:00" in reply.note()


def test_still_provisional_when_it_reaches_another_unknown_year() -> None:
    # created 20 Dec 2027 with only 2027 known: 30 working days reach 2028 (unknown)
    created = datetime(2027, 12, 20, 9, tzinfo=CHINA)
    cls = CustomerClass.HIGH_VOLTAGE_DUAL
    only_2026 = [
        StoredDeadline(d.name, d.due_at, d.target_at, d.provisional, None)
        for d in deadlines_for(OrderKind.BUSINESS, cls, created, china_is_workday)
    ]
    late_2027 = parse_schedule({"2027": {"holidays": ["2027-12-31"], "workdays": []}})  # made up
    known = combined(late_2027, china_is_workday)
    [change] = recompute(OrderKind.BUSINESS, cls, created, only_2026, known)
    assert change.new_due == change.old_due + timedelta(days=1)  # 31 Dec off: one day later
    assert change.provisional and "still provisional" in change.note()


def test_residential_connection_target_moves_too() -> None:
    cls = CustomerClass.RESIDENTIAL
    created = datetime(2026, 12, 30, 9, tzinfo=CHINA)
    before = [
        StoredDeadline(d.name, d.due_at, d.target_at, d.provisional, None)
        for d in deadlines_for(OrderKind.CONNECTION, cls, created, china_is_workday)
    ]
    [change] = recompute(OrderKind.CONNECTION, cls, created, before, KNOWN)
    # Thu 31, Tue 5 (target), Wed 6 (limit) with the made-up 2027
    assert change.new_target == datetime(2027, 1, 6, tzinfo=CHINA)
    assert change.new_due == datetime(2027, 1, 7, tzinfo=CHINA)
    assert change.old_target == datetime(2027, 1, 2, tzinfo=CHINA)  # Thu 31, Fri 1
    assert "target 2027-01-02 00:00 → 2027-01-06 00:00" in change.note()


POLICY = WarningPolicy()
NEW_DUE = datetime(2027, 1, 7, tzinfo=CHINA)


def moved(revision: int = 1) -> WatchedDeadline:
    return WatchedDeadline(
        1, "A1", "complaint", MON_28_DEC, "reply", NEW_DUE, False, revision=revision
    )


def test_which_alerts_a_moved_due_time_still_justifies() -> None:
    d = moved()  # warns 24 h before: 00:00 Wed 6 Jan
    before_warn = NEW_DUE - timedelta(hours=24, seconds=1)
    at_risk = NEW_DUE - timedelta(hours=24)
    assert not justified(d, AlertLevel.WARNING, before_warn, POLICY)
    assert not justified(d, AlertLevel.BREACH, before_warn, POLICY)
    assert justified(d, AlertLevel.WARNING, at_risk, POLICY)
    assert not justified(d, AlertLevel.BREACH, NEW_DUE - timedelta(seconds=1), POLICY)
    assert justified(d, AlertLevel.BREACH, NEW_DUE, POLICY)
    assert justified(d, AlertLevel.WARNING, NEW_DUE, POLICY)  # it was at risk: keep it


def test_recomputed_deadlines_alert_under_their_revision_key() -> None:
    assert alert_key(7, "reply", AlertLevel.WARNING) == "deadline:7:reply:warning"
    assert alert_key(7, "reply", AlertLevel.BREACH, 2) == "deadline:7:reply:breach:r2"
    [warning] = alerts_due([moved()], NEW_DUE - timedelta(hours=1), POLICY)
    assert warning.key == "deadline:1:reply:warning:r1"
    assert warning.details["revision"] == "1"
    [old] = alerts_due([moved(0)], NEW_DUE - timedelta(hours=1), POLICY)
    assert old.key == "deadline:1:reply:warning" and "revision" not in old.details
