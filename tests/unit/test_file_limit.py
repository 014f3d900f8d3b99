"""The start-up check of the open-files limit against the web side's descriptor budget."""

import logging

import pytest

from ivr.app import raise_file_limit
from ivr.web.connection_guard import WEB_BACKLOG, descriptors_needed


def test_budget_is_the_cap_plus_the_accept_burst_plus_a_reserve() -> None:
    assert descriptors_needed(100) == 100 + WEB_BACKLOG + 128


def test_a_web_cap_the_limit_cannot_hold_is_named(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.app"):
        raise_file_limit(10**9)
    assert "web.max_connections=1000000000" in caplog.text


def test_a_cap_that_fits_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ivr.app"):
        raise_file_limit(1)
    assert "open-files limit" not in caplog.text
