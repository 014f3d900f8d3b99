"""Actions we send: a header that would break AMI's line framing is refused before it is sent.

panoramisk writes header names and values as given, so a value carrying ``\\r\\n`` would end
its header and start another (``Action: Command`` even): the client refuses it whatever the
API or the services checked before.
"""

from __future__ import annotations

import pytest

from ivr.asterisk.ami import _check_framing

ORIGINATE = {"Action": "Originate", "Channel": "PJSIP/13800138000@carrier", "Async": "true"}


def test_a_plain_action_passes() -> None:
    _check_framing(ORIGINATE)


@pytest.mark.parametrize(
    "action",
    [
        ORIGINATE | {"Channel": "PJSIP/1@carrier\r\nAction: Command\r\nCommand: core stop now"},
        ORIGINATE | {"Variable": "IVR_X=1\nAction: Logoff"},
        ORIGINATE | {"Variable": "IVR_X=1\x00"},
        ORIGINATE | {"Bad\r\nName": "x"},
        ORIGINATE | {"Name: Injected": "x"},
    ],
    ids=["crlf-in-value", "lf-in-value", "nul-in-value", "crlf-in-name", "colon-in-name"],
)
def test_a_header_that_would_break_framing_is_refused(action: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="framing"):
        _check_framing(action)
