"""The dispatch conversation against a scripted channel: accept, hear again, silence, hostile
keys, hang-up. Real calls are in tests/integration/test_dispatch_calls.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.domain.dispatch import (
    SCRIPT_ACCEPTED,
    SCRIPT_ASK,
    SCRIPT_BAD_KEY,
    SCRIPT_NOT_ACCEPTED,
    CallResult,
    DispatchContext,
    order_message,
)
from ivr.flows import dispatch_call
from tests.unit.test_callback_flow import Prompts, ScriptedChannel

CTX = DispatchContext("0123456789ABCDEF0123", "1024", "幸福路12号", "停电", "13800138000", "停电")
MESSAGE = order_message(CTX)


class Store:
    def __init__(self, ctx: DispatchContext | None = CTX, late: bool = False) -> None:
        self.ctx = ctx
        self.late = late
        self.accepted: list[int] = []
        self.finished: list[tuple[CallResult, int | None]] = []
        self.over: list[int] = []

    async def context(self, action_id: str) -> DispatchContext | None:
        return self.ctx

    async def accept(self, action_id: str, plays: int) -> datetime | None:
        if self.late:
            return None
        self.accepted.append(plays)
        return datetime.now(UTC)

    async def finish(
        self, action_id: str, result: CallResult, detail: str | None, plays: int | None = None
    ) -> bool:
        self.finished.append((result, plays))
        return True

    async def conversation_over(self, action_id: str, plays: int) -> None:
        self.over.append(plays)


def deps(store: Store) -> dispatch_call.DispatchDeps:
    return dispatch_call.DispatchDeps(store, Prompts(), max_plays=3, digit_timeout_ms=100)


async def test_accept_during_the_reading() -> None:
    store, channel = Store(), ScriptedChannel(["1"])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.ACCEPTED
    assert store.accepted == [1] and store.over == [1] and store.finished == []
    assert channel.played == [MESSAGE, SCRIPT_ACCEPTED] and channel.hung_up
    assert "再见" in SCRIPT_ACCEPTED


async def test_accept_after_the_question() -> None:
    store, channel = Store(), ScriptedChannel(["", "", "1"])  # message, question, wait
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.ACCEPTED
    assert channel.played == [MESSAGE, SCRIPT_ASK, SCRIPT_ACCEPTED]


async def test_two_hears_it_again_then_one_accepts() -> None:
    store, channel = Store(), ScriptedChannel(["2", "1"])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.ACCEPTED
    assert store.accepted == [2]
    assert channel.played == [MESSAGE, MESSAGE, SCRIPT_ACCEPTED]


async def test_silence_reads_it_max_plays_times_then_gives_up_with_goodbye() -> None:
    store, channel = Store(), ScriptedChannel([])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.NO_KEY
    assert channel.played == [MESSAGE, SCRIPT_ASK] * 3 + [SCRIPT_NOT_ACCEPTED]
    assert store.finished == [(CallResult.NO_KEY, 3)] and store.accepted == []
    assert "再见" in SCRIPT_NOT_ACCEPTED and channel.hung_up


@pytest.mark.parametrize("garbage", ["9", "*", "#", "0", "A", "\x00"])
async def test_hostile_keys_are_told_off_and_never_accept(garbage: str) -> None:
    store = Store()
    channel = ScriptedChannel(["", "", garbage] * 5)
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.NO_KEY
    assert channel.played.count(SCRIPT_BAD_KEY) == 3 and store.accepted == []


async def test_endless_twos_are_bounded() -> None:
    store, channel = Store(), ScriptedChannel(["2"] * 50)
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.NO_KEY
    assert channel.played.count(MESSAGE) == 3


async def test_hang_up_before_accepting() -> None:
    store, channel = Store(), ScriptedChannel(["2", "H"])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.HUNG_UP
    assert store.finished == [(CallResult.HUNG_UP, 2)]


async def test_hang_up_after_accepting_keeps_the_acceptance() -> None:
    store = Store()
    channel = ScriptedChannel(["1"])

    async def gone(prompt, escape_digits=""):  # type: ignore[no-untyped-def]
        if prompt.name == SCRIPT_ACCEPTED:
            from ivr.domain.calls import CallerHungUp

            raise CallerHungUp("gone")
        return "1"

    channel.play = gone  # type: ignore[method-assign]
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.ACCEPTED
    assert store.accepted == [1] and store.finished == [] and store.over == [1]


async def test_unknown_call_is_hung_up_without_a_word() -> None:
    store, channel = Store(ctx=None), ScriptedChannel(["1"])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is None
    assert channel.played == [] and channel.hung_up


async def test_acceptance_too_late_is_not_claimed() -> None:
    store, channel = Store(late=True), ScriptedChannel(["1"])
    assert await dispatch_call.run(channel, "dp-x", deps(store)) is CallResult.NO_KEY
    assert channel.played[-1] == SCRIPT_NOT_ACCEPTED


@pytest.mark.parametrize(
    "keys",
    [["1"], ["2", "H"], ["9", "9", "9"], []],
    ids=["accepted", "hung up", "bad keys", "silence"],
)
async def test_the_order_is_read_from_a_personal_prompt_released_after_the_call(
    keys: list[str],
) -> None:
    """The order speaks the customer's address and number: it comes from ``personal()``,
    never the shared cache, and is released (deleted) however the call ends."""
    prompts, channel = Prompts(), ScriptedChannel(keys)
    deps_ = dispatch_call.DispatchDeps(Store(), prompts, max_plays=3, digit_timeout_ms=100)
    await dispatch_call.run(channel, "dp-x", deps_)
    assert MESSAGE in channel.played
    assert prompts.personal_released == [MESSAGE] and prompts.personal_in_use == []
