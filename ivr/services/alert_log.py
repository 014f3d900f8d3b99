"""An AlertSink that writes alerts to the log, until the time-limit watch's stored, shown and
pushed alerts replace it (see ``ivr.ports.AlertSink``).

Idempotent on ``alert.key`` within this process (a restart may log an alert once more); it
keeps the alerts it raised so the bridge (and its tests) can read them back.
"""

from __future__ import annotations

import logging

from ivr.domain.alerts import Alert

log = logging.getLogger("ivr.alerts")


class LoggingAlertSink:
    def __init__(self, keep: int = 1000) -> None:
        self.raised: dict[str, Alert] = {}
        self._keep = keep

    async def raise_alert(self, alert: Alert) -> bool:
        if alert.key in self.raised:
            return False
        if len(self.raised) >= self._keep:
            self.raised.pop(next(iter(self.raised)))
        self.raised[alert.key] = alert
        log.warning("ALERT %s [%s] %s", alert.key, alert.level.value, alert.message)
        return True
