"""Phone numbers we may dial: the only way a number becomes part of a dial string.

Digits only, and only shapes a mainland customer has: a mobile ``1[3-9]`` + 9 digits, or a
landline with its area code (``0`` + 2-3 digit area + 7-8 digit number, 10-12 digits in all).
Anything else is refused with a reason; nothing is "cleaned up" into something dialable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[1-9][0-9]{8,10}$")
_CONTEXT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InvalidPhone(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    digits: str

    def __post_init__(self) -> None:
        if not isinstance(self.digits, str) or not self.digits.isascii():
            raise InvalidPhone("a phone number is ASCII digits only")
        if not self.digits.isdigit():
            raise InvalidPhone("a phone number is digits only (no spaces, +, - or letters)")
        if not (_MOBILE.match(self.digits) or _LANDLINE.match(self.digits)):
            raise InvalidPhone(
                "not a mainland number: a mobile is 11 digits 1[3-9]…, a landline 10-12 digits "
                "starting with 0 and its area code"
            )


def parse_phone(raw: str) -> PhoneNumber:
    return PhoneNumber(raw)


def dial_string(number: PhoneNumber, context: str) -> str:
    """``Local/<digits>@<context>``; only a validated ``PhoneNumber`` gets here."""
    if not isinstance(number, PhoneNumber):
        raise TypeError("dial_string needs a validated PhoneNumber")
    PhoneNumber(
        number.digits
    )  # re-check: a frozen dataclass can still be forged via object.__setattr__
    if not _CONTEXT.match(context):
        raise ValueError(f"bad dialplan context {context!r}")
    return f"Local/{number.digits}@{context}"
