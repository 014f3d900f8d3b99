"""The usage examples in docstrings are run: an example that no longer holds is a failure."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ivr

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(ivr.__path__, "ivr.")
    # Alembic's scripts run only inside Alembic; __main__ runs the command line when imported
    if not m.name.startswith("ivr.db.migrations") and m.name != "ivr.__main__"
)


def test_modules_with_examples_are_found() -> None:
    assert "ivr.domain.servers" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
