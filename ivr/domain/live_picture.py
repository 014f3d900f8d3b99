"""One centre's live picture from several bridges' own: pure rules (docs/several-bridges.md).

Each bridge follows its own Asterisk's queues and publishes what it sees (a
:class:`BridgePicture`: the queue calls waiting or talking, the agents with their one live
state). A bridge's page shows its own picture merged with the others' (:func:`merge`):

* a call is one call, whichever bridges saw it: keyed by the Asterisk that holds it and its
  channel's unique id (two bridges on one Asterisk report the same call once);
* an agent is one agent, keyed by 工号: logged in on one server's phone and seen idle or
  offline by another, they count once, in their most urgent state (ringing before talking
  before after-call work …), in the union of their queues;
* a published picture is only as good as its heartbeat: the store keeps no picture older than
  its expiry (a killed bridge's calls and agents leave the picture).

Callers' numbers are published masked: the shared table never holds a full number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

# the LISTEN/NOTIFY channels between bridges: a live picture written (payload: the bridge), an
# order changed (payload: ``ivr.services.order_news``'s JSON)
LIVE_CHANNEL = "ivr_live"
ORDERS_CHANNEL = "ivr_orders"

# the wallboard's states (``ivr.domain.wallboard.BoardState`` values), most urgent first
STATE_URGENCY: tuple[str, ...] = (
    "ringing",
    "talking",
    "after_call_work",
    "paused",
    "not_answering",
    "idle",
    "offline",
)
_RANK = {state: i for i, state in enumerate(STATE_URGENCY)}

CallState = Literal["waiting", "talking"]


class BadPicture(ValueError):
    """A published picture that cannot be read (another version's shape, a damaged row)."""


@dataclass(frozen=True, slots=True)
class SharedCall:
    """A queue call live on one Asterisk (``server``), as its bridge sees it."""

    server: str
    unique_id: str
    queue: str
    caller: str  # masked
    state: CallState
    joined_ms: int
    answered_ms: int | None = None
    agent: str | None = None  # the member interface talking
    job_number: str | None = None  # … and its 工号
    ringing: tuple[str, ...] = ()  # 工号 (or member names) being rung now
    ring_to_answer_ms: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.unique_id)


@dataclass(frozen=True, slots=True)
class SharedAgent:
    """A queue member (an agent when it has a 工号) on one Asterisk, in one live state."""

    server: str
    interface: str
    job_number: str | None
    name: str
    queues: tuple[str, ...]
    paused_in: tuple[str, ...]
    state: str  # a ``STATE_URGENCY`` value
    device_state: str
    pause_reason: str = ""
    ringing_since_ms: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """One agent per 工号, whichever server's phone they use; a member nobody has is
        one per server and interface."""
        if self.job_number:
            return ("", self.job_number)
        return (self.server, self.interface)

    @property
    def paused(self) -> bool:
        return bool(self.paused_in)


