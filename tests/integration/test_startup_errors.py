"""Start-up problems as an operator meets them: ``ivr run`` (a real process) stops with ONE line
naming the setting (the file and key, or the environment variable) and what to do, exit 2 and
no traceback; ``--traceback`` shows it. Admin commands print what the person needs, not the
migration library's lines. The messages are the product: asserted word for word."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_cli import free_port


def ivr(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    environment |= {
        "IVR_SPEECH__RECOGNITION": "false",
        "IVR_SPEECH__CACHE_DIR": str(tmp_path / "prompts"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "ivr", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return done.returncode, done.stdout, done.stderr


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ivr.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_misspelt_key_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    config = settings_file(tmp_path, "[web]\nprot = 8080\n")
    code, _, err = ivr(tmp_path, "--config", str(config), "run")
    assert code == 2
    assert err.strip() == (
        f"error: {config}: web.prot: unknown key (misspelt, or not in this version): "
        "correct or remove it"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgres://ivr:pw@db.example/ivr",
            "postgres:// is not a database the bridge opens: write "
            "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path/ivr.db",
        ),
        (
            "postgresql+psycopg2://ivr:pw@db.example/ivr",
            "postgresql+psycopg2 is not a driver the bridge uses: write "
            "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path/ivr.db",
        ),
        (
            "db.example:5432",
            "not a database URL: write "
            "postgresql+asyncpg://user:password@host/database or sqlite+aiosqlite:///path/ivr.db",
        ),
    ],
)
def test_a_bad_database_url_is_one_line_without_its_password(
    tmp_path: Path, url: str, message: str
) -> None:
    code, _, err = ivr(tmp_path, "run", IVR_DATABASE__URL=url)
    assert code == 2
    assert err.strip() == f"error: environment IVR_DATABASE__URL: database.url: {message}"
    assert "pw" not in err


def test_a_sqlite_file_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "state"
    config = settings_file(tmp_path, f'[database]\nurl = "sqlite+aiosqlite:///{missing}/ivr.db"\n')
    for command in (["run"], ["db", "upgrade"], ["token", "list"]):
        code, out, err = ivr(tmp_path, "--config", str(config), *command)
        assert code == 2, command
        assert err.strip() == (
            f"error: {config}: database.url: the SQLite file's folder {missing} does not exist: "
            f"create it (mkdir -p {missing}) or correct the path"
        )
        assert out == ""
    assert not missing.parent.exists()


@pytest.mark.parametrize("section", ["web", "agi"])
def test_a_port_in_use_names_the_setting(tmp_path: Path, taken_port: int, section: str) -> None:
    ports = {"web": free_port(), "agi": free_port(), section: taken_port}
    code, _, err = ivr(
        tmp_path,
        "run",
        IVR_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}",
        IVR_WEB__PORT=str(ports["web"]),
        IVR_AGI__PORT=str(ports["agi"]),
    )
    assert code == 2, err[-2000:]
    assert error_lines(err) == [
        f"error: environment IVR_{section.upper()}__PORT: {section}.port: 127.0.0.1:{taken_port} "
        f"is already in use by another program: stop it (ss -ltnp 'sport = :{taken_port}' shows "
        f"which) or set {section}.port to a free port"
    ]
    assert "Traceback" not in err


def test_traceback_only_when_asked_for(tmp_path: Path, taken_port: int) -> None:
    env = {
        "IVR_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'ivr.db'}",
        "IVR_WEB__PORT": str(free_port()),
        "IVR_AGI__PORT": str(taken_port),
    }
    code, _, err = ivr(tmp_path, "--traceback", "run", **env)
    assert code != 0 and "Traceback (most recent call last)" in err
    assert "StartupError" in err


def test_db_upgrade_says_where_and_which_revision_without_alembic_lines(tmp_path: Path) -> None:
    from ivr.db.migrate import head_revision

    database = tmp_path / "ivr.db"
    env = {"IVR_DATABASE__URL": f"sqlite+aiosqlite:///{database}"}
    code, out, err = ivr(tmp_path, "db", "upgrade", **env)
    assert code == 0, err
    assert out == f"database sqlite {database} at revision {head_revision()} (was empty)\n"
    assert "alembic" not in err and "INFO" not in err
    code, out, err = ivr(tmp_path, "db", "upgrade", **env)
    assert out == f"database sqlite {database} at revision {head_revision()}: already up to date\n"
    code, out, err = ivr(
        tmp_path, "token", "create", "--name", "crm", "--role", "integration", **env
    )
    assert code == 0 and len(out.strip()) >= 40 and "\n" not in out.strip()
    assert err == (
        "token for crm (role integration), valid 90 days. Shown once, stored hashed: copy it now\n"
    )


async def test_postgresql_refusing_at_start_is_one_line_and_the_bridge_serves_on(
    tmp_path: Path,
) -> None:
    """Not a start-up error (FastAGI keeps serving the menu, records spooled, the migration
    retried): one ERROR line naming database.url, where it was set and where it points, never
    the password; the web answers meanwhile."""
    import asyncio
    import signal

    from tests.integration.test_cli import health_when_up

    closed, web_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    environment |= {
        "IVR_DATABASE__URL": f"postgresql+asyncpg://ivr:pa55word@127.0.0.1:{closed}/ivr",
        "IVR_DATABASE__SPOOL_FILE": str(tmp_path / "journal.spool.jsonl"),
        "IVR_WEB__PORT": str(web_port),
        "IVR_AGI__PORT": str(free_port()),
        "IVR_SPEECH__RECOGNITION": "false",
        "IVR_SPEECH__CACHE_DIR": str(tmp_path / "prompts"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "run", env=environment, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert (await health_when_up(process, web_port))["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()
    [line] = [x for x in log.splitlines() if "DATABASE UNREACHABLE" in x]
    assert line.split(" ERROR ivr.services.schema_migration: ")[1] == (
        f"DATABASE UNREACHABLE at start: database.url (environment IVR_DATABASE__URL) "
        f"127.0.0.1:{closed}/ivr: ConnectionRefusedError: [Errno 111] Connect call failed "
        f"('127.0.0.1', {closed}). Calls are served and their records kept; the schema "
        "migration is retried in the background, and the dialer, dispatcher and time-limit "
        "watch start once it is done. Check that the database runs and that database.url is "
        "right"
    )
    assert "Traceback" not in log and "pa55word" not in log


def test_admin_commands_name_the_database_setting_when_it_cannot_be_opened(
    tmp_path: Path,
) -> None:
    """A closed port, a wrong password, a database that does not exist: one line naming
    database.url, where it was set and where it points, and what to do; exit 2, never the
    password."""
    from sqlalchemy.engine import make_url

    from tests.integration.db_fixtures import POSTGRES_URL_ENV, _in_ci

    server = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not server:  # as the PostgreSQL fixtures: a failure under CI
        message = f"{POSTGRES_URL_ENV} is not set (see scripts/test-postgres)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    real = make_url(server)
    closed = free_port()
    where = f"{real.host}:{real.port or 5432}"
    cases = [
        (
            ["db", "upgrade"],
            f"postgresql+asyncpg://ivr:pa55word@127.0.0.1:{closed}/ivr",
            f"127.0.0.1:{closed}/ivr: cannot connect (ConnectionRefusedError: [Errno 111] "
            f"Connect call failed ('127.0.0.1', {closed})): check that the database runs and "
            "listens there",
        ),
        (
            ["token", "list"],
            real.set(password="pa55word").render_as_string(hide_password=False),
            f"{where}/{real.database}: the server refused the login (password authentication "
            f'failed for user "{real.username}"): check the user and password',
        ),
        (
            ["token", "create", "--name", "crm", "--role", "integration"],
            real.set(database="no_such_db").render_as_string(hide_password=False),
            f'{where}/no_such_db: database "no_such_db" does not exist: create it (createdb) '
            "or correct the database name",
        ),
    ]
    for command, url, message in cases:
        code, out, err = ivr(tmp_path, *command, IVR_DATABASE__URL=url)
        assert code == 2, (command, err)
        assert err == f"error: environment IVR_DATABASE__URL: database.url: {message}\n"
        assert out == "" and "pa55word" not in err
