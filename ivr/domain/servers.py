"""Which Asterisk server a bridge serves, and when a server counts as lost.

A centre may run several Asterisk servers, each with one or more bridges, all on one
PostgreSQL. Every row a bridge writes about a call (the call, its queue visits and rings, its
recording, every outbound attempt) carries the name of the server the call is on, so the
figures can say where a call ran and a bridge can tell which calls a lost server took with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_SERVER_NAME = "asterisk-1"  # a one-server site never has to set it
SERVER_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"  # short: it goes on every row
SERVER_NAME_LENGTH = 32
_SERVER_NAME = re.compile(SERVER_NAME_PATTERN)


class BadServerName(ValueError):
    """A server name that is not a short lower-case identifier."""


def check_server_name(name: str) -> str:
    """``name`` if it is a valid server name (``asterisk-1``, ``pbx-b``), else BadServerName."""
    if not _SERVER_NAME.fullmatch(name):
        raise BadServerName(
            f"server name {name!r}: 1-32 characters, a-z 0-9 and '-', not starting with '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Placement:
    """Where this bridge places outbound calls: only through its own server's trunk, at most
    ``max_outbound`` live there at once (all its bridges, callbacks and dispatch; 0: no cap of
    its own, the centre's caps only)."""

    server: str = DEFAULT_SERVER_NAME
    max_outbound: int = 0


ONE_SERVER = Placement()  # a centre of one Asterisk: no cap but the centre's


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The last sign of life of one bridge: when it last wrote, with AMI logged in."""

    owner: str
    server_name: str
    at: datetime


def lost_servers(
    beats: list[Heartbeat], now: datetime, stale_after: timedelta, own_server: str
) -> list[str]:
    """The servers none of whose bridges has been alive (AMI up) within ``stale_after``.

    A server with several bridges is lost only when every one of them is silent. A bridge never
    declares its own server lost (it closes its own calls by resync when AMI comes back), and a
    server no bridge ever reported is not judged at all.

    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    >>> ago = lambda s: t - timedelta(seconds=s)
    >>> beats = [Heartbeat("a1", "a", t), Heartbeat("b1", "b", ago(60)),
    ...          Heartbeat("b2", "b", ago(5)), Heartbeat("c1", "c", ago(90))]
    >>> lost_servers(beats, t, timedelta(seconds=30), own_server="a")
    ['c']
    """
    newest: dict[str, datetime] = {}
    for beat in beats:
        if beat.server_name not in newest or beat.at > newest[beat.server_name]:
            newest[beat.server_name] = beat.at
    return sorted(
        server for server, at in newest.items() if server != own_server and now - at > stale_after
    )


def lost_reason(server: str, last_seen: datetime | None) -> str:
    """What the figures say of a call a lost server took with it."""
    since = f" since {last_seen:%Y-%m-%d %H:%M:%S}Z" if last_seen is not None else ""
    return f"server {server} lost: no bridge of it alive{since}"
