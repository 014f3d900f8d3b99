"""deploy/ivr95598.service, checked by systemd's own tools: ``systemd-analyze verify`` (it exits
0 even for a directive it cannot parse, so its warnings must be empty too) and
``systemd-analyze security --offline`` (the exposure score of the hardening)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "ivr95598.service"
INSTALLED_IVR = "/opt/ivr95598/.venv/bin/ivr"
EXPOSURE_AT_MOST = 20  # tenths: "2.0 OK" (an unhardened unit scores 9.6 UNSAFE)


@pytest.fixture
def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (apt-get install systemd)", pytrace=False)
        pytest.skip("systemd-analyze is missing (apt-get install systemd)")
    return found


def local_copy(tmp_path: Path, text: str) -> Path:
    """The unit with this checkout's ``ivr`` in place of the installed one (verify checks that
    the command exists)."""
    here = Path(sys.executable).parent / "ivr"
    path = tmp_path / "ivr95598.service"
    path.write_text(text.replace(INSTALLED_IVR, str(here)))
    return path


def verify(analyze: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )


def test_the_unit_verifies_without_a_warning(analyze: str, tmp_path: Path) -> None:
    result = verify(analyze, local_copy(tmp_path, UNIT.read_text()))
    assert (result.returncode, result.stderr.strip(), result.stdout.strip()) == (0, "", "")


def test_verify_would_catch_a_bad_directive(analyze: str, tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=very-strict")
    result = verify(analyze, local_copy(tmp_path, broken))
    assert "Failed to parse protect system value" in result.stderr


def test_the_hardening_scores_ok_and_a_plain_unit_does_not(analyze: str, tmp_path: Path) -> None:
    def exposure_ok(unit: Path) -> bool:
        result = subprocess.run(
            [analyze, "security", "--offline=true", f"--threshold={EXPOSURE_AT_MOST}", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.returncode == 0

    assert exposure_ok(local_copy(tmp_path, UNIT.read_text()))
    plain = tmp_path / "plain" / "ivr95598.service"
    plain.parent.mkdir()
    plain.write_text(f"[Service]\nExecStart={Path(sys.executable).parent / 'ivr'} run\n")
    assert not exposure_ok(plain)


def test_the_unit_says_what_the_operator_relies_on() -> None:
    lines = {line.strip() for line in UNIT.read_text().splitlines()}
    for needed in (
        "User=ivr95598",
        "After=network-online.target asterisk.service postgresql.service",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/ivr95598 /var/cache/ivr95598",
        "EnvironmentFile=-/etc/ivr95598/secrets.env",
        "LimitNOFILE=65536",
        f"ExecStartPre={INSTALLED_IVR} config check",
    ):
        assert needed in lines, needed
