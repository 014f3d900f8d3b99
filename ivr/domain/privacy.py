"""Masking of personal data for logs (不准对外泄露客户个人信息)."""

from __future__ import annotations

import re

# Mainland mobile numbers and landlines with an area code, optionally +86: what callers have.
# Not inside a longer run of letters and digits (a hex order number or id is not a phone).
_PHONE_LIKE = re.compile(
    r"(?<![0-9A-Za-z])(?:\+?86)?(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![0-9A-Za-z])"
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
