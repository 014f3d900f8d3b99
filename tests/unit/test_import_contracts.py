"""The import-linter contracts in pyproject.toml hold on this tree, and they do bite: a copy of
the tree with one deliberately wrong import fails ``lint-imports`` on exactly that contract."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
TREE = ("ivr", "ivr_sandbox", "tests", "bench", "pyproject.toml")
# the contracts' names in pyproject.toml
LAYERS = "Layers: app/cli > web|asterisk > flows|services > ports > domain"
ADAPTERS = "Only app/cli wire the adapters (db, speech, files)"
DOMAIN = "The domain is pure (the domain and the stdlib only)"
RUNTIME = "ivr never imports ivr_sandbox, tests or bench"
TABLES = "Table modules import db.base, not one another"


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` in ``where``: the packages found there come first on the path."""
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_real_tree_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contracts", "offence"),
    [
        (
            "ivr/domain/calls.py",
            "import ivr.db.engine",
            {DOMAIN, ADAPTERS},
            "ivr.domain.calls -> ivr.db.engine",
        ),
        (
            "ivr/domain/phone.py",
            "import sqlalchemy",
            {DOMAIN},
            "ivr.domain.phone -> sqlalchemy",
        ),
        (
            "ivr/web/work_orders_api.py",
            "import ivr.db.workorders",
            {ADAPTERS},
            "ivr.web.work_orders_api -> ivr.db.workorders",
        ),
        (
            "ivr/flows/inbound.py",
            "import ivr.services.call_journal",
            {LAYERS},
            "ivr.flows.inbound -> ivr.services.call_journal",
        ),
        (
            "ivr/services/dialer.py",
            "import ivr.asterisk.ami",
            {LAYERS},
            "ivr.services.dialer -> ivr.asterisk.ami",
        ),
        (
            "ivr/app.py",
            "import ivr_sandbox.simulation",
            {RUNTIME},
            "ivr.app -> ivr_sandbox.simulation",
        ),
        (
            "ivr/db/models.py",
            "import ivr.db.alert_models",
            {TABLES},
            "ivr.db.models -> ivr.db.alert_models",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, wrong_import: str, contracts: set[str], offence: str
) -> None:
    for part in TREE:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tmp_path / part)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # deliberately wrong\n")

    done = lint_imports(tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    broken = set(re.findall(r"^(.+) BROKEN(?: \(\d+ ignored imports?\))?$", done.stdout, re.M))
    assert broken == contracts, done.stdout
    assert offence in done.stdout