@dataclass(frozen=True, slots=True)
class BridgePicture:
    """What one bridge publishes: its id, its Asterisk, when, and what it sees there."""

    bridge: str
    server: str
    at_ms: int
    calls: tuple[SharedCall, ...] = ()
    agents: tuple[SharedAgent, ...] = ()
    resyncs: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> BridgePicture:
        try:
            raw = json.loads(text)
            return cls(
                bridge=str(raw["bridge"]),
                server=str(raw["server"]),
                at_ms=int(raw["at_ms"]),
                calls=tuple(_call(c) for c in raw["calls"]),
                agents=tuple(_agent(a) for a in raw["agents"]),
                resyncs=int(raw.get("resyncs", 0)),
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadPicture(f"unreadable live picture: {type(exc).__name__}: {exc}") from None


def _call(raw: dict[str, Any]) -> SharedCall:
    if raw["state"] not in ("waiting", "talking"):
        raise ValueError(f"call state {raw['state']!r}")
    return SharedCall(**{**raw, "ringing": tuple(str(r) for r in raw.get("ringing", ()))})


def _agent(raw: dict[str, Any]) -> SharedAgent:
    if raw["state"] not in _RANK:
        raise ValueError(f"agent state {raw['state']!r}")
    return SharedAgent(
        **{**raw, "queues": tuple(raw["queues"]), "paused_in": tuple(raw["paused_in"])}
    )


@dataclass(frozen=True, slots=True)
class QueueLive:
    waiting: int = 0
    longest_wait_s: float = 0.0
    agents: int = 0


@dataclass(frozen=True, slots=True)
class CentrePicture:
    """The merged picture: every live call once, every agent once."""

    calls: tuple[SharedCall, ...]
    agents: tuple[SharedAgent, ...]
    bridges: tuple[str, ...]  # whose pictures are in it, this bridge's first
    resyncs: int = 0
    servers: tuple[str, ...] = field(default=())

    def waiting(self) -> list[SharedCall]:
        return [c for c in self.calls if c.state == "waiting"]

    def talking(self) -> list[SharedCall]:
        return [c for c in self.calls if c.state == "talking"]

    def agent(self, job_number: str) -> SharedAgent | None:
        return next((a for a in self.agents if a.job_number == job_number), None)

    def queues(self, now_ms: int) -> dict[str, QueueLive]:
        """Per queue: callers waiting, the longest wait (seconds, to 0.1), agents in it."""
        out: dict[str, QueueLive] = {}
        for agent in self.agents:
            for queue in agent.queues:
                q = out.get(queue, QueueLive())
                out[queue] = replace(q, agents=q.agents + 1)
        for call in self.waiting():
            q = out.get(call.queue, QueueLive())
            waited = round(max(0, now_ms - call.joined_ms) / 1000, 1)
            out[call.queue] = replace(
                q, waiting=q.waiting + 1, longest_wait_s=max(q.longest_wait_s, waited)
            )
        return dict(sorted(out.items()))


def merge(own: BridgePicture, others: Iterable[BridgePicture]) -> CentrePicture:
    """This bridge's picture and the fresh ones of the others, as one centre.

    A call seen by several bridges is taken from this bridge's own picture, else from the
    newest; an agent seen several times is kept in the most urgent state (this bridge's view
    on a tie), with the union of the queues they are in and paused in."""
    pictures = [own, *sorted(others, key=lambda p: -p.at_ms)]
    calls: dict[tuple[str, str], SharedCall] = {}
    agents: dict[tuple[str, str], SharedAgent] = {}
    for picture in pictures:
        for call in picture.calls:
            calls.setdefault(call.key, call)
        for agent in picture.agents:
            seen = agents.get(agent.key)
            agents[agent.key] = agent if seen is None else _one_agent(seen, agent)
    ordered_agents = sorted(
        agents.values(), key=lambda a: (a.job_number is None, a.job_number or a.interface)
    )
    return CentrePicture(
        calls=tuple(sorted(calls.values(), key=lambda c: (c.joined_ms, c.key))),
        agents=tuple(ordered_agents),
        bridges=tuple(p.bridge for p in pictures),
        resyncs=sum(p.resyncs for p in pictures),
        servers=tuple(dict.fromkeys(p.server for p in pictures)),
    )


def _one_agent(seen: SharedAgent, other: SharedAgent) -> SharedAgent:
    """The agent as two pictures have them: the more urgent state, all their queues."""
    first, second = (other, seen) if _RANK[other.state] < _RANK[seen.state] else (seen, other)
    ringing = [t for t in (first.ringing_since_ms, second.ringing_since_ms) if t is not None]
    return replace(
        first,
        queues=tuple(sorted({*first.queues, *second.queues})),
        paused_in=tuple(sorted({*first.paused_in, *second.paused_in})),
        ringing_since_ms=min(ringing) if ringing else None,
    )
