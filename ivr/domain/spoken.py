"""Values as a Mandarin speaker says them, as text for the prompt renderer.

espeak-ng reads Arabic numerals as quantities (``95598`` becomes "ninety-five thousand…") and
knows nothing of how a call centre reads a phone number. So nothing with digits reaches the
renderer as digits: job numbers and phone numbers are read digit by digit (1 as 幺, as
telephone operators say it, so 1 and 7 are not confused), money and dates as a person says
them (一千零五元三角, 二零二六年三月五日).
"""

from __future__ import annotations

import re
from datetime import date, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DIGITS = "零一二三四五六七八九"
# In numbers read out digit by digit, 1 is 幺 (yāo): 一 (yī) and 七 (qī) are easy to mix up.
CALL_DIGITS = "零幺二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")
_MAX_AMOUNT = Decimal("999999999999.99")
JOB_NUMBER_MAX_DIGITS = 16


class SpokenError(ValueError):
    """The value cannot be read out (not digits, out of range); the message says why."""


def digits(value: str, *, call_style: bool = True) -> str:
    """Each digit on its own: ``"1024"`` → ``"幺零二四"`` (``"一零二四"`` without call style)."""
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        raise SpokenError("only the digits 0-9 are read out one by one")
    table = CALL_DIGITS if call_style else DIGITS
    return "".join(table[int(d)] for d in value)


def job_number(value: str) -> str:
    """An agent's or crew's 工号, digit by digit: ``"1024"`` → ``"幺零二四"``.

    Up to 16 digits, as many as the agents API accepts (a longer limit here than there would
    let a saved 工号 fail every call that speaks it)."""
    if not 1 <= len(value.strip()) <= JOB_NUMBER_MAX_DIGITS:
        raise SpokenError(f"a job number has 1 to {JOB_NUMBER_MAX_DIGITS} digits")
    return digits(value)


def phone_number(value: str) -> str:
    """A phone number digit by digit, in the groups people say it in, with a pause between.

    Mobile 11 digits: 3-4-4 (``幺三八，幺二三四，五六七八``); landlines: area code, then the
    rest in fours. Spaces and hyphens in the input are ignored; anything else is refused.
    """
    plain = re.sub(r"[\s-]", "", value)
    if not plain.isascii() or not plain.isdigit() or not 3 <= len(plain) <= 20:
        raise SpokenError("a phone number is 3 to 20 digits")
    if len(plain) <= 6:  # service numbers (95598) and extensions: one breath
        groups = [plain]
    elif len(plain) == 11 and plain.startswith("1"):
        groups = [plain[:3], plain[3:7], plain[7:]]
    elif plain.startswith("0") and len(plain) >= 10:
        area = 3 if plain[1] in "12" else 4  # 010, 021…: three digits; 0571…: four
        rest = plain[area:]
        groups = [plain[:area], *_fours(rest)]
    else:
        groups = _fours(plain)
    return "，".join(digits(g) for g in groups)


def _fours(text: str) -> list[str]:
    head = len(text) % 4
    parts = [text[:head]] if head else []
    return parts + [text[i : i + 4] for i in range(head, len(text), 4)]


def integer(value: int) -> str:
    """A whole number as a quantity: 15 → 十五, 115 → 一百一十五, 1005 → 一千零五,
    2000 → 两千, 100500 → 十万零五百."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpokenError("expected a whole number")
    if value < 0:
        return "负" + integer(-value)
    if value == 0:
        return DIGITS[0]
    if value >= 10**16:
        raise SpokenError("number too large to read out")
    groups: list[int] = []
    while value:
        groups.append(value % 10_000)
        value //= 10_000
    words = ""
    need_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            need_zero = bool(words)
            continue
        if words and (need_zero or group < 1000):
            words += DIGITS[0]
        spoken = "两" if group == 2 and index else _group(group, leading=not words)
        words += spoken + _BIG_UNITS[index]
        need_zero = False
    return words


def _group(value: int, leading: bool) -> str:
    """0 < value < 10000, without its 万/亿 unit."""
    out = ""
    zero = False
    for position in range(3, -1, -1):
        digit = value // 10**position % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += DIGITS[0]
            zero = False
        if position == 1 and digit == 1 and not out and leading:
            out += "十"  # 十五, not 一十五, at the very start of a number
        elif digit == 2 and position >= 2 and not out:
            out += "两" + _SMALL_UNITS[position]  # 两百, 两千: as people say it
        else:
            out += DIGITS[digit] + _SMALL_UNITS[position]
    return out


def amount_yuan(value: Decimal | int | str) -> str:
    """Money as said on the phone: ``Decimal("1005.30")`` → ``一千零五元三角``,
    ``"0.05"`` → ``五分``, ``2`` → ``两元``, ``"123.45"`` → ``一百二十三元四角五分``.
    Rounded to the fen (half up); at most 999999999999.99."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise SpokenError(f"{value!r} is not an amount of money") from None
    if not amount.is_finite():
        raise SpokenError("an amount of money is a finite number")
    if abs(amount) > _MAX_AMOUNT:
        raise SpokenError("amount too large to read out")
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    parts: list[str] = []
    if yuan:
        parts.append(("两" if yuan == 2 else integer(yuan)) + "元")
    if jiao:
        parts.append(("两" if jiao == 2 else DIGITS[jiao]) + "角")
    if fen:
        if yuan and not jiao:
            parts.append(DIGITS[0])  # 五元零五分
        parts.append(("两" if fen == 2 else DIGITS[fen]) + "分")
    if not parts:
        return "零元"
    return sign + "".join(parts)


def calendar_date(value: date, *, weekday: bool = False) -> str:
    """``date(2026, 3, 5)`` → ``二零二六年三月五日`` (the year digit by digit, as it is said)."""
    text = (
        digits(f"{value.year:04d}", call_style=False)
        + "年"
        + integer(value.month)
        + "月"
        + integer(value.day)
        + "日"
    )
    if weekday:
        text += "，星期" + "一二三四五六日"[value.weekday()]
    return text


def clock_time(value: time) -> str:
    """``time(15, 5)`` → ``十五点零五分``; on the hour ``八点整``; 24-hour, as hotlines say."""
    hour = "两" if value.hour == 2 else integer(value.hour)
    if value.minute == 0:
        return f"{hour}点整"
    minute = integer(value.minute)
    if value.minute < 10:
        minute = DIGITS[0] + minute
    return f"{hour}点{minute}分"


def honorific(surname: str, title: str) -> str:
    """The callback script's ``{姓}先生（女士）``: ``honorific("王", "女士")`` → ``王女士``."""
    surname = surname.strip()
    if not surname or len(surname) > 2 or not all("\u4e00" <= ch <= "\u9fff" for ch in surname):
        raise SpokenError("a surname is one or two Chinese characters")
    if title not in ("先生", "女士"):
        raise SpokenError("title is 先生 or 女士")
    return surname + title


_LONG_DIGITS = re.compile(r"\d{5,}")
_SHORT_DIGITS = re.compile(r"\d{1,4}")


def free_text(text: str) -> str:
    """Digits inside free text (an address, a note): runs of five or more are read digit by
    digit (an account or meter number), shorter runs as quantities (``12号楼`` → ``十二号楼``)."""
    text = _LONG_DIGITS.sub(lambda m: digits(m.group(), call_style=False), text)
    return _SHORT_DIGITS.sub(lambda m: integer(int(m.group())), text)
