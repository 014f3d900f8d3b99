"""Speaking to a caller who waits in a queue without taking them out of it: ChanSpy's whisper.

The bridge originates ``Local/s@vhold-whisper``: its ``;2`` side runs ``ChanSpy(<caller>,qswES)``
(quiet, whisper only, ends with the caller) and its ``;1`` side (``[vhold-say]``) plays the
prompt, which ChanSpy whispers to the caller over the hold music. The caller's channel name is
learnt from ``QueueCallerJoin`` (by Uniqueid) and checked before it reaches the dialplan.
"""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

from ivr.asterisk.ami import AmiClient

log = logging.getLogger(__name__)

_CHANNEL = re.compile(r"^[A-Za-z0-9/@;._-]{1,100}$")
_PROMPT = re.compile(r"^/[A-Za-z0-9/_.-]{1,250}$")


class AmiWhisper:
    """The ``Whisperer`` port over AMI."""

    def __init__(self, ami: AmiClient) -> None:
        self._ami = ami
        self._channels: dict[str, str] = {}  # caller Uniqueid -> channel name, while queued
        ami.on_event("QueueCallerJoin", self._joined)
        for name in ("QueueCallerLeave", "QueueCallerAbandon", "Hangup"):
            ami.on_event(name, self._left)

    def _joined(self, event: Any) -> None:
        channel, uid = str(event.get("Channel", "")), str(event.get("Uniqueid", ""))
        if uid and _CHANNEL.match(channel):
            self._channels[uid] = channel

    def _left(self, event: Any) -> None:
        self._channels.pop(str(event.get("Uniqueid", "")), None)

    async def whisper(self, unique_id: str, prompt: Path) -> bool:
        channel = self._channels.get(unique_id)
        if channel is None:
            return False
        path = str(prompt)
        if not _PROMPT.match(path):
            log.warning("announcement prompt path refused: %r", path[:80])
            return False
        await self._ami.action(
            {
                "Action": "Originate",
                "ActionID": "qa-" + uuid.uuid4().hex,
                "Channel": "Local/s@vhold-whisper",
                "Context": "vhold-say",
                "Exten": "s",
                "Priority": "1",
                "CallerID": '"95598" <95598>',
                "Variable": f"IVR_SPY={channel},IVR_SAY={path}",
                "Timeout": "10000",
                "Async": "true",
            }
        )
        return True
