"""panoramisk's AMI protocol with bounds: one bad message never costs the others.

panoramisk's own ``data_received`` decodes each TCP chunk on its own (a UTF-8 caller name split
across two chunks loses characters), buffers a message without limit until its blank line, and
lets an exception from one message (a duplicated ``Event:`` header makes a list that has no
``lower()``; a failing callback) escape, which drops the rest of that chunk. This one keeps
bytes until a whole message is there, decodes it with replacement, skips a message larger than
``MAX_MESSAGE_BYTES`` (logged; the link stays up: what follows is read normally, even when the
oversized message's blank line is split across reads), and handles each message alone.
"""

from __future__ import annotations

import logging

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from ivr.domain.privacy import mask_numbers_in

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024  # a QueueStatus entry is ~1 kB; a megabyte is not Asterisk
_END = b"\r\n\r\n"
_BANNER = b"Asterisk Call Manager/"


class BoundedAmiProtocol(AMIProtocol):  # type: ignore[misc]
    max_message_bytes = MAX_MESSAGE_BYTES

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        self._pending = b""
        self._skipping = False  # inside an oversized message: drop bytes until its end
        self.dropped = 0

    def data_received(self, data: bytes) -> None:
        buffer = self._pending + data
        if self.version is None and buffer.startswith(_BANNER) and b"\r\n" in buffer:
            banner, _, buffer = buffer.partition(b"\r\n")
            self.version = banner[len(_BANNER) :].decode("ascii", "replace").strip()[:32]
        if self._skipping:
            skipped, found, rest = buffer.partition(_END)
            if not found:
                self._pending = _tail(skipped)
                return
            self._skipping, buffer = False, rest
        *messages, self._pending = buffer.split(_END)
        for raw in messages:
            if len(raw) > self.max_message_bytes:
                self._drop(len(raw))
                continue
            self._one(raw)
        if len(self._pending) > self.max_message_bytes:
            self._drop(len(self._pending))
            self._pending = _tail(self._pending)
            self._skipping = True

    def _drop(self, size: int) -> None:
        self.dropped += 1
        log.warning(
            "AMI message of %d+ bytes dropped (more than %d): not what Asterisk sends",
            size,
            self.max_message_bytes,
        )

    def _one(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        try:
            message = Message.from_line(text)
            if message is not None:
                self.handle_message(message)
        except Exception as exc:  # one broken message or callback never stops the link
            reason = mask_numbers_in(f"{type(exc).__name__}: {exc}")[:160]
            log.warning("AMI message could not be handled (%s); dropped", reason)


def _tail(skipped: bytes) -> bytes:
    """What to keep of bytes being skipped: the start of a blank line that the next read may
    complete (``\r\n`` now, ``\r\n`` next). Dropping it would make the skip run on to the
    *next* message's end and swallow that message."""
    return skipped[-(len(_END) - 1) :]
