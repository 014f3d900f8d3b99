"""A realistic AMI event stream, and a loopback AMI peer that replays it at full speed.

The stream is what the bridge's AMI user (``read = system,call,agent,user,reporting``)
receives for queued calls on Asterisk 22, field for field as the sandbox sends them: channel
snapshots on every event, queue and agent events between the call, dial and bridge events
the tracker does not follow. Each call is one of three kinds, in a fixed mix so every run
replays the same bytes: answered (80 %), answered by a second agent after the first let it
ring (10 %), abandoned while ringing (10 %).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass

# Timestamps start here (µs resolution, as timestampevents = yes gives them).
T0 = 1_795_000_000.0
QUEUES = ("q-repair", "q-billing", "q-general")


def _snapshot(prefix: str, channel: str, uid: str, linked: str, number: str, state: int) -> str:
    desc = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}[state]
    return (
        f"{prefix}Channel: {channel}\r\n{prefix}ChannelState: {state}\r\n"
        f"{prefix}ChannelStateDesc: {desc}\r\n{prefix}CallerIDNum: {number}\r\n"
        f"{prefix}CallerIDName: <unknown>\r\n{prefix}ConnectedLineNum: <unknown>\r\n"
        f"{prefix}ConnectedLineName: <unknown>\r\n{prefix}Language: zh\r\n"
        f"{prefix}AccountCode: \r\n{prefix}Context: from-pstn\r\n{prefix}Exten: 95598\r\n"
        f"{prefix}Priority: 5\r\n{prefix}Uniqueid: {uid}\r\n{prefix}Linkedid: {linked}\r\n"
    )


@dataclass
class _Call:
    i: int
    t: float

    def __post_init__(self) -> None:
        self.uid = f"{T0 + self.i:.0f}.{self.i * 3}"
        self.caller = f"PJSIP/trunk-{self.i:08x}"
        self.number = f"138{self.i:08d}"
        self.queue = QUEUES[self.i % len(QUEUES)]
        self.parts: list[str] = []

    def event(self, name: str, privilege: str, body: str) -> None:
        self.t += 0.0137
        self.parts.append(
            f"Event: {name}\r\nPrivilege: {privilege}\r\nTimestamp: {self.t:.6f}\r\n{body}\r\n"
        )

    def me(self, state: int = 6) -> str:
        return _snapshot("", self.caller, self.uid, self.uid, self.number, state)

    def agent_leg(self, agent: str, k: int) -> tuple[str, str, str]:
        uid = f"{T0 + self.i:.0f}.{self.i * 3 + k}"
        return f"Local/{agent}@sim-agents-{self.i:08x};1", uid, agent


def _call(i: int) -> tuple[str, str]:
    """One call's events and its expected visit outcome."""
    c = _Call(i, T0 + i * 0.5)
    kind = "answered" if i % 10 < 8 else ("second_agent" if i % 10 == 8 else "abandoned")
    c.event("Newchannel", "call,all", c.me(0))
    c.event("Newstate", "call,all", c.me(6))
    c.event("MusicOnHoldStart", "call,all", c.me() + "Class: default\r\n")
    c.event(
        "QueueCallerJoin", "agent,all", c.me() + f"Queue: {c.queue}\r\nPosition: 1\r\nCount: 1\r\n"
    )
    agents = ["1001", "1002"] if kind == "second_agent" else ["1001"]
    for k, agent in enumerate(agents, start=1):
        channel, auid, name = c.agent_leg(agent, k)
        dest = _snapshot("Dest", channel, auid, c.uid, agent, 0)
        member = (
            f"Queue: {c.queue}\r\nInterface: Local/{agent}@sim-agents/n\r\nMemberName: {name}\r\n"
        )
        c.event("Newchannel", "call,all", _snapshot("", channel, auid, c.uid, agent, 0))
        c.event("AgentCalled", "agent,all", c.me() + dest + member)
        c.event("DialBegin", "call,all", c.me() + dest + f"DialString: {agent}@sim-agents/n\r\n")
        last = k == len(agents)
        if kind == "abandoned":
            c.event("HangupRequest", "call,all", c.me() + "Cause: 16\r\n")
            c.event(
                "QueueCallerAbandon",
                "agent,all",
                c.me()
                + f"Queue: {c.queue}\r\nPosition: 1\r\nOriginalPosition: 1\r\nHoldTime: 7\r\n",
            )
            c.event(
                "QueueCallerLeave",
                "agent,all",
                c.me() + f"Queue: {c.queue}\r\nPosition: 1\r\nCount: 0\r\n",
            )
            c.event("DialEnd", "call,all", c.me() + dest + "DialStatus: CANCEL\r\n")
            c.event(
                "Hangup",
                "call,all",
                _snapshot("", channel, auid, c.uid, agent, 5)
                + "Cause: 16\r\nCause-txt: Normal Clearing\r\n",
            )
            break
        if not last:
            c.event("AgentRingNoAnswer", "agent,all", c.me() + dest + member + "RingTime: 15\r\n")
            c.event("DialEnd", "call,all", c.me() + dest + "DialStatus: NOANSWER\r\n")
            c.event(
                "Hangup",
                "call,all",
                _snapshot("", channel, auid, c.uid, agent, 5)
                + "Cause: 19\r\nCause-txt: No answer\r\n",
            )
            continue
        up = _snapshot("Dest", channel, auid, c.uid, agent, 6)
        c.event("Newstate", "call,all", _snapshot("", channel, auid, c.uid, agent, 6))
        c.event("DialEnd", "call,all", c.me() + up + "DialStatus: ANSWER\r\n")
        c.event("MusicOnHoldStop", "call,all", c.me())
        c.event(
            "QueueCallerLeave",
            "agent,all",
            c.me() + f"Queue: {c.queue}\r\nPosition: 1\r\nCount: 0\r\n",
        )
        c.event(
            "AgentConnect", "agent,all", c.me() + up + member + "HoldTime: 3\r\nRingTime: 2\r\n"
        )
        bridge = (
            f"BridgeUniqueid: b{i:08x}\r\nBridgeType: basic\r\n"
            "BridgeTechnology: simple_bridge\r\nBridgeNumChannels: 2\r\n"
        )
        c.event("BridgeEnter", "call,all", bridge + c.me())
        c.event("BridgeEnter", "call,all", bridge + _snapshot("", channel, auid, c.uid, agent, 6))
        c.event(
            "HangupRequest",
            "call,all",
            _snapshot("", channel, auid, c.uid, agent, 6) + "Cause: 16\r\n",
        )
        c.event("BridgeLeave", "call,all", bridge + c.me())
        c.event(
            "AgentComplete",
            "agent,all",
            c.me() + up + member + "HoldTime: 3\r\nTalkTime: 42\r\nReason: agent\r\n",
        )
        c.event(
            "Hangup",
            "call,all",
            _snapshot("", channel, auid, c.uid, agent, 6)
            + "Cause: 16\r\nCause-txt: Normal Clearing\r\n",
        )
    c.event("Hangup", "call,all", c.me() + "Cause: 16\r\nCause-txt: Normal Clearing\r\n")
    return "".join(c.parts), "abandoned" if kind == "abandoned" else "answered"


