"""The log scan (tests/log_scan.py) catches what it must, and lets through what is not personal;
the production filter hides registered secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ivr.config import AmiSettings
from ivr.logging_setup import MaskingFilter, register_secret
from tests.log_scan import scan_file, scan_lines


@pytest.mark.parametrize(
    "line",
    [
        "INFO ivr.flows.inbound: call from 13812345678 entered the menu",
        "WARNING x: Originate Local/13900000001@outbound-trunk failed",
        "DEBUG x: global SIM_CUSTOMER_13900000001 set",
        "INFO x: landline 010-62345678",
        "INFO x: +8613812345678",
        "INFO panoramisk.manager: Adding action login: Action: Login Secret: hunter22",
        "INFO x: Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
    ],
)
def test_the_scanner_catches_unmasked_numbers_and_secrets(line: str) -> None:
    found = scan_lines([line])
    assert len(found) == 1
    # what it prints is masked itself
    assert "13812345678" not in found[0] and "hunter22" not in found[0]
    assert "62345678" not in found[0] and "13900000001" not in found[0]


@pytest.mark.parametrize(
    "line",
    [
        "INFO x: call from 138******78 routed to q-repair",
        "INFO x: 95598 entry, queue q-general, agent 1001, Local/1001@sim-agents/n",
        "INFO x: uniqueid 1763812345.123 at 1763812345123456",
        "INFO ivr.flows.callback_call: callback for order 0123456789ABCDEF0123: completed",
        "WARNING ivr.app: no AMI secret configured: no call tracking",
        "INFO x: a valid bearer token is required",
    ],
)
def test_the_scanner_lets_non_personal_numbers_through(line: str) -> None:
    assert scan_lines([line]) == []


def test_the_scanner_finds_a_registered_secret_in_a_file(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("INFO a: fine\nERROR b: login with s3cr3t-value failed\n", encoding="utf-8")
    found = scan_file(log, ["s3cr3t-value"])
    assert found == ["ERROR b: login with <secret> failed"]


def test_the_production_filter_hides_a_registered_secret() -> None:
    register_secret("ami-secret-for-the-filter-test")
    record = logging.LogRecord(
        "panoramisk",
        logging.INFO,
        "f",
        1,
        "action %s",
        ("Secret: ami-secret-for-the-filter-test",),
        None,
    )
    MaskingFilter().filter(record)
    assert "ami-secret-for-the-filter-test" not in record.getMessage()


def test_the_ami_secret_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert AmiSettings(secret="from-env").secret_value() == "from-env"  # type: ignore[arg-type]
    path = tmp_path / "ami.secret"
    path.write_text("from-a-file\n", encoding="utf-8")
    settings = AmiSettings(secret_file=path)
    assert settings.secret_value() == "from-a-file"
    assert "from-a-file" not in repr(settings)
    with pytest.raises(ValueError, match="empty"):
        path.write_text("\n", encoding="utf-8")
        settings.secret_value()
    with pytest.raises(ValueError, match="secret_file"):
        AmiSettings(secret_file=tmp_path / "missing").secret_value()
