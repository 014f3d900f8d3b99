"""Reading the AGI environment a FastAGI peer sends first, bounded in size and time.

panoramisk's own reader loops on ``read(100)`` until it sees a blank line: a peer that stalls
holds the task forever and one that never sends a blank line grows the buffer without limit.
This reader gives each peer a deadline, caps every line and the whole block, and accepts only
``agi_<name>: value`` lines, so garbage or a stray HTTP client is turned away at once.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

_KEY = re.compile(rb"^agi_[a-z0-9_]{1,64}$")
MAX_LINES = 256


class AgiProtocolError(Exception):
    """The peer did not send a well-formed AGI environment in time; the message says how."""


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    headers: dict[str, str]

    @property
    def script(self) -> str:
        """The route: ``inbound`` for ``agi://host:port/inbound?x=y``."""
        return self.headers.get("agi_network_script", "").split("?", 1)[0].strip("/")

    @property
    def args(self) -> list[str]:
        """``agi_arg_1`` … in order (the AGI() application's arguments)."""
        found: list[str] = []
        while (value := self.headers.get(f"agi_arg_{len(found) + 1}")) is not None:
            found.append(value)
        return found

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(f"agi_{name}", default)


async def read_agi_environment(
    reader: asyncio.StreamReader,
    *,
    timeout_s: float,
    max_bytes: int,
    classic_route: str | None = None,
) -> AgiEnvironment:
    """Read ``agi_*`` lines up to the blank line. Raises AgiProtocolError, never hangs.

    ``classic_route`` serves classic (stdin) AGI, whose environment names no network script.
    """
    try:
        async with asyncio.timeout(timeout_s):
            return await _read(reader, max_bytes, classic_route)
    except TimeoutError:
        raise AgiProtocolError(f"no complete AGI environment within {timeout_s:g} s") from None


async def _read(
    reader: asyncio.StreamReader, max_bytes: int, classic_route: str | None
) -> AgiEnvironment:
    headers: dict[str, str] = {}
    total = 0
    for _ in range(MAX_LINES):
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise AgiProtocolError(
                f"peer closed the connection after {total + len(exc.partial)} bytes"
            ) from None
        except asyncio.LimitOverrunError:
            raise AgiProtocolError("an environment line is longer than allowed") from None
        total += len(raw)
        if total > max_bytes:
            raise AgiProtocolError(f"environment larger than {max_bytes} bytes")
        line = raw.rstrip(b"\r\n")
        if not line:
            break
        key, sep, value = line.partition(b": ")
        if not sep or not _KEY.match(key):
            raise AgiProtocolError(f"not an AGI environment line: {line[:40]!r}")
        # Caller names from a trunk may arrive in any encoding: keep them, marked, rather than
        # dropping the call.
        headers[key.decode("ascii")] = value.decode("utf-8", errors="replace")
    else:
        raise AgiProtocolError(f"more than {MAX_LINES} environment lines")
    if classic_route is not None:
        headers["agi_network_script"] = classic_route
    if "agi_network_script" not in headers:
        raise AgiProtocolError("environment has no agi_network_script (not a FastAGI request)")
    return AgiEnvironment(headers)
