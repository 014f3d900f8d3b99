"""The pure part of ``GET /api/calls``: the cursor goes round unchanged and only what this API
gave is accepted back; filters are read from query parameters with the parameter at fault named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.domain.call_search import (
    Position,
    SearchError,
    decode_cursor,
    encode_cursor,
    parse_filter,
)
from ivr.domain.calls import CallOutcome
from ivr.domain.queue_calls import VisitOutcome


def test_a_cursor_names_the_same_position_when_it_comes_back() -> None:
    at = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)
    position = Position(at, "ab" * 16)
    cursor = encode_cursor(position)
    assert "=" not in cursor and cursor.isascii()
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "bm9wZQ",
        encode_cursor(Position(datetime(2026, 1, 1, tzinfo=UTC), "x")),
        "a" * 300,
    ],
)
def test_a_cursor_this_api_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(SearchError, match=r"^cursor is not one this API gave"):
        decode_cursor(cursor)


def test_filters_are_read_with_their_types() -> None:
    found = parse_filter(
        {
            "phone": "13800138000",
            "outcome": "routed",
            "queue_outcome": "answered",
            "from": "2026-12-05T08:00+08:00",
            "limit": "5",
        }
    )
    assert found.phone == "13800138000"
    assert found.outcome is CallOutcome.ROUTED
    assert found.queue_outcome is VisitOutcome.ANSWERED
    assert found.started_from == datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    assert found.limit == 5 and found.after is None
    assert parse_filter({}).limit == 100


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit is 1–500"),
        ({"limit": "-1"}, "limit is 1–500"),
        ({"limit": "١٠"}, "limit is 1–500"),  # Arabic-Indic digits are digits to str.isdigit
        ({"choice": "a b"}, "choice is a menu option path such as repair.outage"),
    ],
)
def test_each_problem_names_only_its_parameter(query: dict[str, str], message: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_filter({"phone": "13800138000", **query})
    assert str(caught.value) == message
