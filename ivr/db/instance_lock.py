"""One bridge per SQLite file and per spool file, enforced by the operating system.

SQLite serves one bridge: two bridges on one file would share its spool file and lose lines,
and fight over its single writer. Each bridge therefore holds an exclusive ``flock`` on a lock
file beside the database (and beside its spool) for as long as it runs; a second bridge gets a
clear error naming the setting instead of starting. The kernel drops the lock when the process
dies, so a crash never leaves a stale lock behind.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ivr.db.lock"
>>> with hold(path, "database.url"):
...     try:
...         with hold(path, "database.url"):
...             pass
...     except InstanceLockError as exc:
...         print(str(exc).split(":")[0])
database.url
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class InstanceLockError(RuntimeError):
    """Another bridge holds the file; the message names the setting and what to do."""


@contextlib.contextmanager
def hold(path: Path, setting: str, advice: str = "") -> Iterator[None]:
    """Hold ``path`` exclusively for the ``with`` block, or raise :class:`InstanceLockError`."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise InstanceLockError(
                f"{setting}: {path.with_suffix('')} is in use by another bridge (pid {holder})."
                + (f" {advice}" if advice else "")
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_path(path: Path) -> Path:
    """The lock file beside ``path`` (``ivr.db`` → ``ivr.db.lock``)."""
    return path.with_name(path.name + ".lock")
