"""The standard's fixed script openings, filled with spoken values: the one place they live.

The wording is fixed by the 95598 standard (docs/standard.md). Every number goes through
:mod:`ivr.domain.spoken` with the telephone convention (digit by digit, 1 as 幺), so a 工号 is
幺零二四号 in the greeting, the 回访 and the dispatch call alike, never "one thousand and
twenty-four" and never 一零二四 in one script and 幺零二四 in another.

>>> opening("1024")
'您好，幺零二四号为您服务'
"""

from __future__ import annotations

from ivr.domain import spoken


def opening(job_number: str) -> str:
    """Spoken to the caller when an agent answers: ``您好，{工号}号为您服务``."""
    return f"您好，{spoken.job_number(job_number)}号为您服务"


def dispatch_opening(job_number: str) -> str:
    """To the repair crew on duty, before the order's details."""
    return f"您好，我是客服{spoken.job_number(job_number)}值班员，有故障报修请接令。"


def callback_opening(job_number: str, addressee: str) -> str:
    """The 回访's first sentence; ``addressee`` is the customer's ``{姓}先生（女士）``."""
    job = spoken.job_number(job_number)
    return f"您好，我是供电公司客户服务中心{job}号，请问您是{addressee}吗？"
