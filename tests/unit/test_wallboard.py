"""The wallboard's pure rules: colours at their thresholds, one state per agent, labels in the
centre's language, thresholds checked when the settings are read, and the queue alarms of storm
days."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ivr.config import DashboardSettings
from ivr.domain.wallboard import (
    AgentFacts,
    AlarmFigure,
    BoardState,
    Level,
    QueueAlarm,
    QueueAlarmLimit,
    Threshold,
    WallboardRules,
    agent_state,
    level,
    queue_alarms,
    state_label,
)


def test_the_boundary_belongs_to_the_better_colour() -> None:
    assert level("service_level", 0.90) is Level.GREEN
    assert level("service_level", 0.8999) is Level.AMBER
    assert level("service_level", 0.80) is Level.AMBER
    assert level("service_level", 0.7999) is Level.RED
    assert level("service_level", None) is Level.NONE
    # lower is better
    assert level("abandon_rate", 0.05) is Level.GREEN
    assert level("abandon_rate", 0.0501) is Level.AMBER
    assert level("longest_wait_s", 61.0) is Level.RED
    assert level("longest_wait_s", 90.0, Threshold(120.0, 180.0)) is Level.GREEN


def facts(**given: object) -> AgentFacts:
    base: dict[str, object] = {
        "being_rung": False,
        "talking": False,
        "paused": False,
        "pause_reason": "",
        "device": "idle",
        "seconds_since_call_ended": None,
        "last_ring_missed_s_ago": None,
    }
    return AgentFacts(**{**base, **given})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "state"),
    [
        ({}, BoardState.IDLE),
        ({"being_rung": True}, BoardState.RINGING),
        ({"being_rung": True, "paused": True}, BoardState.RINGING),  # a ring is never hidden
        ({"device": "ringing"}, BoardState.RINGING),
        ({"talking": True}, BoardState.TALKING),
        ({"device": "in_call"}, BoardState.TALKING),
        ({"paused": True}, BoardState.PAUSED),
        ({"paused": True, "pause_reason": "话后处理"}, BoardState.AFTER_CALL_WORK),
        ({"device": "unavailable"}, BoardState.OFFLINE),
        ({"seconds_since_call_ended": 1.0}, BoardState.AFTER_CALL_WORK),
        ({"seconds_since_call_ended": 3.0}, BoardState.IDLE),
        ({"last_ring_missed_s_ago": 10.0}, BoardState.NOT_ANSWERING),
        ({"last_ring_missed_s_ago": 301.0}, BoardState.IDLE),
    ],
)
def test_one_state_per_agent_the_most_urgent_first(
    given: dict[str, object], state: BoardState
) -> None:
    assert agent_state(facts(**given), after_call_work_s=3, not_answering_s=300) is state


def test_labels_are_chinese_by_default_and_english_on_request() -> None:
    assert state_label(BoardState.RINGING, "zh") == "振铃中"
    assert state_label(BoardState.PAUSED, "zh", "午餐") == "暂停（午餐）"
    assert state_label(BoardState.NOT_ANSWERING, "en") == "not answering"
    assert DashboardSettings().language == "zh"


def test_thresholds_are_checked_when_the_settings_are_read() -> None:
    custom = DashboardSettings(thresholds={"service_level": {"green": 0.8, "amber": 0.7}})
    assert custom.rules().threshold("service_level") == Threshold(0.8, 0.7)
    assert custom.rules().threshold("abandon_rate") == Threshold(0.05, 0.10)  # the default
    with pytest.raises(ValidationError, match=r"green .* must be ≥ amber"):
        DashboardSettings(thresholds={"service_level": {"green": 0.7, "amber": 0.8}})
    with pytest.raises(ValidationError, match="no headline figure 'sl'"):
        DashboardSettings(thresholds={"sl": {"green": 0.9, "amber": 0.8}})
    with pytest.raises(ValidationError):
        DashboardSettings(language="fr")  # type: ignore[arg-type]


def test_a_queue_alarms_past_its_limit_never_at_it() -> None:
    limit = QueueAlarmLimit(service_level=0.80, waiting=5)
    alarms = queue_alarms(
        {"q-a": 0.80, "q-b": 0.7999, "q-c": None, "q-d": 0.95},
        {"q-a": 5, "q-c": 6, "q-d": 2, "q-e": 40},
        lambda _queue: limit,
    )
    assert alarms == [
        QueueAlarm("q-b", AlarmFigure.SERVICE_LEVEL, 0.7999, 0.80),
        QueueAlarm("q-c", AlarmFigure.WAITING, 6, 5),  # no call offered today: no SL alarm
        QueueAlarm("q-e", AlarmFigure.WAITING, 40, 5),  # waiting, with no figures yet
    ]


def test_a_queue_may_have_its_own_alarm_limits() -> None:
    rules = WallboardRules(
        queue_alarm=QueueAlarmLimit(0.80, 5), queue_alarms={"q-repair": QueueAlarmLimit(0.5, 50)}
    )
    alarms = queue_alarms({"q-repair": 0.6, "q-billing": 0.6}, {"q-repair": 30}, rules.alarm_limit)
    assert [(a.queue, a.figure) for a in alarms] == [("q-billing", AlarmFigure.SERVICE_LEVEL)]


def test_queue_alarm_limits_are_checked_when_the_settings_are_read() -> None:
    custom = DashboardSettings(
        queue_alarm={"service_level": 0.7, "waiting": 10},
        queue_alarms={"q-repair": {"service_level": 0.6, "waiting": 30}},
    )
    assert custom.rules().alarm_limit("q-billing") == QueueAlarmLimit(0.7, 10)
    assert custom.rules().alarm_limit("q-repair") == QueueAlarmLimit(0.6, 30)
    assert DashboardSettings().rules().alarm_limit("q-x") == QueueAlarmLimit(0.80, 5)
    with pytest.raises(ValidationError, match="not a queue name"):
        DashboardSettings(queue_alarms={"repair": {"service_level": 0.6, "waiting": 30}})
    with pytest.raises(ValidationError):
        DashboardSettings(queue_alarm={"service_level": 80, "waiting": 10})  # a fraction
    with pytest.raises(ValidationError):
        DashboardSettings(queue_alarm={"service_level": 0.8, "waiting": -1})
