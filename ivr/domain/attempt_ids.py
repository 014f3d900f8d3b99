"""The ActionIDs of outbound calls: ``cb-`` + 32 hex for a 回访 attempt, ``dp-`` + 32 hex for a
call to a repair crew.

They travel through Asterisk (the Originate's ActionID, a channel variable, the AGI argument
of the answered leg) and come back as text anyone on the line could have shaped, so every
place that makes one or reads one back uses these, and nothing else, to do it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AttemptIds:
    prefix: str

    def new(self) -> str:
        """A fresh id (random: unique across bridges without asking the database)."""
        return self.prefix + uuid.uuid4().hex

    def owns(self, action_id: str) -> bool:
        """This kind's ActionID (AMI broadcasts every bridge's events to every bridge)."""
        return action_id.startswith(self.prefix)

    def valid(self, text: str) -> bool:
        """Exactly an id of this kind: the check before a value from a call is used."""
        return re.fullmatch(re.escape(self.prefix) + r"[0-9a-f]{32}", text) is not None


CALLBACK_ATTEMPT = AttemptIds("cb-")
DISPATCH_CALL = AttemptIds("dp-")
VHOLD_ATTEMPT = AttemptIds("vh-")  # a virtual-hold call-back (a kept place's attempt)


_ANY_ID = re.compile(r"\b(cb|dp|vh)-([0-9a-f]{8})[0-9a-f]{24}\b")


def short(text: str) -> str:
    """Attempt ids as logs show them: the kind and 8 hex digits, enough to follow one attempt
    through the log, not enough to name it to anyone (``cb-1a2b3c4d…``). Applied to every
    formatted log line, and usable on one id."""
    return _ANY_ID.sub(r"\1-\2…", text)
