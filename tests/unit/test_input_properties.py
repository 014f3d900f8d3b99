"""Property-based tests (hypothesis) over what comes from outside: the AMI byte stream as our
protocol reads it, AMI events as we parse them, and the API's input models."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ivr.asterisk.ami_events import MalformedEvent, parse_member, parse_queue_event
from ivr.asterisk.ami_protocol import BoundedAmiProtocol
from ivr.domain.phone import InvalidPhone, PhoneNumber
from ivr.web.agents_api import AgentIn, PauseIn
from ivr.web.follow_ups_api import RequeueIn, ResolveIn
from ivr.web.work_orders_api import CloseIn, CreateIn, UpdateIn

GOOD_EVENT = b"Event: Hangup\r\nTimestamp: 1700000000.5\r\nUniqueid: 1700000000.1\r\n\r\n"


class _Transport:
    def close(self) -> None:
        pass

    def write(self, _data: bytes) -> None:
        pass


class _Factory:
    forgetable_actions = ()

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.awaiting_actions: list[Any] = []

    def dispatch(self, event: Any) -> None:
        self.events.append(event)


def protocol() -> tuple[BoundedAmiProtocol, _Factory]:
    proto = BoundedAmiProtocol()
    proto.connection_made(_Transport())
    factory = _Factory()
    proto.factory = factory
    return proto, factory


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=400), max_size=8), st.integers(1, 64))
def test_any_bytes_then_a_good_event_the_good_event_arrives(chunks: list[bytes], cut: int) -> None:
    proto, factory = protocol()
    stream = b"".join(chunks) + b"\r\n\r\n" + GOOD_EVENT
    for i in range(0, len(stream), cut):
        proto.data_received(stream[i : i + cut])  # never raises, whatever the bytes
    hangups = [e for e in factory.events if e.get("Uniqueid") == "1700000000.1"]
    assert hangups and hangups[-1]["Event"] == "Hangup"


_text = st.text(max_size=40) | st.sampled_from(["1700000000.5", "q-repair", "Local/1@x/n", ""])
_event = st.dictionaries(
    st.sampled_from(
        [
            "Event",
            "Timestamp",
            "Uniqueid",
            "Queue",
            "Interface",
            "CallerIDNum",
            "MemberName",
            "DestUniqueid",
            "Reason",
            "Status",
            "Paused",
            "CallsTaken",
            "TransfererUniqueid",
        ]
    ),
    _text,
) | st.dictionaries(st.text(max_size=10), _text)


@settings(max_examples=500)
@given(_event, st.sampled_from(["QueueCallerJoin", "AgentConnect", "Hangup", "AttendedTransfer"]))
# str.isdigit() is true for these, int() refuses the first and reads the second as a number
@example({"Queue": "q", "Interface": "x", "CallsTaken": "²"}, "Hangup")
@example({"Timestamp": "١٧٠٠٠٠٠٠٠٠", "Uniqueid": "1.1"}, "Hangup")
def test_event_parsing_either_parses_or_says_malformed(event: dict[str, str], name: str) -> None:
    event.setdefault("Event", name)
    try:
        parsed = parse_queue_event(event)
    except MalformedEvent:
        pass
    else:
        if parsed is not None:
            assert parsed.at_us >= 0
    with contextlib.suppress(MalformedEvent):
        parse_member(event)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_phone = st.text(alphabet="0123456789+- ,&|/\n@Lx１", max_size=16) | st.from_regex(
    r"1[3-9][0-9]{9}", fullmatch=True
)


@settings(max_examples=400)
@given(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["repair", "complaint", 3, None]),
            "summary": _json | st.text(max_size=50),
            "customer": st.fixed_dictionaries(
                {
                    "surname": st.text(max_size=6),
                    "title": st.sampled_from(["先生", "女士", "x"]),
                    "phone": _phone | _json,
                }
            ),
            "owner_job_number": st.text(alphabet="0123456789;' ", max_size=5),
        },
        optional={"do_not_call": _json, "call_id": _json, "extra": _json},
    )
)
def test_create_model_accepts_only_clean_input(body: dict[str, Any]) -> None:
    try:
        order = CreateIn.model_validate(body)
    except ValidationError:
        return
    assert "extra" not in body
    assert "\x00" not in order.summary and order.summary == order.summary.strip()
    assert order.owner_job_number is None or order.owner_job_number.isdigit()
    try:
        phone = PhoneNumber(order.customer.phone)
    except InvalidPhone:
        return
    assert phone.digits.isascii() and phone.digits.isdigit()  # all a dial string can ever get


@settings(max_examples=300)
@given(
    st.sampled_from([UpdateIn, CloseIn, ResolveIn, RequeueIn, AgentIn, PauseIn]),
    _json,
)
def test_every_input_model_validates_or_refuses_cleanly(model: Any, body: Any) -> None:
    try:
        parsed = model.model_validate(body)
    except ValidationError:
        return
    assert isinstance(body, dict)
    assert set(body) <= set(model.model_fields)  # unknown fields never pass
    for value in parsed.model_dump().values():
        if isinstance(value, str):
            assert "\x00" not in value
    if isinstance(parsed, PauseIn):
        assert "\r" not in parsed.reason and "\n" not in parsed.reason
