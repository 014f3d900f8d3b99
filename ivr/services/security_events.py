"""Asterisk's own security events (failed SIP logins, unknown sources), logged and counted.

Asterisk reports them on AMI in the ``security`` class (res_security_log writes the same to its
``security`` log for fail2ban). The bridge counts each failure kind so ``/metrics`` shows an
attack or a misconfigured phone as it happens; the counts are this process's, since start.
Account names can be phone numbers (a stranger's From), so they are masked in the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping

from ivr.domain.privacy import mask_numbers_in

log = logging.getLogger(__name__)

# Events that mean "refused"; ChallengeSent and SuccessfulAuth are every phone's normal call.
FAILURES = (
    "FailedACL",
    "InvalidAccountID",
    "InvalidPassword",
    "ChallengeResponseFailed",
    "UnexpectedAddress",
    "RequestBadFormat",
    "RequestNotAllowed",
    "RequestNotSupported",
    "AuthMethodNotAllowed",
    "InvalidTransport",
    "SessionLimit",
    "MemoryLimit",
    "LoadAverageLimit",
)


class SecurityEvents:
    """Failure counts by event name; feed it every AMI event named in :data:`FAILURES`."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def observe(self, event: Mapping[str, str]) -> None:
        name = str(event.get("Event") or "")
        if name not in FAILURES:
            return
        self._counts[name] += 1
        log.warning(
            "security: %s from %s (service %s, account %s)",
            name,
            str(event.get("RemoteAddress") or "?")[:80],
            str(event.get("Service") or "?")[:20],
            mask_numbers_in(str(event.get("AccountID") or "?")[:64]),
        )

    def counts(self) -> dict[str, int]:
        """Every failure kind, 0 included (a counter that appears only once it is non-zero
        cannot be alerted on)."""
        return {name: self._counts[name] for name in FAILURES}
