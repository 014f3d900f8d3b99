"""Simulated people on the sandboxed Asterisk, for the demo and the integration tests.

They are dialplan (``ivr_sandbox/extensions_local.conf``), so every simulated call is a real
call through Asterisk: a caller is a Local channel into the 95598 entry whose far end presses
keys; an agent is a queue member ``Local/<id>@sim-agents/n`` that answers after a delay.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from ivr.asterisk.ami import AmiClient

_KEYS = re.compile(r"^[0-9*#wW]{0,160}$")  # hostile callers press a lot
_AGENT_ID = re.compile(r"^[0-9]{3,6}$")
_NUMBER = re.compile(r"^[0-9]{3,20}$")
_QUEUE = re.compile(r"^q-[a-z0-9-]{1,30}$")
_PATH = re.compile(r"^/[A-Za-z0-9/_.-]{1,200}$")
_AGI_URL = re.compile(r"^agi://[A-Za-z0-9.-]{1,100}:[0-9]{1,5}$")


@dataclass(frozen=True, slots=True)
class SimulatedCaller:
    """``keys`` are sent ``pause_s`` after the menu answers (``w`` waits 0.5 s between keys);
    the caller then stays ``hold_s`` seconds and hangs up. With ``say`` (a WAV path without
    extension) the caller first waits until the menu has been read, says it, then presses keys.
    """

    number: str
    keys: str = ""
    pause_s: float = 1.5
    hold_s: float = 20.0
    say: str | None = None
    talk: str | None = None  # said talk_after_s after the keys (to the agent, once answered)
    talk_after_s: float = 8.0
    hear: str | None = None  # a path without extension: what the caller hears, from the start

    def __post_init__(self) -> None:
        if not _NUMBER.match(self.number):
            raise ValueError("a simulated caller's number is 3 to 20 digits")
        if not _KEYS.match(self.keys):
            raise ValueError("simulated keys are DTMF digits, * and #, with w/W pauses")
        for path in (self.say, self.talk, self.hear):
            if path is not None and (not _PATH.match(path) or ".." in path):
                raise ValueError(
                    "say and talk are absolute paths without extension (letters, digits, _./-)"
                )


async def place_call(
    ami: AmiClient,
    caller: SimulatedCaller,
    entry: str = "95598",
    record_to: str | None = None,
    agi_url: str = "",
) -> str:
    """Originate the call; returns the ActionID to match the OriginateResponse event.
    ``record_to`` (a path without extension, visible to Asterisk) keeps what the caller hears
    after its keys, for as long as it holds; ``agi_url`` (``agi://host:port``) sends this call's
    menu to another bridge than the one the sandbox's dialplan names."""
    if record_to is not None and not _PATH.match(record_to):
        raise ValueError("a recording path is absolute, letters, digits, '/', '_', '-' and '.'")
    action_id = "sim-" + uuid.uuid4().hex[:12]
    variables = f"SIM_KEYS={caller.keys},SIM_PAUSE={caller.pause_s:g},SIM_HOLD={caller.hold_s:g}"
    if caller.say:
        variables += f",SIM_SAY={caller.say}"
    if record_to is not None:
        variables += f",SIM_RECORD={record_to}"
    if caller.talk:
        variables += f",SIM_TALK={caller.talk},SIM_TALK_AFTER={caller.talk_after_s:g}"
    if caller.hear:
        variables += f",SIM_HEAR={caller.hear}"
    if agi_url:
        if not _AGI_URL.match(agi_url):
            raise ValueError("agi_url is agi://<host>:<port>")
        variables += f",IVR_AGI_URL={agi_url}"
    await ami.action(
        {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": f"Local/{entry}@from-pstn",
            "Context": "sim-caller",
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"sim" <{caller.number}>',
            "Variable": variables,
            "Timeout": "30000",
            "Async": "true",
        }
    )
    return action_id


async def place_queue_call(
    ami: AmiClient,
    caller: SimulatedCaller,
    queue: str,
    queue_timeout_s: int | None = None,
    record_to: str | None = None,
) -> str:
    """A caller straight into ``queue`` (no menu), for timing tests; ``record_to`` (a path
    without extension, visible to Asterisk) keeps what the caller hears while holding."""
    if not _QUEUE.match(queue):
        raise ValueError("a queue name is q- followed by letters, digits and '-'")
    if record_to is not None and not _PATH.match(record_to):
        raise ValueError("a recording path is absolute, letters, digits, '/', '_', '-' and '.'")
    action_id = "sim-" + uuid.uuid4().hex[:12]
    variables = [f"SIM_KEYS={caller.keys}", f"SIM_PAUSE={caller.pause_s:g}"]
    variables.append(f"SIM_HOLD={caller.hold_s:g}")
    if queue_timeout_s is not None:
        variables.append(f"SIM_QUEUE_TIMEOUT={int(queue_timeout_s)}")
    if record_to is not None:
        variables.append(f"SIM_RECORD={record_to}")
    await ami.action(
        {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": f"Local/{queue}@sim-queue-entry",
            "Context": "sim-caller",
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"sim" <{caller.number}>',
            "Variable": ",".join(variables),
            "Timeout": "30000",
            "Async": "true",
        }
    )
    return action_id


async def log_in_agent(
    ami: AmiClient,
    agent_id: str,
    queues: list[str],
    answer_after_s: float | str = 0.5,
    talk_s: float = 2.0,
    say: str | None = None,
    hear: str | None = None,
) -> str:
    """Make ``Local/<id>@sim-agents/n`` a member of ``queues``; ``answer_after_s`` may be
    ``"never"``; ``say`` (a WAV path without extension) is played to the caller right after
    the greeting; ``hear`` (a path without extension) keeps what the agent hears from the
    answer on. Returns the member interface."""
    if not _AGENT_ID.match(agent_id):
        raise ValueError("a simulated agent id is 3 to 6 digits")
    delay = answer_after_s if answer_after_s == "never" else f"{float(answer_after_s):g}"
    await ami.action(
        {"Action": "Setvar", "Variable": f"SIM_AGENT_DELAY_{agent_id}", "Value": delay}
    )
    await ami.action(
        {"Action": "Setvar", "Variable": f"SIM_AGENT_TALK_{agent_id}", "Value": f"{talk_s:g}"}
    )
    if say is not None and (not _PATH.match(say) or ".." in say):
        raise ValueError("say is an absolute path without extension (letters, digits, _./-)")
    await ami.action(
        {"Action": "Setvar", "Variable": f"SIM_AGENT_SAY_{agent_id}", "Value": say or ""}
    )
    if hear is not None and (not _PATH.match(hear) or ".." in hear):
        raise ValueError("hear is an absolute path without extension (letters, digits, _./-)")
    await ami.action(
        {"Action": "Setvar", "Variable": f"SIM_AGENT_HEAR_{agent_id}", "Value": hear or ""}
    )
    interface = f"Local/{agent_id}@sim-agents/n"
    for queue in queues:
        await ami.queue_add(queue, interface, f"agent-{agent_id}")
    return interface


async def log_out_agent(ami: AmiClient, interface: str, queues: list[str]) -> None:
    """Take a simulated agent out of ``queues`` (members outlive the AMI session otherwise)."""
    for queue in queues:
        await ami.queue_remove(queue, interface)


@dataclass(frozen=True, slots=True)
class SimulatedCustomer:
    """A callback customer in ``[sim-customers]``: ``mode`` is answer | never | busy |
    congestion; after answering they answer each question in ``say`` aloud (WAV paths without
    extension, one per question, each said once the question has been read), wait
    ``pause_s``, press ``keys``, optionally speak a suggestion and press #, stay ``hold_s``
    seconds and hang up."""

    number: str
    mode: str = "answer"
    keys: str = ""
    pause_s: float = 2.0
    speak: bool = False
    hold_s: float = 30.0
    say: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NUMBER.match(self.number):
            raise ValueError("a simulated customer's number is 3 to 20 digits")
        if len(self.say) > 8 or any(not _PATH.match(p) or ".." in p for p in self.say):
            raise ValueError(
                "say: up to 8 absolute paths without extension (letters, digits, _./-)"
            )
        if not _KEYS.match(self.keys):
            raise ValueError("simulated keys are DTMF digits, * and #, with w/W pauses")
        if self.mode not in ("answer", "never", "busy", "congestion"):
            raise ValueError("mode is answer, never, busy or congestion")


async def set_up_customer(ami: AmiClient, customer: SimulatedCustomer) -> None:
    """Store the customer's behaviour as dialplan globals for ``[sim-customers]``."""
    values = {
        "MODE": customer.mode,
        "KEYS": customer.keys,
        "PAUSE": f"{customer.pause_s:g}",
        "SPEAK": "yes" if customer.speak else "no",
        "HOLD": f"{customer.hold_s:g}",
    } | {f"SAY{i}": path for i, path in enumerate(customer.say, 1)}
    values[f"SAY{len(customer.say) + 1}"] = ""  # where the answers end
    for name, value in values.items():
        await ami.action(
            {"Action": "Setvar", "Variable": f"SIM_CB_{name}_{customer.number}", "Value": value}
        )


@dataclass(frozen=True, slots=True)
class SimulatedCrew:
    """A repair crew in ``[sim-crews]``: ``mode`` is answer | never | busy; after answering
    it waits ``pause_s`` and presses ``keys``, then ``pause2_s`` later ``keys2``; it stays
    ``hold_s`` seconds and hangs up."""

    number: str
    mode: str = "answer"
    keys: str = ""
    pause_s: float = 2.0
    keys2: str = ""
    pause2_s: float = 3.0
    hold_s: float = 30.0

    def __post_init__(self) -> None:
        if not _NUMBER.match(self.number):
            raise ValueError("a simulated crew's number is 3 to 20 digits")
        if not _KEYS.match(self.keys) or not _KEYS.match(self.keys2):
            raise ValueError("simulated keys are DTMF digits, * and #, with w/W pauses")
        if self.mode not in ("answer", "never", "busy"):
            raise ValueError("mode is answer, never or busy")


async def set_up_crew(ami: AmiClient, crew: SimulatedCrew) -> None:
    """Store the crew's behaviour as dialplan globals for ``[sim-crews]``."""
    values = {
        "MODE": crew.mode,
        "KEYS": crew.keys,
        "PAUSE": f"{crew.pause_s:g}",
        "KEYS2": crew.keys2,
        "PAUSE2": f"{crew.pause2_s:g}",
        "HOLD": f"{crew.hold_s:g}",
    }
    for name, value in values.items():
        await ami.action(
            {"Action": "Setvar", "Variable": f"SIM_CREW_{name}_{crew.number}", "Value": value}
        )
