"""Masking of personal data for logs (不准对外泄露客户个人信息)."""

from __future__ import annotations

import re

# Mainland mobile numbers and landlines with an area code, as people write them: run together,
# grouped with spaces or dashes (138 0013 8000, 010-1234-5678, (0755) 8888 6666), after +86,
# 0086 or 86, and landlines in international form (+86 10 1234 5678). Not inside a longer run
# of letters and digits (a hex order number, an id or a Unix time is not a phone).
_SEP = r"[ -]?"
_MOBILE = rf"1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}"
_LANDLINE = rf"\(?0\d{{2,3}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}"
_INTERNATIONAL = rf"(?:\+86|0086){_SEP}\(?[1-9]\d{{1,2}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}"
_PHONE_LIKE = re.compile(
    rf"(?<![0-9A-Za-z+])(?:{_INTERNATIONAL}|(?:(?:\+86|0086|86){_SEP})?(?:{_MOBILE}|{_LANDLINE}))"
    r"(?![0-9A-Za-z])"
)


def mask_number(number: str | None) -> str:
    """Keep the first three and last two digits of a phone number: ``138******00``."""
    if not number:
        return "<none>"
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 5:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


def mask_name(name: str | None) -> str:
    """Keep the surname only: ``王**``."""
    if not name:
        return "<none>"
    return name[0] + "*" * (len(name) - 1)


def mask_address(address: str | None) -> str | None:
    """Keep the first four characters (the district, roughly): ``朝阳区幸福路12号`` →
    ``朝阳区幸****``. None stays None (no address recorded)."""
    if address is None:
        return None
    return address[:4] + "*" * max(len(address) - 4, 4)


def mask_numbers_in(text: str) -> str:
    """Mask every phone-like number in free text (a log line, an error message)."""
    return _PHONE_LIKE.sub(lambda m: mask_number(m.group(0)), text)
