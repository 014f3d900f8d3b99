"""BoundedAmiProtocol's framing when an oversized message's end arrives split across reads.

TCP cuts the stream anywhere: the blank line ``\\r\\n\\r\\n`` that ends an oversized message can
come half in one read and half in the next. The message after it must still be read whole.
"""

from __future__ import annotations

from typing import Any

import pytest

from ivr.asterisk.ami_protocol import BoundedAmiProtocol

LIMIT = 1024
BIG = b"Event: UserEvent\r\nBody: " + b"x" * (LIMIT * 3) + b"\r\n\r\n"
NEXT = b"Event: Hangup\r\nUniqueid: 1.2\r\n\r\n"
AFTER = b"Event: Hangup\r\nUniqueid: 1.3\r\n\r\n"


class _Transport:
    def write(self, _data: bytes) -> None:  # pragma: no cover - nothing is sent here
        pass

    def close(self) -> None:  # pragma: no cover
        pass


class _Recording(BoundedAmiProtocol):
    max_message_bytes = LIMIT

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle_message(self, message: Any) -> None:
        self.seen.append(str(message.get("Uniqueid")))


def feed(chunks: list[bytes]) -> _Recording:
    protocol = _Recording()
    protocol.connection_made(_Transport())
    for chunk in chunks:
        protocol.data_received(chunk)
    return protocol


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_terminator_split_after_an_oversized_message_does_not_swallow_the_next(
    cut: int,
) -> None:
    end = len(BIG) - 4 + cut  # inside the blank line
    stream = BIG + NEXT + AFTER
    protocol = feed([stream[: LIMIT + 10], stream[LIMIT + 10 : end], stream[end:]])
    assert protocol.seen == ["1.2", "1.3"]
    assert protocol.dropped == 1


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_the_split_falls_where_the_message_first_passes_the_limit(cut: int) -> None:
    """The chunk that makes the buffer too big already holds part of the blank line."""
    end = len(BIG) - 4 + cut
    stream = BIG + NEXT
    protocol = feed([stream[:end], stream[end:]])
    assert protocol.seen == ["1.2"]


def test_every_byte_alone() -> None:
    stream = NEXT + BIG + NEXT.replace(b"1.2", b"1.4") + AFTER
    protocol = feed([stream[i : i + 1] for i in range(len(stream))])
    assert protocol.seen == ["1.2", "1.4", "1.3"]
    assert protocol.dropped == 1
