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


class SilenceWatch:
    """Which servers none of whose bridges has been alive (AMI up) for ``stale_after``,
    timed on this bridge's own clock.

    Each bridge writes its heartbeat with its own clock, and the hosts of a centre's bridges
    need not agree to the second: comparing another host's heartbeat with this bridge's clock
    would take a healthy server whose host runs 30 s behind for lost, and close its live calls.
    So a heartbeat counts only when it *changes*: a bridge is silent from the moment this watch
    first saw its current value, and a server is lost when every one of its bridges has been
    silent for ``stale_after``. A bridge never declares its own server lost (it closes its own
    calls by resync when AMI comes back), and a server with no heartbeat left (its bridges
    stopped on purpose) is not judged at all.

    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    >>> watch = SilenceWatch(timedelta(seconds=30), own_server="a")
    >>> behind = t - timedelta(minutes=5)  # b's host clock runs five minutes behind
    >>> watch.lost([Heartbeat("b1", "b", behind)], t)
    {}
    >>> watch.lost([Heartbeat("b1", "b", behind + timedelta(seconds=5))], t + timedelta(seconds=5))
    {}
    >>> watch.lost([Heartbeat("b1", "b", behind + timedelta(seconds=5))], t + timedelta(seconds=36))
    {'b': datetime.datetime(2026, 12, 5, 7, 55, 5, tzinfo=datetime.timezone.utc)}
    """

    def __init__(self, stale_after: timedelta, own_server: str) -> None:
        self._stale_after = stale_after
        self._own = own_server
        self._first_seen: dict[str, tuple[datetime, datetime]] = {}  # owner: (value, seen at)

    def lost(self, beats: list[Heartbeat], now: datetime) -> dict[str, datetime]:
        """The lost servers, each with the newest heartbeat seen of it: the bridge that closes
        its calls checks under the rows' lock that no newer one has come since."""
        first_seen: dict[str, tuple[datetime, datetime]] = {}
        newest: dict[str, datetime] = {}
        alive: set[str] = set()
        for beat in beats:
            value, seen_at = self._first_seen.get(beat.owner, (beat.at, now))
            if value != beat.at:  # it beat since the last look
                value, seen_at = beat.at, now
            first_seen[beat.owner] = (value, seen_at)
            if beat.server_name not in newest or beat.at > newest[beat.server_name]:
                newest[beat.server_name] = beat.at
            if now - seen_at <= self._stale_after:
                alive.add(beat.server_name)
        self._first_seen = first_seen  # bridges that left are forgotten
        return {
            server: at
            for server, at in sorted(newest.items())
            if server != self._own and server not in alive
        }


def lost_reason(server: str, last_seen: datetime | None) -> str:
    """What the figures say of a call a lost server took with it."""
    since = f" since {last_seen:%Y-%m-%d %H:%M:%S}Z" if last_seen is not None else ""
    return f"server {server} lost: no bridge of it alive{since}"
