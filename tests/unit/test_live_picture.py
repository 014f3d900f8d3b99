"""The centre's picture merged from several bridges' (``ivr.domain.live_picture``)."""

from __future__ import annotations

import pytest

from ivr.domain.live_picture import (
    BadPicture,
    BridgePicture,
    QueueLive,
    SharedAgent,
    SharedCall,
    merge,
)


def call(server: str, uid: str, queue: str = "q1", *, state: str = "waiting", joined: int = 0):  # type: ignore[no-untyped-def]
    return SharedCall(server, uid, queue, "139****0001", state, joined)  # type: ignore[arg-type]


def agent(  # type: ignore[no-untyped-def]
    server: str,
    job: str | None,
    state: str = "idle",
    queues: tuple[str, ...] = ("q1",),
    paused_in: tuple[str, ...] = (),
    interface: str = "PJSIP/a",
    ringing_since_ms: int | None = None,
):
    return SharedAgent(
        server, interface, job, "张", queues, paused_in, state, "idle", "", ringing_since_ms
    )


def test_calls_from_every_bridge_each_once() -> None:
    own = BridgePicture("a", "ast-1", 1000, calls=(call("ast-1", "1.1", joined=300),))
    other = BridgePicture("b", "ast-2", 1000, calls=(call("ast-2", "1.1", joined=100),))
    centre = merge(own, [other])
    assert [c.key for c in centre.calls] == [("ast-2", "1.1"), ("ast-1", "1.1")]  # by joining
    assert centre.bridges == ("a", "b")
    assert centre.servers == ("ast-1", "ast-2")


def test_two_bridges_on_one_asterisk_count_its_call_once_as_this_bridge_sees_it() -> None:
    mine = call("ast-1", "7.1", state="talking")
    own = BridgePicture("a", "ast-1", 1000, calls=(mine,))
    other = BridgePicture("b", "ast-1", 2000, calls=(call("ast-1", "7.1"),))
    assert merge(own, [other]).calls == (mine,)


def test_of_two_other_bridges_the_newest_picture_wins() -> None:
    own = BridgePicture("a", "ast-1", 1000)
    old = BridgePicture("b", "ast-2", 1000, calls=(call("ast-2", "9.1"),))
    new = BridgePicture("c", "ast-2", 3000, calls=(call("ast-2", "9.1", state="talking"),))
    assert [c.state for c in merge(own, [old, new]).calls] == ["talking"]


def test_an_agent_on_two_servers_is_one_agent_in_the_more_urgent_state() -> None:
    own = BridgePicture("a", "ast-1", 1000, agents=(agent("ast-1", "1001", "offline"),))
    other = BridgePicture(
        "b",
        "ast-2",
        1000,
        agents=(agent("ast-2", "1001", "paused", queues=("q2",), paused_in=("q2",)),),
    )
    (one,) = merge(own, [other]).agents
    assert (one.state, one.server, one.queues, one.paused_in) == (
        "paused",
        "ast-2",
        ("q1", "q2"),
        ("q2",),
    )
    assert one.paused


def test_on_a_tie_this_bridge_view_is_kept() -> None:
    own = BridgePicture("a", "ast-1", 1000, agents=(agent("ast-1", "1001", "idle"),))
    other = BridgePicture("b", "ast-2", 1000, agents=(agent("ast-2", "1001", "idle"),))
    assert merge(own, [other]).agents[0].server == "ast-1"


def test_ringing_beats_everything_and_keeps_the_earliest_ring() -> None:
    own = BridgePicture(
        "a", "ast-1", 1000, agents=(agent("ast-1", "1001", "ringing", ringing_since_ms=500),)
    )
    other = BridgePicture(
        "b", "ast-2", 1000, agents=(agent("ast-2", "1001", "ringing", ringing_since_ms=400),)
    )
    (one,) = merge(own, [other]).agents
    assert (one.state, one.ringing_since_ms) == ("ringing", 400)


def test_members_nobody_has_are_one_per_server_and_interface() -> None:
    own = BridgePicture("a", "ast-1", 1000, agents=(agent("ast-1", None),))
    other = BridgePicture("b", "ast-2", 1000, agents=(agent("ast-2", None),))
    same = BridgePicture("c", "ast-1", 1000, agents=(agent("ast-1", None),))
    assert len(merge(own, [other, same]).agents) == 2


def test_agents_sorted_by_job_number_then_interface() -> None:
    own = BridgePicture(
        "a",
        "s",
        0,
        agents=(
            agent("s", None, interface="Local/x"),
            agent("s", "2002", interface="PJSIP/b"),
            agent("s", "1001", interface="PJSIP/c"),
        ),
    )
    assert [a.job_number for a in merge(own, []).agents] == ["1001", "2002", None]


def test_queue_figures_count_each_agent_and_caller_once() -> None:
    own = BridgePicture(
        "a",
        "ast-1",
        10_000,
        calls=(call("ast-1", "1", "q1", joined=4_000), call("ast-1", "2", "q1", joined=9_000)),
        agents=(agent("ast-1", "1001", queues=("q1",)),),
    )
    other = BridgePicture(
        "b",
        "ast-2",
        10_000,
        calls=(
            call("ast-2", "1", "q2", joined=8_000),
            call("ast-2", "3", "q1", state="talking", joined=1_000),
        ),
        agents=(agent("ast-2", "1001", queues=("q1", "q2")), agent("ast-2", "1002")),
    )
    queues = merge(own, [other]).queues(10_000)
    assert queues == {
        "q1": QueueLive(waiting=2, longest_wait_s=6.0, agents=2),
        "q2": QueueLive(waiting=1, longest_wait_s=2.0, agents=1),
    }


def test_a_picture_travels_as_json_and_back() -> None:
    picture = BridgePicture(
        "a",
        "ast-1",
        123,
        calls=(
            SharedCall(
                "ast-1",
                "1.2",
                "q1",
                "139****0001",
                "talking",
                1,
                2,
                "PJSIP/a",
                "1001",
                ("1002",),
                800,
            ),
        ),
        agents=(agent("ast-1", "1001", "paused", paused_in=("q1",), ringing_since_ms=5),),
        resyncs=2,
    )
    assert BridgePicture.from_json(picture.to_json()) == picture
    assert "张" in picture.to_json()  # readable in the table, not escaped


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"bridge": "a"}',
        '{"bridge":"a","server":"s","at_ms":1,"calls":[{"state":"gone"}],"agents":[]}',
        '{"bridge":"a","server":"s","at_ms":1,"calls":[],"agents":[{"state":"asleep"}]}',
        '{"bridge":"a","server":"s","at_ms":"x","calls":[],"agents":[]}',
    ],
)
def test_an_unreadable_picture_is_refused_clearly(text: str) -> None:
    with pytest.raises(BadPicture, match="unreadable live picture"):
        BridgePicture.from_json(text)
