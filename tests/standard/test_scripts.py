"""Standard scripts: the wording is fixed, and a 工号 is read one way in every script.

The telephone convention: a 工号 is read digit by digit with 1 as 幺 (so 1 and 7 are not
confused), in the greeting, the 回访 and the dispatch call alike. These tests call the code
that builds what callers, customers and crews hear, not a copy of it.
"""

from __future__ import annotations

import re

import pytest

from ivr.domain.agents import greeting_text
from ivr.domain.callbacks import CallbackContext, script_greeting
from ivr.domain.dispatch import DispatchContext, order_message
from ivr.domain.workorders import OrderKind

JOB = "1024"
SPOKEN_JOB = "幺零二四"


def callback_greeting(job_number: str) -> str:
    return script_greeting(CallbackContext("A1", OrderKind.REPAIR, "王", "女士", job_number))


def dispatch_message(job_number: str) -> str:
    ctx = DispatchContext("A1", job_number, "幸福路12号", "整栋楼停电", "13800138000", "停电")
    return order_message(ctx)


def test_the_opening_on_answer_is_nin_hao_gonghao_hao_wei_nin_fuwu() -> None:
    assert greeting_text(JOB) == f"您好，{SPOKEN_JOB}号为您服务"


def test_the_callback_after_a_repair_opens_with_the_centre_and_the_gonghao() -> None:
    assert callback_greeting(JOB).startswith(
        f"您好，我是供电公司客户服务中心{SPOKEN_JOB}号，请问您是王女士吗？"
    )


def test_the_dispatch_call_opens_with_the_fixed_sentence() -> None:
    assert dispatch_message(JOB).startswith(f"您好，我是客服{SPOKEN_JOB}值班员，有故障报修请接令。")


@pytest.mark.parametrize("job_number", ["7", "1024", "1717", "9" * 16])
def test_every_script_reads_a_gonghao_the_same_way(job_number: str) -> None:
    said = {
        greeting_text(job_number).removeprefix("您好，").removesuffix("号为您服务"),
        callback_greeting(job_number).split("客户服务中心")[1].split("号，")[0],
        dispatch_message(job_number).split("我是客服")[1].split("值班员")[0],
    }
    assert len(said) == 1
    assert "一" not in said.pop()


def test_a_gonghao_the_api_accepts_can_be_spoken_in_every_script() -> None:
    longest = "1" * 16  # the agents API takes up to 16 digits
    for text in (greeting_text(longest), callback_greeting(longest), dispatch_message(longest)):
        assert "幺" * 16 in text


def test_no_script_hands_a_number_to_the_speech_renderer_as_digits() -> None:
    # espeak reads "1024" as a quantity (一千零二十四); single key digits (按1) are fine
    for text in (greeting_text(JOB), callback_greeting(JOB), dispatch_message(JOB)):
        assert not re.search(r"[0-9]{2,}", text), text
