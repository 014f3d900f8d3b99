"""The key that binds an outbound leg's AGI session to the attempt it claims to be.

A 回访 or dispatch leg reaches the bridge as ``AGI(…/callback,<attempt id>,<leg key>)``. The
attempt id alone says *which* attempt; anyone who could reach the FastAGI port and learnt an id
(from a log line, say) could otherwise answer for it: fake a crew's 接令 or a satisfied
customer. The leg key is ``HMAC-SHA256(centre secret, attempt id)``: set as a channel variable
at Originate, checked by the route, unguessable without the secret every bridge of the centre
shares (kept in the database), and different for every attempt.

>>> keys = LegKeys(b"k" * 32)
>>> key = keys.key_for("cb-" + "0" * 32)
>>> len(key), keys.valid("cb-" + "0" * 32, key), keys.valid("cb-" + "1" * 32, key)
(32, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import re

_KEY = re.compile(r"[0-9a-f]{32}")


class LegKeys:
    """Makes and checks leg keys once the centre's secret is known (at bridge start)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret

    def set_secret(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the leg secret has at least 16 bytes")
        self._secret = secret

    @property
    def ready(self) -> bool:
        return self._secret is not None

    def key_for(self, attempt_id: str) -> str:
        if self._secret is None:
            raise RuntimeError("no leg secret yet: the bridge has not started")
        mac = hmac.new(self._secret, attempt_id.encode("ascii"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def valid(self, attempt_id: str, given: str) -> bool:
        """Constant-time; False for a malformed key or before the secret is known."""
        if self._secret is None or not _KEY.fullmatch(given):
            return False
        return hmac.compare_digest(self.key_for(attempt_id), given)
