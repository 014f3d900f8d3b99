"""Virtual hold's pure rules: whose turn it is, the estimate, the offer, retries, numbers."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.domain.callbacks import AttemptResult, CallingWindow
from ivr.domain.virtual_hold import (
    CallBackRules,
    Candidate,
    KeptState,
    QueueLine,
    callable_number,
    counts_by_state,
    estimated_wait_s,
    offer_text,
    should_offer,
    turns,
)

T0 = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
ALL_DAY = CallingWindow(time(0, 0), time.max, ZoneInfo("Asia/Shanghai"))
DAYTIME = CallingWindow(time(8, 0), time(20, 0), ZoneInfo("Asia/Shanghai"))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def place(id_: int, arrived_s: float, queue: str = "q-repair") -> Candidate:
    return Candidate(id_, queue, at(arrived_s))


def line(earliest_s: float | None, on_duty: int, queue: str = "q-repair") -> QueueLine:
    return QueueLine(queue, None if earliest_s is None else at(earliest_s), on_duty)


def ids(chosen) -> list[int]:  # type: ignore[no-untyped-def]
    return [t.candidate.id for t in chosen]


def test_a_place_waits_while_someone_who_arrived_earlier_is_still_waiting() -> None:
    lines = {"q-repair": line(5, on_duty=3)}
    assert ids(turns([place(1, 10)], lines, {}, room=10)) == []
    # the earlier caller was answered: the one waiting now arrived after the place
    lines = {"q-repair": line(15, on_duty=3)}
    assert ids(turns([place(1, 10)], lines, {}, room=10)) == [1]


def test_places_go_in_arrival_order_and_a_later_one_never_passes_an_earlier_one() -> None:
    lines = {"q-repair": line(None, on_duty=2)}
    due = [place(3, 30), place(1, 10), place(2, 20)]
    chosen = turns(due, lines, {}, room=10)
    assert ids(chosen) == [1, 2]  # two agents on duty: two in flight
    assert [t.position for t in chosen] == [1, 2]
    # an earlier caller still waiting between the places holds back everyone after them
    lines = {"q-repair": line(15, on_duty=5)}
    assert ids(turns(due, lines, {}, room=10)) == [1]


def test_never_more_call_backs_in_flight_than_agents_on_duty() -> None:
    lines = {"q-repair": line(None, on_duty=1)}
    due = [place(i, i) for i in range(1, 6)]
    assert ids(turns(due, lines, {}, room=10)) == [1]
    assert ids(turns(due[1:], lines, {"q-repair": [at(1)]}, room=10)) == []
    assert ids(turns(due, {"q-repair": line(None, on_duty=0)}, {}, room=10)) == []


def test_the_answered_call_back_queues_behind_earlier_call_backs_in_flight() -> None:
    lines = {"q-repair": line(None, on_duty=3)}
    chosen = turns([place(2, 20)], lines, {"q-repair": [at(10)]}, room=10)
    assert [(t.candidate.id, t.position) for t in chosen] == [(2, 2)]
    chosen = turns([place(1, 5)], lines, {"q-repair": [at(10)]}, room=10)
    assert [(t.candidate.id, t.position) for t in chosen] == [(1, 1)]


def test_queues_are_apart_and_the_dialer_limit_is_global() -> None:
    lines = {"q-repair": line(None, 1, "q-repair"), "q-billing": line(None, 1, "q-billing")}
    due = [place(1, 10, "q-repair"), place(2, 11, "q-billing"), place(3, 12, "q-repair")]
    assert ids(turns(due, lines, {}, room=10)) == [1, 2]
    assert ids(turns(due, lines, {}, room=1)) == [1]
    assert ids(turns(due, {"q-billing": line(None, 1, "q-billing")}, {}, room=10)) == [2]


def test_the_estimate() -> None:
    assert estimated_wait_s(0, on_duty=2, handle_s=180) == 0
    assert estimated_wait_s(3, on_duty=2, handle_s=180) == 360
    assert estimated_wait_s(0, on_duty=0, handle_s=180) == 180  # nobody on duty: it waits


def test_the_offer_needs_the_threshold_and_calling_hours_for_the_call_back() -> None:
    assert should_offer(400, 300, DAYTIME, T0)
    assert not should_offer(200, 300, DAYTIME, T0)
    evening = datetime(2026, 12, 5, 11, 50, tzinfo=UTC)  # 19:50 in Shanghai
    assert not should_offer(1200, 300, DAYTIME, evening)  # the call-back would fall at 20:10
    assert should_offer(300, 300, DAYTIME, evening)
    assert should_offer(0, 0, ALL_DAY, T0)


def test_the_offer_says_whole_minutes() -> None:
    assert "约6分钟" in offer_text(360) and "请按1" in offer_text(360)
    assert "约1分钟" in offer_text(10)
    assert "超过两小时" in offer_text(3 * 3600)


def test_an_unanswered_call_back_is_tried_again_keeping_its_place_then_fails() -> None:
    rules = CallBackRules(DAYTIME, max_attempts=2, retry_spacing=timedelta(seconds=120))
    state, next_at = rules.after_attempt(AttemptResult.NO_ANSWER, 1, T0)
    assert (state, next_at) == (KeptState.KEPT, T0 + timedelta(seconds=120))
    assert rules.after_attempt(AttemptResult.BUSY, 2, T0) == (KeptState.FAILED, None)
    assert rules.after_attempt(AttemptResult.HUNG_UP, 1, T0) == (KeptState.FAILED, None)
    evening = datetime(2026, 12, 5, 11, 59, tzinfo=UTC)  # 19:59: the retry waits for 08:00
    _, morning = rules.after_attempt(AttemptResult.NO_ANSWER, 1, evening)
    assert morning is not None and morning.astimezone(DAYTIME.zone).hour == 8


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("13912345678", "13912345678"),
        ("+8613912345678", "13912345678"),
        ("008613912345678", "13912345678"),
        ("8613912345678", "13912345678"),
        ("02161234567", "02161234567"),
        ("", None),
        ("anonymous", None),
        ("12345", None),
        ("+14155550100", None),
    ],
)
def test_only_a_mainland_number_is_called_back(raw: str, digits: str | None) -> None:
    number = callable_number(raw)
    assert (number.digits if number else None) == digits


def test_counts_by_state_names_every_state() -> None:
    counts = counts_by_state([("kept", 2), ("connected", 1), ("bogus", 5)])
    assert counts["kept"] == 2 and counts["connected"] == 1 and counts["failed"] == 0
    assert "bogus" not in counts
