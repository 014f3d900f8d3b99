"""When a server counts as lost (its heartbeats stop changing, on the watcher's own clock), and
the server name a bridge may be given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ivr.config import AsteriskSettings
from ivr.domain.servers import BadServerName, Heartbeat, SilenceWatch, check_server_name

T = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
STALE = timedelta(seconds=30)


def beat(owner: str, server: str, at_s: float) -> Heartbeat:
    """A heartbeat written at ``at_s`` seconds on the writer's clock (which need not be ours)."""
    return Heartbeat(owner, server, T + timedelta(seconds=at_s))


def after(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def test_a_server_is_lost_only_when_every_bridge_of_it_is_silent() -> None:
    watch = SilenceWatch(STALE, own_server="a")
    assert watch.lost([beat("b1", "b", 0), beat("b2", "b", 0), beat("c1", "c", 0)], T) == {}
    # b2 beats on, b1 and c1 stop
    assert (
        watch.lost([beat("b1", "b", 0), beat("b2", "b", 29), beat("c1", "c", 0)], after(29)) == {}
    )
    silent = [beat("b1", "b", 0), beat("b2", "b", 31), beat("c1", "c", 0)]
    assert watch.lost(silent, after(31)) == {"c": after(0)}


def test_clocks_need_not_agree() -> None:
    """b's host runs ten minutes behind ours and c's ten minutes ahead: while they beat they
    live, and once silent they are lost after the limit on our clock, not at once or never."""
    watch = SilenceWatch(STALE, own_server="a")
    for t in range(0, 60, 5):
        assert watch.lost([beat("b1", "b", t - 600), beat("c1", "c", t + 600)], after(t)) == {}
    stopped = [beat("b1", "b", 55 - 600), beat("c1", "c", 55 + 600)]
    assert watch.lost(stopped, after(85)) == {}  # silent for exactly the limit: alive
    assert watch.lost(stopped, after(86)) == {"b": after(55 - 600), "c": after(55 + 600)}


def test_a_bridge_never_declares_its_own_server_lost() -> None:
    watch = SilenceWatch(STALE, own_server="a")
    watch.lost([beat("a1", "a", 0)], T)
    assert watch.lost([beat("a1", "a", 0)], after(600)) == {}


def test_a_watch_that_just_started_waits_the_whole_limit() -> None:
    """It cannot know how long an old heartbeat has been still, so it times from its first look."""
    watch = SilenceWatch(STALE, own_server="a")
    old = [beat("b1", "b", -3600)]
    assert watch.lost(old, T) == {}
    assert watch.lost(old, after(30)) == {}
    assert watch.lost(old, after(31)) == {"b": after(-3600)}


def test_a_bridge_that_beats_again_is_alive_again() -> None:
    watch = SilenceWatch(STALE, own_server="a")
    watch.lost([beat("b1", "b", 0)], T)
    assert watch.lost([beat("b1", "b", 0)], after(40)) == {"b": after(0)}
    assert watch.lost([beat("b1", "b", 45)], after(45)) == {}
    assert watch.lost([], after(100)) == {}  # its bridges stopped on purpose: not judged


@pytest.mark.parametrize("name", ["asterisk-1", "b", "pbx-east-2", "a" * 32])
def test_short_identifiers_are_server_names(name: str) -> None:
    assert check_server_name(name) == name
    assert AsteriskSettings(server_name=name).server_name == name


@pytest.mark.parametrize("name", ["", "-b", "PBX", "a b", "a;b", "a" * 33, "ast/1", "é"])
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(BadServerName):
        check_server_name(name)
    with pytest.raises(ValidationError):
        AsteriskSettings(server_name=name)


def test_lost_after_must_cover_several_heartbeats() -> None:
    with pytest.raises(ValidationError, match="3 × heartbeat_s"):
        AsteriskSettings(heartbeat_s=10, lost_after_s=20)
