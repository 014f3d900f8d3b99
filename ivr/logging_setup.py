"""Logging for the bridge: one format, and phone numbers and secrets masked in every record.

Code masks numbers where it logs them; this is the safety net for what slips through (an
exception message or a traceback quoting a caller ID, a third-party library's debug line).
The mask is applied to the *formatted* record, so tracebacks, exception text and stack
information are covered, not only the message.
"""

from __future__ import annotations

import logging

from ivr.domain.attempt_ids import short as short_attempt_ids
from ivr.domain.privacy import mask_numbers_in

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """A value no log line may show (the AMI secret): it is replaced with ``***``."""
    if value and len(value) >= 4:
        _secrets.add(value)


def mask(text: str) -> str:
    """``text`` with every phone-like number masked, every registered secret hidden and every
    outbound attempt id shortened."""
    masked = short_attempt_ids(mask_numbers_in(text))
    for secret in _secrets:
        masked = masked.replace(secret, "***")
    return masked


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class MaskingFilter(logging.Filter):
    """For handlers whose formatter is not ours: masks the message and pre-formats the
    traceback masked (``logging.Formatter`` uses a record's ``exc_text`` when it is set)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # panoramisk logs whole AMI messages (caller IDs included) at DEBUG: keep it at INFO.
    logging.getLogger("panoramisk").setLevel(max(logging.INFO, root.level))
    # SQLAlchemy's own INFO/DEBUG lines would show statements; never at DEBUG from here.
    logging.getLogger("sqlalchemy").setLevel(max(logging.WARNING, root.level))
    # Alembic's INFO lines (plugins set up, each revision run) are for its developers: the
    # bridge and ``ivr db upgrade`` say what the operator needs in one line of their own.
    logging.getLogger("alembic").setLevel(
        logging.INFO if root.level <= logging.DEBUG else logging.WARNING
    )
