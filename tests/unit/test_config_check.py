"""``ivr config check``: every problem of a settings file in one run, one line each naming the
file (or the environment variable) and the key; exit 1. Real files in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "ivr.example.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("IVR_")]:
        monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def test_a_file_with_many_problems_lists_every_one(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty-secret").write_text("\n")
    menu = tmp_path / "menu.toml"
    menu.write_text('[menu]\nstart = "nowhere"\n')
    config = tmp_path / "ivr.toml"
    config.write_text(
        f"""
[agi]
port = 99999
max_sesions = 10

[database]
url = "sqlite+aiosqlite:///{tmp_path}/missing-folder/ivr.db"

[callback]
max_concurrent = 0

[tracking]
timezone = "Mars/Olympus"

[ami]
secret_file = "{tmp_path}/empty-secret"

[menu]
file = "{menu}"

[calendar]
schedule_file = "{tmp_path}/no-such-schedule.toml"

[dispatch]
ring_timeout_s = 100
talk_budget_s = 250
"""
    )
    code, lines = run(capsys, "config", "check", "--config", str(config))
    assert code == 1
    problems = [line for line in lines if line.startswith(f"{config}: ")]
    keys = [line.split(": ")[1] for line in problems]
    assert sorted(keys) == sorted(
        [
            "agi.port",
            "agi.max_sesions",
            "callback.max_concurrent",
            "database.url",
            "ami.secret_file",
            "calendar.schedule_file",
            "tracking.timezone",
            "menu.file",
            "dispatch",
        ]
    ), lines
    text = "\n".join(problems)
    assert "missing-folder does not exist" in text
    assert "unknown key" in text and "Mars/Olympus" in text and "is empty" in text
    assert "no-such-schedule.toml: no such file" in text
    assert "must fit inside the limit" in text
    assert lines[-1] == "9 problem(s)"


def test_an_environment_override_is_named_as_the_source(tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IVR_WEB__PORT", "0")
    code, lines = run(capsys, "--config", str(EXAMPLE), "config", "check")
    assert code == 1
    assert lines[0].startswith("environment IVR_WEB__PORT: web.port: ")


def test_not_toml_or_missing_is_one_problem_for_the_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.toml"
    broken.write_text("[agi\nport = 1\n")
    code, lines = run(capsys, "config", "check", "--config", str(broken))
    assert code == 1 and lines[0].startswith(f"{broken}: -: not valid TOML")
    code, lines = run(capsys, "config", "check", "--config", str(tmp_path / "nope.toml"))
    assert code == 1 and lines[0] == f"{tmp_path / 'nope.toml'}: -: no such file"


def test_the_example_file_is_fine(capsys) -> None:  # type: ignore[no-untyped-def]
    code, lines = run(capsys, "config", "check", "--config", str(EXAMPLE))
    assert (code, lines) == (0, [f"{EXAMPLE}: OK"])


def test_a_secret_value_is_never_echoed(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "ivr.toml"
    config.write_text(
        '[ami]\nsecret = 12345\n[alerts]\nwebhook_secret = ["s3cr3t-value"]\n'
        'webhook_url = "ftp://hook.example/?token=t0ken-value"\n'
        '[database]\nurl = "::postgresql://ivr:pa55word@db/ivr"\n'
    )
    code, lines = run(capsys, "config", "check", "--config", str(config))
    text = "\n".join(lines)
    assert code == 1 and len(lines) == 5, lines  # the database URL is checked once alerts is out
    for secret in ("12345", "s3cr3t-value", "t0ken-value", "pa55word"):
        assert secret not in text
