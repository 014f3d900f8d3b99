"""Supervisor listen / whisper / barge (监听 / 耳语 / 强插) on a live call, through ChanSpy.

The supervisor's own phone (a provisioned seat an admin assigned to them) is called and runs
``ChanSpy`` on the answered agent's channel. What is dialled, which channel is spied on and
with which options are all decided here and by the tracker, never by the API caller: the
request names only a call id and a mode.

ChanSpy options (Asterisk's ``ChanSpy([chanprefix[,options]])``): ``q`` quiet (no beep, no
channel name spoken to the supervisor), ``b`` only a bridged channel, ``E`` end when the
spied-on channel hangs up, ``w`` whisper (the spied-on channel, the agent, hears the
supervisor; the other party does not), ``B`` barge (both parties hear the supervisor).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ivr.domain.access import Role

MONITOR_CONTEXT = "ivr-monitor"  # the dialplan context the supervisor's phone is answered in
MONITORS = frozenset({Role.SUPERVISOR})  # and admin
CALL_ID = re.compile(r"^[0-9a-f]{32}$")
# the agent's leg of a queue call: a queue member's Local channel (;1, the half facing the
# caller) or a PJSIP phone's channel; nothing else is ever spied on
SPIED_CHANNEL = re.compile(
    r"^(?:Local/[0-9]{1,16}@[A-Za-z0-9_-]{1,64}-[0-9a-f]{8};1|PJSIP/[A-Za-z0-9_-]{1,64}-[0-9a-f]{8})$"
)


class MonitorMode(StrEnum):
    LISTEN = "listen"  # hear both sides, say nothing
    WHISPER = "whisper"  # the agent hears the supervisor, the caller does not
    BARGE = "barge"  # both hear the supervisor (强插)

    @property
    def options(self) -> str:
        """ChanSpy's options for this mode (the dialplan's extension applies the same)."""
        return {"listen": "qbE", "whisper": "qbwE", "barge": "qbBE"}[self.value]


class MonitorRefused(Exception):
    """Not started: ``status`` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_mode(value: object) -> MonitorMode:
    try:
        return MonitorMode(str(value))
    except ValueError:
        raise MonitorRefused(400, "mode is listen, whisper or barge") from None


def check_call_id(call_id: str) -> str:
    if not CALL_ID.match(call_id):
        raise MonitorRefused(404, "no such call")
    return call_id


def check_spied_channel(channel: str) -> str:
    """The agent's channel as Asterisk named it; refused unless exactly that shape (it goes
    into a channel variable and ChanSpy's prefix: no ``,`` ``|`` ``(`` or ``$`` can pass)."""
    if not SPIED_CHANNEL.match(channel):
        raise MonitorRefused(409, "the agent's channel is not one that can be listened to")
    return channel


@dataclass(frozen=True, slots=True)
class MonitorSession:
    """One request, as audited (``outcome``: started, refused or failed)."""

    at: datetime
    principal: str
    role: str
    call_id: str
    mode: MonitorMode
    outcome: str
    agent_job_number: str | None = None
    seat: str | None = None
    detail: str | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "principal": self.principal,
            "role": self.role,
            "call_id": self.call_id,
            "mode": self.mode.value,
            "outcome": self.outcome,
            "agent_job_number": self.agent_job_number,
            "seat": self.seat,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class MonitorPhone:
    """The seat that rings when ``principal`` monitors a call (assigned by an admin)."""

    principal: str
    seat: str
    set_at: datetime
    set_by: str

    @property
    def device(self) -> str:
        return f"PJSIP/{self.seat}"

    def as_dict(self) -> dict[str, object]:
        return {
            "principal": self.principal,
            "seat": self.seat,
            "device": self.device,
            "set_at": self.set_at.isoformat(),
            "set_by": self.set_by,
        }
