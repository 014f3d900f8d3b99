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


# What the agent must say and promise on the call, per order kind (docs/workspace.md, from the
# standard's table of work orders and limits). The workspace shows them beside the order form.
_REMINDERS: dict[str, tuple[str, ...]] = {
    "repair": (
        "记录故障地址和现象，确认联系电话",
        "告知客户：抢修人员将尽快到达现场（5分钟内派单至抢修值班员）",
        "告知客户：修复后将进行回访",
    ),
    "consultation": (
        "能当场答复的当场答复",
        "不能当场答复的：致歉，留下联系电话，3天内答复",
    ),
    "business": (
        "记录申请内容和用电类别（居民/低压/高压单电源/双电源）",
        "告知供电方案答复时限：3/7/15/30个工作日",
        "高压客户：告知将进行回访",
    ),
    "complaint": (
        "感谢客户的来电和意见，认真记录，不与客户争辩",
        "告知客户：1天内转交监审部，1个工作日内与您联系",
        "告知客户：5个工作日内答复，并进行满意度回访",
    ),
    "report": (
        "感谢客户的举报，认真记录，为举报人保密",
        "告知客户：10个工作日内答复，并进行回访",
    ),
    "suggestion": ("感谢客户的建议或表扬，认真记录",),
    "connection": (
        "记录受理信息和用电类别",
        "告知装表接电时限：居民2至3个工作日，非居民5个工作日",
    ),
    "meter_test": ("记录计量装置信息", "告知客户：5个工作日内答复校验结果"),
    "meter_reading": ("记录抄表异常情况", "告知客户：7个工作日内核实并答复"),
}


def reminders(kind: str) -> tuple[str, ...]:
    """What the agent must say and promise for an order of this kind (empty for an unknown
    kind). Every kind begins with the standard opening, spoken on answer by the bridge."""
    return _REMINDERS.get(kind, ())