@dataclass(frozen=True)
class Stream:
    data: bytes
    events: int  # including the closing UserEvent
    expected: Counter[str]  # visit outcome -> calls


END_EVENT = "Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: BenchEnd\r\n\r\n"


def synthesize(calls: int) -> Stream:
    """``calls`` calls' events, interleaved in pairs as concurrent calls are, then BenchEnd."""
    parts: list[str] = []
    expected: Counter[str] = Counter()
    for i in range(calls):
        text, outcome = _call(i)
        parts.append(text)
        expected[outcome] += 1
    body = "".join(parts) + END_EVENT
    return Stream(body.encode(), body.count("\r\nPrivilege: "), expected)


class ReplayAmi:
    """A loopback AMI peer: greets, accepts the login, answers the resync's list actions with
    empty lists and Ping with Pong; ``replay()`` then writes the whole stream at once."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def replay(self) -> None:
        assert self.writer is not None
        self.writer.write(self.stream.data)
        await self.writer.drain()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        block: dict[str, str] = {}
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                text = line.decode(errors="replace").strip()
                if text:
                    key, _, value = text.partition(": ")
                    block[key.lower()] = value
                    continue
                action, aid = block.get("action", "").lower(), block.get("actionid", "")
                block = {}
                if action == "login":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\n"
                        "Message: Authentication accepted\r\n\r\n".encode()
                    )
                    self.connected.set()
                elif action == "ping":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode()
                    )
                elif action == "corestatus":  # the resync asks when Asterisk started
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\n"
                        "CoreStartupDate: 2026-11-22\r\nCoreStartupTime: 08:00:00\r\n"
                        "CoreCurrentCalls: 0\r\n\r\n".encode()
                    )
                elif action in ("queuestatus", "coreshowchannels"):
                    done = (
                        "QueueStatusComplete"
                        if action == "queuestatus"
                        else "CoreShowChannelsComplete"
                    )
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                        f"Message: will follow\r\n\r\nEvent: {done}\r\nActionID: {aid}\r\n"
                        "EventList: Complete\r\nListItems: 0\r\n\r\n".encode()
                    )
                elif action:  # as Asterisk answers an action it does not know
                    writer.write(
                        f"Response: Error\r\nActionID: {aid}\r\n"
                        "Message: Invalid/unknown command\r\n\r\n".encode()
                    )
