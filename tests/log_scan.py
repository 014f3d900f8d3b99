"""Pytest plugin: every log record of a test run is kept and scanned for personal data and
secrets; an unmasked phone number or a known secret in any log line fails the session.

At session start a handler on the root logger writes every record (``ivr`` at DEBUG; panoramisk
at INFO, as ``ivr.logging_setup.configure`` runs it in production) into a file; our own records
*without* the production masking filter (the filter is a safety net, and this scan proves our
code does not need it), third-party records through it, as production writes them.
At session end the file is scanned with the phone pattern of ``ivr.domain.privacy``
(numbers that are not personal, such as 95598, queue and extension numbers, do not match it)
and for secrets registered with :func:`register_secret` (the sandbox's AMI secret, test tokens)
or written as ``Secret: …`` / ``Bearer …``. Offending lines are printed masked.

Subprocesses (``ivr run`` in the CLI and two-bridge tests) log to their own stderr and are not
scanned here.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from ivr.domain.privacy import _PHONE_LIKE, mask_numbers_in
from ivr.logging_setup import MaskingFilter

_SECRET_SHAPES = re.compile(
    r"(?i)(?:\bsecret\s*[:=]\s*['\"]?(?!\*)[^\s'\",}]{4,}|bearer\s+[\w-]{16,})"
)
_secrets: set[str] = set()
_state: dict[str, object] = {}
LOGGERS_AT_DEBUG = ("ivr", "tests")


def register_secret(value: str) -> None:
    """A value that must never appear in a log line (an AMI secret, an API token)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def _redact(line: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "<secret>")
    line = _SECRET_SHAPES.sub("<secret-shaped>", line)
    return mask_numbers_in(line)


def scan_lines(lines: Iterable[str], secrets: Iterable[str] = ()) -> list[str]:
    """Lines with an unmasked phone number or a secret, returned masked (safe to print)."""
    known = [s for s in secrets if s]
    bad = []
    for line in lines:
        if _PHONE_LIKE.search(line) or _SECRET_SHAPES.search(line) or any(s in line for s in known):
            bad.append(_redact(line, known))
    return bad


def scan_file(path: Path, secrets: Iterable[str] = ()) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        return scan_lines((line.rstrip("\n") for line in handle), secrets)


class _AllRecords(logging.FileHandler):
    """Keeps every record. Our own loggers (``ivr``) are written raw: our code must mask what
    it logs. Third-party loggers (panoramisk's "Adding action … to awaiting list" quotes whole
    actions) pass through the production :class:`MaskingFilter` first, as they do in ``ivr run``.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not record.name.startswith(("ivr", "tests")):
                MaskingFilter().filter(record)
            super().emit(record)
        except Exception:  # pragma: no cover - a broken record must not break the scan
            self.handleError(record)


def pytest_sessionstart(session: pytest.Session) -> None:
    fd, name = tempfile.mkstemp(prefix="ivr-test-logs-", suffix=".log")
    os.close(fd)
    handler = _AllRecords(name, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    levels = {n: logging.getLogger(n).level for n in (*LOGGERS_AT_DEBUG, "panoramisk")}
    for logger_name in LOGGERS_AT_DEBUG:
        logging.getLogger(logger_name).setLevel(logging.DEBUG)
    logging.getLogger("panoramisk").setLevel(logging.INFO)  # as production configures it
    _state.update(handler=handler, path=Path(name), levels=levels)
    _register_tokens_as_created()


def _register_tokens_as_created() -> None:
    """Every API token a test creates is a secret the scan looks for."""
    from ivr.db.tokens import SqlTokenStore

    create = SqlTokenStore.create
    if getattr(create, "_log_scan", False):
        return

    async def registering(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        token = await create(self, *args, **kwargs)
        register_secret(token)
        return token

    registering._log_scan = True  # type: ignore[attr-defined]
    SqlTokenStore.create = registering  # type: ignore[method-assign]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    handler = _state.pop("handler", None)
    if not isinstance(handler, logging.Handler):
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
    for logger_name, level in dict(_state.pop("levels", {})).items():  # type: ignore[call-overload]
        logging.getLogger(logger_name).setLevel(level)
    path = _state.pop("path")
    assert isinstance(path, Path)
    offending = scan_file(path, _secrets)
    size = path.stat().st_size
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if offending:
        if reporter is not None:
            reporter.write_line(
                f"LOG SCAN FAILED: {len(offending)} log line(s) with an unmasked phone number "
                f"or a secret (shown masked; full log kept at {path}):",
                red=True,
            )
            for line in offending[:50]:
                reporter.write_line(f"  {line[:300]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if reporter is not None:
        reporter.write_line(f"log scan: {size} bytes of logs, no unmasked number or secret")
    path.unlink(missing_ok=True)
