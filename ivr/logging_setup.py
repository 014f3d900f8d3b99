"""Logging for the bridge: one format, and phone numbers masked in every record.

Code masks numbers where it logs them; this filter is the safety net for what slips through
(an exception message quoting a caller ID, a third-party library's debug line).
"""

from __future__ import annotations

import logging

from ivr.domain.privacy import mask_numbers_in

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """A value no log line may show (the AMI secret): the filter replaces it with ``***``."""
    if value and len(value) >= 4:
        _secrets.add(value)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in(message)
        for secret in _secrets:
            masked = masked.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # panoramisk logs whole AMI messages (caller IDs included) at DEBUG: keep it at INFO.
    logging.getLogger("panoramisk").setLevel(max(logging.INFO, root.level))
