"""The seats include on disk and Asterisk's PJSIP reload, for ``ivr.services.seats``.

The file is replaced atomically (a temporary file in the same directory, fsync, rename): a
reload never reads half a file. Its group is the directory's (Asterisk's group) and it is not
world-readable: it holds digest hashes. The reload logs in as the seats' own AMI user, whose
only write class is ``system`` (the class of the ``Reload`` action), not the bridge's user.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ivr.asterisk.ami import AmiClient, AmiError
from ivr.domain.seats import SEATS_FILE

FILE_MODE = 0o640
PJSIP_MODULE = "res_pjsip.so"


class FileSeatConfig:
    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SEATS_FILE

    def write(self, text: str) -> None:
        directory = self.path.parent
        if not directory.is_dir():
            raise FileNotFoundError(f"seats directory {directory} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=".seats-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, FILE_MODE)
            with contextlib.suppress(PermissionError):  # a site may set the group itself
                os.chown(tmp, -1, directory.stat().st_gid)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class AmiPjsipReloader:
    """One short AMI session per change: log in, reload res_pjsip, check, log off."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self._login = (host, port, username, secret)

    async def reload(self, present: str | None = None, absent: str | None = None) -> None:
        """Reload, then check Asterisk now has endpoint ``present`` and not ``absent``."""
        client = AmiClient(*self._login)
        try:
            await client.connect(timeout_s=10)
            await client.action({"Action": "Reload", "Module": PJSIP_MODULE}, timeout_s=30)
            if present is not None and not await _has_endpoint(client, present):
                raise AmiError(f"after the reload Asterisk has no endpoint {present}")
            if absent is not None and await _has_endpoint(client, absent):
                raise AmiError(f"after the reload Asterisk still has endpoint {absent}")
        finally:
            await client.close()


async def _has_endpoint(client: AmiClient, name: str) -> bool:
    """Asterisk answers Success (then the details, which this short session ignores) or
    Error for an endpoint it does not have; a list read would wait for ever on the Error."""
    try:
        await client.action({"Action": "PJSIPShowEndpoint", "Endpoint": name})
    except AmiError:
        return False
    return True
