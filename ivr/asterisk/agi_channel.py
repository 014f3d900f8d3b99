"""The Channel the flows use, over one FastAGI connection.

Replies are parsed by panoramisk's ``parse_agi_result``; this adapter adds what its
``Request.send_command`` lacks: a deadline on every reply, a bound on the ``100 Trying`` lines
it would wait through forever (a hostile peer answering every command with them burnt a core
and slowed every real call), and one place where Asterisk's ways of saying "the caller is
gone" (a ``HANGUP`` line, ``511`` on a dead channel, ``result=-1``) become ``CallerHungUp`` and
everything else unexpected becomes ``ChannelError``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from panoramisk.fast_agi import Request
from panoramisk.utils import parse_agi_result

from ivr.domain.calls import CallerHungUp, ChannelError

log = logging.getLogger(__name__)

_HANGUP_ERRORS = {"AGIResultHangup"}
_DEAD_CHANNEL = 511
_TRYING = 100
# Asterisk sends at most one ``100 result=0 Trying...`` before a command's real reply.
MAX_TRYING_LINES = 3


class TooManyTrying(ValueError):
    """The peer keeps answering ``100 Trying``: not Asterisk, or Asterisk gone wrong."""


class AgiChannel:
    def __init__(
        self,
        request: Request,
        command_timeout_s: float,
        think: Callable[[float], None] | None = None,
    ) -> None:
        self._request = request
        self._timeout = command_timeout_s
        self._gone = False
        self._think = think  # told our time from a reply to the next command (metrics)
        self._replied_at: float | None = None

    async def answer(self) -> None:
        await self._command("ANSWER")

    async def play(self, prompt: Path, escape_digits: str = "") -> str | None:
        result = await self._command(f'STREAM FILE {_quote(str(prompt))} "{escape_digits}"')
        return _digit(result)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        result = await self._command(f"WAIT FOR DIGIT {int(timeout_ms)}")
        return _digit(result)

    async def record(
        self, path: Path, escape_digits: str, timeout_ms: int, silence_s: int, beep: bool = False
    ) -> str | None:
        # RECORD FILE keeps the keys working while the caller speaks: an escape digit ends the
        # recording and comes back as the result (its ASCII code), like STREAM FILE's.
        result = await self._command(
            f'RECORD FILE {_quote(str(path))} wav "{escape_digits}" {int(timeout_ms)} '
            f"{'BEEP ' if beep else ''}s={max(1, int(silence_s))}"
        )
        # "result=<code> (dtmf)" for a key; otherwise "result=<ms left> (timeout)", also when
        # silence ended it: only the dtmf form carries a key.
        if result.get("result", ("", ""))[1] != "dtmf":
            return None
        return _digit(result)

    async def set_variable(self, name: str, value: str) -> None:
        await self._command(f"SET VARIABLE {_quote(name)} {_quote(value)}")

    async def hangup(self) -> None:
        await self._command("HANGUP")

    async def _command(self, command: str) -> dict[str, Any]:
        if self._gone:
            raise CallerHungUp("channel already hung up")
        result = await self._send(command)
        error = result.get("error")
        if error in _HANGUP_ERRORS or result.get("status_code") == _DEAD_CHANNEL:
            self._gone = True
            raise CallerHungUp(result.get("msg", "hangup"))
        if error == "AGIAppError":
            # result=-1: a hangup, or a failure such as a missing file. Ask which.
            if await self._channel_is_gone():
                raise CallerHungUp("hangup during " + command.split(" ", 1)[0])
            raise ChannelError(f"{command.split(' ', 2)[:2]} failed (result=-1)")
        if error is not None:
            raise ChannelError(f"{error}: {result.get('msg', '')}".strip())
        return result

    async def _channel_is_gone(self) -> bool:
        probe = await self._send("CHANNEL STATUS")
        gone = (
            probe.get("error") is not None
            or probe.get("status_code") == _DEAD_CHANNEL
            or probe.get("result", ("",))[0] in ("", "-1")
        )
        self._gone = self._gone or gone
        return gone

    async def _send(self, command: str) -> dict[str, Any]:
        if self._think is not None and self._replied_at is not None:
            self._think(time.monotonic() - self._replied_at)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await send_command(self._request, command)
                self._replied_at = time.monotonic()
                return reply
        except TimeoutError:
            self._gone = True
            raise ChannelError(
                f"no reply to {command.split(' ', 1)[0]} in {self._timeout:g} s"
            ) from None
        except (ConnectionError, ValueError, UnicodeDecodeError, IndexError) as exc:
            # TooManyTrying is a ValueError: the link is dropped like any other broken one
            # EOF gives an empty line panoramisk cannot parse; an overlong line raises in
            # readline. Either way the AGI link is unusable.
            self._gone = True
            raise ChannelError(f"AGI link broken: {type(exc).__name__}") from None


def _digit(result: dict[str, Any]) -> str | None:
    """STREAM FILE / WAIT FOR DIGIT give the key's ASCII code, or 0 for none."""
    try:
        code = int(result.get("result", ("0",))[0] or 0)
    except ValueError:
        raise ChannelError(f"unexpected result {result.get('result')!r}") from None
    if code <= 0:
        return None
    if code > 0x7F:
        raise ChannelError(f"result {code} is not a key")
    return chr(code)


def _quote(value: str) -> str:
    """AGI arguments are space-separated; quote, and refuse what would break the framing."""
    if any(ch in value for ch in '\r\n"\\'):
        raise ValueError("AGI argument contains a quote, backslash or line break")
    return f'"{value}"'


async def send_command(request: Request, command: str) -> dict[str, Any]:
    """One AGI command and its parsed reply, as ``Request.send_command`` does, but waiting
    through at most :data:`MAX_TRYING_LINES` ``100 Trying`` lines."""
    request.writer.write((command + "\n").encode(request.encoding))
    await request.writer.drain()
    for _ in range(MAX_TRYING_LINES + 1):
        result = await _read_result(request)
        if result.get("status_code") != _TRYING:
            break
    else:
        raise TooManyTrying(f"more than {MAX_TRYING_LINES} '100 Trying' replies")
    if result.get("error") == "AGIUsageError":  # the usage text follows on the next line
        result["msg"] += (await request.reader.readline()).decode(request.encoding)
    return result


async def _read_result(request: Request) -> dict[str, Any]:
    line = await request.reader.readline()
    return parse_agi_result(line.decode(request.encoding)[:-1])  # type: ignore[no-any-return]
