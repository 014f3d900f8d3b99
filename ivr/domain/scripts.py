"""The standard scripts (docs/standard.md, wording fixed by the standard) filled with spoken values.

Every value goes through :mod:`ivr.domain.spoken`, so the renderer never sees a digit: a job
number is 幺零二四号, never "one thousand and twenty-four".
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ivr.domain import spoken


def opening(job_number: str) -> str:
    """Spoken to the caller when an agent answers."""
    return f"您好，{spoken.job_number(job_number)}号为您服务"


def dispatch_call(job_number: str, address: str, fault: str) -> str:
    """To the repair crew on duty: the order's details follow the fixed opening."""
    return (
        f"您好，我是客服{spoken.job_number(job_number)}值班员，有故障报修请接令。"
        f"地址：{spoken.free_text(address)}。故障：{spoken.free_text(fault)}。"
    )


def callback_after_repair(job_number: str, surname: str, title: str) -> str:
    """The repair callback (回访), word for word."""
    return (
        f"您好，我是供电公司客户服务中心{spoken.job_number(job_number)}号，"
        f"请问您是{spoken.honorific(surname, title)}吗？"
        "您那里的故障我们已经修复完毕，请问您用电正常了吗？欢迎您对我们的工作提出建议，再见。"
    )


def callback_number(phone: str) -> str:
    """Reading back the number we will call, so the caller can correct it."""
    return f"我们将回拨您的电话{spoken.phone_number(phone)}，请问对吗？"


def bill_due(amount_yuan: Decimal | str, due: date) -> str:
    """An amount owed and its date, as a person says them."""
    return (
        f"您的本期电费为{spoken.amount_yuan(amount_yuan)}，请于{spoken.calendar_date(due)}前缴纳。"
    )
