"""The workspace's standard rules: which order a menu choice suggests, the script reminders the
agent must say for each kind (the standard's promises and limits), the repeat-caller rule, and
how an agent's next deadline is marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ivr.domain import scripts
from ivr.domain.deadline_watch import WarningPolicy, WatchedDeadline
from ivr.domain.workorders import OrderKind
from ivr.domain.workspace import (
    HISTORY_WINDOW,
    REPEAT_WINDOW,
    PriorOrder,
    Urgency,
    history_order,
    is_repeat_caller,
    kind_for_choice,
    next_deadline,
)
from ivr.menu_file import load_menu

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("choice", "kind"),
    [
        ("repair.no_power", OrderKind.REPAIR),
        ("repair.hazard", OrderKind.REPAIR),
        ("repair.agent", OrderKind.REPAIR),
        ("complaint.report", OrderKind.REPORT),
        ("complaint.complaint", OrderKind.COMPLAINT),
        ("complaint.suggestion", OrderKind.SUGGESTION),
        ("billing.bill", OrderKind.CONSULTATION),
        ("business.new_connection", OrderKind.BUSINESS),
        ("business.other", OrderKind.CONSULTATION),
        ("billing.agent", None),
        ("agent", None),
        ("agent.default", None),
        (None, None),
        ("<script>", None),
    ],
)
def test_the_menu_choice_suggests_the_order_kind(choice: str | None, kind: OrderKind) -> None:
    assert kind_for_choice(choice) is kind


def test_every_choice_of_the_shipped_menu_is_mapped_or_left_to_the_agent() -> None:
    menu = load_menu(None)
    choices = {
        option.choice
        for node in menu.nodes.values()
        for option in node.options.values()
        if option.choice
    }
    assert "repair.no_power" in choices
    unmapped = {c for c in choices if kind_for_choice(c) is None}
    assert all(c == "agent" or c.endswith(".agent") for c in unmapped), unmapped


def test_a_complaint_is_thanked_passed_to_jianshenbu_within_a_day_and_answered_in_5_days() -> None:
    said = "".join(scripts.reminders("complaint"))
    assert "感谢" in said and "监审部" in said and "1天内" in said and "5个工作日" in said
    assert "回访" in said


@pytest.mark.parametrize(
    ("kind", "promise"),
    [
        ("repair", "回访"),
        ("repair", "5分钟"),
        ("consultation", "3天"),
        ("report", "10个工作日"),
        ("meter_test", "5个工作日"),
        ("meter_reading", "7个工作日"),
        ("connection", "5个工作日"),
        ("business", "3/7/15/30个工作日"),
    ],
)
def test_each_kind_promises_the_standards_limit(kind: str, promise: str) -> None:
    assert promise in "".join(scripts.reminders(kind))


def test_every_order_kind_has_reminders_and_an_unknown_kind_none() -> None:
    assert all(scripts.reminders(k.value) for k in OrderKind)
    assert scripts.reminders("nonsense") == ()


def order(no: str, status: str, age: timedelta, due_in: timedelta | None = None) -> PriorOrder:
    due = NOW + due_in if due_in is not None else None
    return PriorOrder(no, "repair", status, NOW - age, "停电", due)


def test_a_caller_with_an_order_in_the_last_7_days_is_a_repeat_caller() -> None:
    assert is_repeat_caller([order("A", "archived", REPEAT_WINDOW)], NOW)
    assert not is_repeat_caller([order("A", "archived", REPEAT_WINDOW + timedelta(seconds=1))], NOW)
    assert not is_repeat_caller([], NOW)


def test_a_caller_with_an_open_order_is_a_repeat_caller_however_old_it_is() -> None:
    assert is_repeat_caller([order("A", "in_progress", HISTORY_WINDOW)], NOW)
    assert not is_repeat_caller([order("A", "closed", timedelta(days=30))], NOW)


def test_the_history_shows_open_orders_first_soonest_deadline_first_then_newest() -> None:
    orders = [
        order("CLOSED_OLD", "archived", timedelta(days=40)),
        order("OPEN_LATE", "created", timedelta(days=1), timedelta(days=3)),
        order("CLOSED_NEW", "callback_done", timedelta(days=2)),
        order("OPEN_SOON", "dispatched", timedelta(days=5), timedelta(hours=1)),
    ]
    assert [o.order_no for o in history_order(orders)] == [
        "OPEN_SOON",
        "OPEN_LATE",
        "CLOSED_NEW",
        "CLOSED_OLD",
    ]


def deadline(
    name: str, created: datetime, due: datetime, met: datetime | None = None
) -> WatchedDeadline:
    return WatchedDeadline(1, "A", "complaint", created, name, due, False, met_at=met)


def test_the_next_deadline_is_the_earliest_unmet_one_marked_as_the_watch_would() -> None:
    policy = WarningPolicy()
    created = NOW - timedelta(hours=20)
    on_track = [deadline("reply", created, NOW + timedelta(days=5))]
    assert next_deadline(on_track, NOW, policy).urgency is Urgency.ON_TRACK  # type: ignore[union-attr]
    warning = [deadline("pass_on", created, NOW + timedelta(hours=4)), *on_track]
    found = next_deadline(warning, NOW, policy)
    assert found is not None and found.name == "pass_on" and found.urgency is Urgency.WARNING
    breached = [deadline("pass_on", created, NOW - timedelta(minutes=1)), *on_track]
    assert next_deadline(breached, NOW, policy).urgency is Urgency.BREACHED  # type: ignore[union-attr]
    met = [deadline("pass_on", created, NOW - timedelta(hours=1), met=NOW - timedelta(hours=2))]
    assert next_deadline(met, NOW, policy) is None
