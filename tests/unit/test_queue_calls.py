"""The queue call tracker (pure state machine) and the AMI event parser in front of it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.asterisk.ami_events import MalformedEvent, parse_member, parse_queue_event, timestamp_us
from ivr.domain import queue_calls as q
from ivr.domain.agents import Agent, AgentRoster, MemberState, greeting_text
from ivr.domain.queue_calls import QueueCallTracker, RingEnd, VisitOutcome

S = 1_000_000  # microseconds
A, B = "Local/1001@sim-agents/n", "Local/1002@sim-agents/n"


def run(tracker: QueueCallTracker, *events: q.QueueEvent) -> list[q.QueueVisit]:
    finished = []
    for event in events:
        finished += tracker.handle(event).finished
    return finished


def test_answer_after_a_ring_out_measures_both_times() -> None:
    t = QueueCallTracker()
    done = run(
        t,
        q.CallerJoined(0, "c1", "q-repair", "13800000000"),
        q.AgentRung(10_000, "c1", A, "agent-1001"),
        q.AgentRingNoAnswer(15 * S + 10_000, "c1", A),
        q.AgentRung(16 * S, "c1", B, "agent-1002"),
        q.CallerLeft(19 * S + 250_000, "c1"),
        q.AgentAnswered(19 * S + 251_000, "c1", B, "agent-1002", "agent-leg"),
        q.Transferred(30 * S, frozenset({"agent-leg"})),
        q.AgentCompleted(40 * S, "c1", "transfer"),
        q.ChannelHungUp(41 * S, "c1"),
    )
    assert len(done) == 1
    visit = done[0]
    assert visit.outcome is VisitOutcome.ANSWERED and visit.transferred
    assert visit.agent_interface == B
    assert visit.ring_to_answer_ms == 3251
    assert visit.queue_wait_ms == 19251
    assert visit.talk_ms == 40_000 - 19_251
    assert [(r.interface, r.end, r.duration_ms) for r in visit.rings] == [
        (A, RingEnd.NO_ANSWER, 15_000),
        (B, RingEnd.ANSWERED, 3251),
    ]
    assert t.live == []


def test_abandon_and_timeout_are_told_apart_by_the_hangup_request() -> None:
    t = QueueCallTracker()
    abandoned = run(
        t,
        q.CallerJoined(0, "c1", "q"),
        q.AgentRung(1, "c1", A),
        q.HangupRequested(3 * S, "c1"),
        q.CallerAbandoned(3 * S + 500, "c1"),
    )[0]
    assert abandoned.outcome is VisitOutcome.ABANDONED
    assert abandoned.rings[0].end is RingEnd.CALLER_LEFT
    timed_out = run(
        t,
        q.CallerJoined(0, "c2", "q"),
        q.AgentRung(1, "c2", A),
        q.AgentRingNoAnswer(20 * S, "c2", A),  # cut by the queue's timeout, same instant
        q.CallerAbandoned(20 * S + 300, "c2"),
    )[0]
    assert timed_out.outcome is VisitOutcome.TIMED_OUT
    assert timed_out.rings[0].end is RingEnd.CALLER_LEFT


def test_hangup_without_abandon_event_still_closes_the_call() -> None:
    t = QueueCallTracker()
    assert run(t, q.CallerJoined(0, "c1", "q"), q.ChannelHungUp(S, "c1"))[0].outcome is (
        VisitOutcome.ABANDONED
    )
    assert (
        run(t, q.CallerJoined(0, "c2", "q"), q.CallerLeft(S, "c2"), q.ChannelHungUp(2 * S, "c2"))[
            0
        ].outcome
        is VisitOutcome.TIMED_OUT
    )
    talking = run(
        t,
        q.CallerJoined(0, "c3", "q"),
        q.AgentRung(0, "c3", A),
        q.AgentAnswered(S, "c3", A),
        q.ChannelHungUp(5 * S, "c3"),  # before AgentComplete
    )[0]
    assert (talking.outcome, talking.talk_ms) == (VisitOutcome.ANSWERED, 4000)
    # the late AgentComplete is for a finished call: ignored, nothing breaks
    assert t.handle(q.AgentCompleted(5 * S + 10, "c3")).ignored


def test_unknown_and_out_of_order_events_are_ignored_not_fatal() -> None:
    t = QueueCallTracker()
    assert t.handle(q.AgentAnswered(0, "nobody", A)).ignored
    run(t, q.CallerJoined(0, "c1", "q"))
    assert t.handle(q.AgentCompleted(1, "c1")).ignored  # complete before answer
    assert t.handle(q.AgentRingNoAnswer(2, "c1", B)).ignored  # never rung
    assert t.handle(q.Transferred(3, frozenset({"zz"}))).ignored
    assert [v.outcome for v in t.live] == [VisitOutcome.WAITING]
    # answered without its AgentCalled (e.g. adopted by a resync): no ring time is invented
    visit = run(t, q.AgentAnswered(5 * S, "c1", A), q.AgentCompleted(6 * S, "c1"))[0]
    assert visit.ring_to_answer_ms is None and visit.queue_wait_ms == 5000


def test_rejoining_another_queue_ends_the_first_visit() -> None:
    t = QueueCallTracker()
    done = run(t, q.CallerJoined(0, "c1", "q-a"), q.CallerJoined(30 * S, "c1", "q-b"))
    assert [(v.queue, v.outcome) for v in done] == [("q-a", VisitOutcome.TIMED_OUT)]
    assert [v.queue for v in t.live] == ["q-b"]


def test_close_missing_marks_calls_lost() -> None:
    t = QueueCallTracker()
    run(t, q.CallerJoined(0, "c1", "q"), q.CallerJoined(0, "c2", "q"), q.AgentRung(1, "c2", A))
    closed = t.close_missing({"c1"}, 9 * S, "gone")
    assert [(v.unique_id, v.outcome, v.note) for v in closed] == [("c2", VisitOutcome.LOST, "gone")]
    assert closed[0].rings[0].end is RingEnd.CALLER_LEFT
    assert [v.unique_id for v in t.live] == ["c1"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    q.CallerJoined,
                    q.AgentRung,
                    q.AgentRingNoAnswer,
                    q.AgentAnswered,
                    q.AgentCompleted,
                    q.CallerAbandoned,
                    q.HangupRequested,
                    q.CallerLeft,
                    q.ChannelHungUp,
                ]
            ),
            st.integers(0, 10**12),
            st.sampled_from(["c1", "c2"]),
        ),
        max_size=40,
    )
)
def test_any_sequence_of_events_keeps_the_tracker_consistent(events) -> None:  # type: ignore[no-untyped-def]
    t = QueueCallTracker()
    for kind, at, uid in events:
        if kind is q.CallerJoined:
            event = kind(at, uid, "q")
        elif kind in (q.AgentRung, q.AgentRingNoAnswer, q.AgentAnswered):
            event = kind(at, uid, A)
        else:
            event = kind(at, uid)
        for visit in t.handle(event).finished:
            assert visit.finished
    assert all(not v.finished for v in t.live)


# --------------------------------------------------------------------- the AMI parser


def ami(event: str, **fields: str) -> dict[str, str]:
    return {"Event": event, "Timestamp": "1700000000.123456", "Uniqueid": "1700.1", **fields}


def test_parser_uses_asterisks_timestamp_in_microseconds() -> None:
    assert timestamp_us("1700000000.123456") == 1_700_000_000_123_456
    assert timestamp_us("1700000000.5") == 1_700_000_000_500_000
    assert timestamp_us("1700000000") == 1_700_000_000_000_000
    join = parse_queue_event(ami("QueueCallerJoin", Queue="q-repair", CallerIDNum="138"))
    assert join == q.CallerJoined(1_700_000_000_123_456, "1700.1", "q-repair", "138")
    connect = parse_queue_event(
        ami("AgentConnect", Interface=A, MemberName="a", DestUniqueid="1700.2")
    )
    assert connect == q.AgentAnswered(1_700_000_000_123_456, "1700.1", A, "a", "1700.2")
    transfer = parse_queue_event(
        ami("BlindTransfer", TransfererUniqueid="1700.2", TransfereeUniqueid="1700.1")
    )
    assert isinstance(transfer, q.Transferred) and "1700.2" in transfer.unique_ids
    assert parse_queue_event(ami("Newexten")) is None


@pytest.mark.parametrize(
    "event",
    [
        {"Event": "QueueCallerJoin", "Uniqueid": "1.1", "Queue": "q"},  # no timestamp
        ami("QueueCallerJoin", Timestamp="yesterday", Queue="q"),
        ami("QueueCallerJoin"),  # no queue
        ami("AgentCalled", Uniqueid="", Interface=A),
        ami("AgentCalled", Uniqueid="1.1; DROP TABLE", Interface=A),
        ami("AgentConnect"),  # no interface
        {"Event": "BlindTransfer", "Timestamp": "1.0"},
    ],
)
def test_malformed_events_are_refused_clearly(event: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        parse_queue_event(event)


def test_member_events() -> None:
    member = parse_member(
        {"Event": "QueueMemberStatus", "Queue": "q", "Interface": A, "MemberName": "x",
         "Status": "6", "Paused": "1", "PausedReason": "lunch"}
    )  # fmt: skip
    assert (member.state, member.paused, member.pause_reason) == (
        MemberState.RINGING,
        True,
        "lunch",
    )


def test_greeting_reads_the_job_number_digit_by_digit() -> None:
    assert greeting_text("1024") == "您好，幺零二四号为您服务"
    with pytest.raises(ValueError):
        greeting_text("10x4")


def test_rings_and_the_answer_carry_the_agents_job_number_at_the_time() -> None:
    roster = AgentRoster([Agent("1001", "李明", A, ()), Agent("1002", "王芳", B, ())])
    t = QueueCallTracker(roster.job_number_for)
    run(t, q.CallerJoined(0, "c1", "q-repair"), q.AgentRung(1 * S, "c1", A, "agent-1001"))
    # the table changes mid-call: 1001 moves to a desk phone, 1003 gets A's old interface
    roster.load(
        [
            Agent("1001", "李明", "Local/1001@agent-dial/n", ()),
            Agent("1002", "王芳", "Local/1002@agent-dial/n", ()),  # B still logged in as 1002
            Agent("1003", "赵", A, ()),
        ]
    )
    [visit] = run(
        t,
        q.AgentRingNoAnswer(5 * S, "c1", A),
        q.AgentRung(6 * S, "c1", A, "agent-1003"),  # by interface: the agent there now
        q.AgentRung(6 * S, "c1", B, "1002"),  # by MemberName: a known job number
        q.AgentAnswered(8 * S, "c1", B, "1002", "leg"),
        q.AgentCompleted(20 * S, "c1", "caller"),
    )
    assert [(r.interface, r.job_number, r.end) for r in visit.rings] == [
        (A, "1001", RingEnd.NO_ANSWER),
        (A, "1003", RingEnd.OTHER_ANSWERED),
        (B, "1002", RingEnd.ANSWERED),
    ]
    assert visit.agent_job_number == "1002"


def test_member_name_wins_over_the_interface_and_unknowns_stay_unknown() -> None:
    roster = AgentRoster([Agent("1001", "李明", A, ()), Agent("1002", "王芳", B, ())])
    # logged in as 1002 at A before the table gave A to 1001: the member is 1002's
    assert roster.job_number_for(A, "1002") == "1002"
    assert roster.job_number_for(A, "9999") == "1001"  # not a known job number: by interface
    assert roster.job_number_for("Local/7@x/n", "agent-7") is None
    roster.note(Agent("1001", "李明", "Local/1001@agent-dial/n", ()))
    assert roster.job_number_for(A, "") is None  # 1001 is no longer at A
    assert roster.job_number_for("Local/1001@agent-dial/n", "") == "1001"
    t = QueueCallTracker(roster.job_number_for)
    [visit] = run(
        t,
        q.CallerJoined(0, "c2", "q-repair"),
        q.AgentAnswered(3 * S, "c2", "Local/7@x/n", "agent-7"),  # adopted: no AgentCalled seen
        q.ChannelHungUp(9 * S, "c2"),
    )
    assert visit.agent_interface == "Local/7@x/n" and visit.agent_job_number is None
