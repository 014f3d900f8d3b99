"""When a server counts as lost, and the server name a bridge may be given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from ivr.config import AsteriskSettings
from ivr.domain.servers import BadServerName, Heartbeat, check_server_name, lost_servers

T = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
STALE = timedelta(seconds=30)


def beat(owner: str, server: str, ago_s: float) -> Heartbeat:
    return Heartbeat(owner, server, T - timedelta(seconds=ago_s))


def test_a_server_is_lost_only_when_every_bridge_of_it_is_silent() -> None:
    beats = [beat("b1", "b", 90), beat("b2", "b", 3), beat("c1", "c", 31), beat("c2", "c", 120)]
    assert lost_servers(beats, T, STALE, own_server="a") == ["c"]


def test_a_bridge_never_declares_its_own_server_lost() -> None:
    assert lost_servers([beat("a1", "a", 600)], T, STALE, own_server="a") == []


def test_a_heartbeat_exactly_at_the_limit_is_alive() -> None:
    assert lost_servers([beat("b1", "b", 30)], T, STALE, own_server="a") == []


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
